/**
 * counting-store: a LeaseStore wrapper that counts failed calls per operation for
 * `weft_store_errors_total`, without changing behaviour (errors are rethrown as they are).
 */
import type { Lease, LeaseAttrs } from '../control/lease';
import type { LeaseListing, LeaseStore, LeaseWatchResult, SubnetRef } from '../control/store';
import { SubnetTakenError } from '../control/store';

/** CountingStore forwards to `inner` and counts rejections into `errors` (by method name). */
export class CountingStore implements LeaseStore {
  constructor(
    readonly inner: LeaseStore,
    private readonly errors: Map<string, number>,
  ) {}

  get kind(): 'embedded' | 'etcd' | 'kube' {
    return this.inner.kind;
  }

  /** count records one failure of `op`. */
  count(op: string): void {
    this.errors.set(op, (this.errors.get(op) ?? 0) + 1);
  }

  private async wrap<T>(op: string, p: () => Promise<T>): Promise<T> {
    try {
      return await p();
    } catch (e) {
      // Losing a create race is the protocol working, not the store failing.
      if (!(e instanceof SubnetTakenError)) this.count(op);
      throw e;
    }
  }

  getConfig(): Promise<string | null> {
    return this.wrap('getConfig', () => this.inner.getConfig());
  }
  setConfig(json: string): Promise<void> {
    return this.wrap('setConfig', () => this.inner.setConfig(json));
  }
  listLeases(): Promise<LeaseListing> {
    return this.wrap('listLeases', () => this.inner.listLeases());
  }
  createLease(ref: SubnetRef, attrs: LeaseAttrs, ttl: number): Promise<Lease> {
    return this.wrap('createLease', () => this.inner.createLease(ref, attrs, ttl));
  }
  updateLease(ref: SubnetRef, attrs: LeaseAttrs, ttl: number): Promise<Lease> {
    return this.wrap('updateLease', () => this.inner.updateLease(ref, attrs, ttl));
  }
  deleteLease(ref: SubnetRef): Promise<void> {
    return this.wrap('deleteLease', () => this.inner.deleteLease(ref));
  }
  async *watchLeases(cursor: string, signal?: AbortSignal): AsyncIterable<LeaseWatchResult> {
    try {
      yield* this.inner.watchLeases(cursor, signal);
    } catch (e) {
      this.count('watchLeases');
      throw e;
    }
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
