/**
 * etcd-store: the LeaseStore on etcd v3, with flannel's exact schema and semantics
 * (flannel `pkg/subnet/etcd/registry.go`, `local_manager.go`):
 * - `<prefix>/config` is read with a plain Get;
 * - a lease is `<prefix>/subnets/<key>` attached to an etcd lease of `ttl` seconds (86,400);
 *   it is created by a transaction `If Version(key) == 0 Then Put(key, value, lease)` and the etcd
 *   lease is revoked when the transaction fails;
 * - renewal is a new Grant plus a plain Put (not KeepAlive; the old etcd lease just expires empty);
 * - listing is a prefix Get whose header revision R is the cursor; each key's expiry comes from
 *   LeaseTimeToLive; keys without an etcd lease (v2-style "reservations") are skipped as flannel
 *   v3 does; a watch starts at R+1;
 * - a compacted or cancelled watch re-lists and yields a snapshot; a broken connection is retried
 *   with exponential backoff from 100 ms to 5 s, and the watch resumes at the last revision seen.
 */

import fs from 'node:fs';
import { Etcd3, IOptions, Watcher, isRecoverableError, IKeyValue, IWatchResponse } from 'etcd3';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen } from 'cockatiel';
import { StoreError, WeftError } from '../errors';
import {
  Lease,
  LeaseAttrs,
  decodeLeaseAttrs,
  encodeLeaseAttrs,
  leaseFromKeyValue,
  makeSubnetKey,
  parseSubnetKey,
} from './lease';
import {
  DEFAULT_ETCD_PREFIX,
  LeaseEvent,
  MAX_LEASE_VALUE_BYTES,
  LeaseListing,
  LeaseStore,
  LeaseWatchResult,
  SubnetRef,
  SubnetTakenError,
} from './store';

/** EtcdStoreOptions configures an EtcdStore; names mirror flanneld's `--etcd-*` flags. */
export interface EtcdStoreOptions {
  readonly endpoints: readonly string[];
  readonly prefix?: string;
  readonly keyFile?: string;
  readonly certFile?: string;
  readonly caFile?: string;
  readonly username?: string;
  readonly password?: string;
  /** Per-call deadline, default 5000 ms. */
  readonly callTimeoutMs?: number;
  readonly warn?: (msg: string) => void;
}

/** Backoff bounds for watch reconnects and re-lists, as flannel's watchSubnets. */
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** EtcdStore keeps leases in etcd v3 exactly where and how flanneld does. */
export class EtcdStore implements LeaseStore {
  readonly kind = 'etcd' as const;
  /** The underlying etcd3 client (exposed for tests and tools). */
  readonly client: Etcd3;
  private readonly prefix: string;
  private readonly subnetsKey: Buffer;
  private readonly callTimeoutMs: number;
  private readonly warn: (msg: string) => void;
  private readonly closer = new AbortController();

  constructor(opts: EtcdStoreOptions) {
    this.prefix = (opts.prefix ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '');
    this.subnetsKey = Buffer.from(`${this.prefix}/subnets/`);
    this.callTimeoutMs = opts.callTimeoutMs ?? 5000;
    this.warn = opts.warn ?? (() => {});
    const options: IOptions = {
      hosts: [...opts.endpoints],
      dialTimeout: this.callTimeoutMs,
      faultHandling: {
        // A short half-open time so calls resume soon after etcd comes back (etcd3's default is 5 s).
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: 1000,
            breaker: new ConsecutiveBreaker(3),
          }),
        watchBackoff: new ExponentialBackoff({
          initialDelay: BACKOFF_MIN_MS,
          maxDelay: BACKOFF_MAX_MS,
        }) as unknown as NonNullable<IOptions['faultHandling']>['watchBackoff'],
      },
    };
    const read = (what: string, file: string | undefined): Buffer | undefined => {
      if (!file) return undefined;
      try {
        return fs.readFileSync(file);
      } catch (e) {
        throw new StoreError(`cannot read ${what} ${file}: ${describe(e)}`, { cause: e });
      }
    };
    const ca = read('--etcd-cafile', opts.caFile);
    const key = read('--etcd-keyfile', opts.keyFile);
    const cert = read('--etcd-certfile', opts.certFile);
    if (ca || (key && cert)) {
      // A null root certificate makes grpc use the system roots.
      options.credentials = {
        rootCertificate: ca ?? (null as unknown as Buffer),
        privateKey: key,
        certChain: cert,
      };
    }
    if (opts.username) options.auth = { username: opts.username, password: opts.password ?? '' };
    this.client = new Etcd3(options);
  }

  private callOptions(): { deadline: Date } {
    return { deadline: new Date(Date.now() + this.callTimeoutMs) };
  }

  private key(ref: SubnetRef): { name: string; key: Buffer } {
    const name = makeSubnetKey(ref.subnet, ref.ipv6Subnet ?? null);
    return { name, key: Buffer.from(`${this.prefix}/subnets/${name}`) };
  }

  private async wrap<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof WeftError) throw e;
      throw new StoreError(`etcd ${what} failed: ${describe(e)}`, { cause: e });
    }
  }

  async getConfig(): Promise<string | null> {
    return this.wrap('get config', async () => {
      const res = await this.client.kv.range(
        { key: Buffer.from(`${this.prefix}/config`) },
        this.callOptions(),
      );
      return res.kvs.length > 0 ? res.kvs[0]!.value.toString('utf8') : null;
    });
  }

  async setConfig(json: string): Promise<void> {
    await this.wrap('put config', () =>
      this.client.kv.put(
        { key: Buffer.from(`${this.prefix}/config`), value: Buffer.from(json) },
        this.callOptions(),
      ),
    );
  }

  /** Expiry of an etcd lease from LeaseTimeToLive; null when it cannot be read (key then skipped). */
  private async expiryOf(leaseId: string): Promise<Date | null> {
    if (leaseId === '0') return null;
    try {
      const res = await this.client.leaseClient.leaseTimeToLive({ ID: leaseId }, this.callOptions());
      const ttl = Number(res.TTL);
      return ttl < 0 ? null : new Date(Date.now() + ttl * 1000);
    } catch (e) {
      this.warn(`etcd: could not read ttl of lease ${leaseId}: ${describe(e)}`);
      return null;
    }
  }

  private async toLease(kv: IKeyValue): Promise<Lease | null> {
    const name = kv.key.toString('utf8');
    if (parseSubnetKey(name) === null) {
      this.warn(`etcd: skipping ${name}: not a subnet key`);
      return null;
    }
    if (kv.value.length > MAX_LEASE_VALUE_BYTES) {
      this.warn(
        `etcd: skipping ${name}: lease value of ${kv.value.length} bytes exceeds the limit of ${MAX_LEASE_VALUE_BYTES} bytes (lease_value_too_large)`,
      );
      return null;
    }
    const exp = await this.expiryOf(kv.lease);
    if (exp === null) return null;
    try {
      return leaseFromKeyValue(name, kv.value, exp);
    } catch (e) {
      this.warn(`etcd: skipping ${name}: ${describe(e)}`);
      return null;
    }
  }

  async listLeases(): Promise<LeaseListing> {
    return this.wrap('list subnets', async () => {
      const res = await this.client.kv.range(
        { key: this.subnetsKey, range_end: prefixEnd(this.subnetsKey) },
        this.callOptions(),
      );
      const leases = (await Promise.all(res.kvs.map((kv) => this.toLease(kv)))).filter(
        (l): l is Lease => l !== null,
      );
      return { leases, cursor: res.header.revision };
    });
  }

  private async grant(ttlSeconds: number): Promise<string> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }, this.callOptions());
    return res.ID;
  }

  async createLease(ref: SubnetRef, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease> {
    const { name, key } = this.key(ref);
    const value = encodeLeaseAttrs(attrs);
    return this.wrap('create lease', async () => {
      const id = await this.grant(ttlSeconds);
      const res = await this.client.kv.txn(
        {
          compare: [{ key, target: 'Version', result: 'Equal', version: 0 }],
          success: [{ request_put: { key, value: Buffer.from(value), lease: id } }],
          failure: [],
        },
        this.callOptions(),
      );
      if (!res.succeeded) {
        await this.client.leaseClient.leaseRevoke({ ID: id }, this.callOptions()).catch(() => {});
        throw new SubnetTakenError(name);
      }
      return leaseFromKeyValue(name, value, new Date(Date.now() + ttlSeconds * 1000));
    });
  }

  async updateLease(ref: SubnetRef, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease> {
    const { name, key } = this.key(ref);
    const value = encodeLeaseAttrs(attrs);
    return this.wrap('update lease', async () => {
      const id = await this.grant(ttlSeconds);
      await this.client.kv.put({ key, value: Buffer.from(value), lease: id }, this.callOptions());
      return leaseFromKeyValue(name, value, new Date(Date.now() + ttlSeconds * 1000));
    });
  }

  async deleteLease(ref: SubnetRef): Promise<void> {
    const { key } = this.key(ref);
    await this.wrap('delete lease', () => this.client.kv.deleteRange({ key }, this.callOptions()));
  }

  async *watchLeases(cursor: string, signal?: AbortSignal): AsyncIterable<LeaseWatchResult> {
    const stop = signal ? AbortSignal.any([signal, this.closer.signal]) : this.closer.signal;
    type Item = { kind: 'data'; res: IWatchResponse } | { kind: 'resync'; why: string } | { kind: 'stop' };
    const queue: Item[] = [];
    let wake: (() => void) | null = null;
    const push = (it: Item): void => {
      queue.push(it);
      if (wake) wake();
    };
    // Cancel the etcd watch on abort even if the consumer stopped pulling (a suspended generator
    // never reaches its finally block).
    const onAbort = (): void => {
      push({ kind: 'stop' });
      void stopWatch();
    };
    const known = new Map<string, Lease>(); // last value per key, to describe deletes
    let watcher: Watcher | null = null;
    let rev = BigInt(/^\d+$/.test(cursor) ? cursor : '0');
    let backoff = BACKOFF_MIN_MS;

    const startWatch = (fromRev: bigint): void => {
      // watcher() attaches at once (create() would wait for etcd, possibly forever while it is down).
      const w = this.client
        .watch()
        .prefix(this.subnetsKey)
        .withPreviousKV()
        .startRevision(String(fromRev))
        .watcher();
      w.on('data', (res: IWatchResponse) => push({ kind: 'data', res }));
      w.on('error', (err: Error) => push({ kind: 'resync', why: describe(err) }));
      watcher = w;
    };
    const stopWatch = async (): Promise<void> => {
      const w = watcher;
      watcher = null;
      if (!w) return;
      w.removeAllListeners('data');
      w.removeAllListeners('error');
      w.on('error', () => {});
      // A watch etcd already cancelled (compaction) never acknowledges a cancel: don't wait forever.
      await Promise.race([w.cancel().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
    };

    stop.addEventListener('abort', onAbort);
    try {
      if (rev === 0n) push({ kind: 'resync', why: 'no cursor' });
      else {
        startWatch(rev + 1n);
      }
      while (!stop.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
          continue;
        }
        const it = queue.shift()!;
        if (it.kind === 'stop') break;
        if (it.kind === 'resync') {
          // Drop everything queued from the old watch: the snapshot supersedes it.
          queue.length = 0;
          await stopWatch();
          if (it.why !== 'no cursor') this.warn(`etcd: watch ended (${it.why}); re-listing subnets`);
          let listing: LeaseListing;
          try {
            listing = await this.listLeases();
          } catch (e) {
            this.warn(`etcd: re-list failed: ${describe(e)}; retrying in ${backoff} ms`);
            await new Promise((r) => setTimeout(r, backoff));
            backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
            push({ kind: 'resync', why: 'retry' });
            continue;
          }
          backoff = BACKOFF_MIN_MS;
          rev = BigInt(listing.cursor);
          known.clear();
          for (const l of listing.leases) known.set(l.key, l);
          startWatch(rev + 1n);
          yield { events: [], snapshot: listing.leases, cursor: listing.cursor };
          continue;
        }
        const res = it.res;
        if (res.compact_revision && res.compact_revision !== '0') {
          push({ kind: 'resync', why: `compacted at ${res.compact_revision}` });
          continue;
        }
        const events: LeaseEvent[] = [];
        for (const ev of res.events) {
          const name = ev.kv.key.toString('utf8').slice(this.subnetsKey.length);
          if (parseSubnetKey(name) === null) continue;
          if (ev.type === 'Put') {
            const lease = await this.toLease({ ...ev.kv, key: Buffer.from(name) });
            if (lease) {
              known.set(name, lease);
              events.push({ type: 'added', lease });
            }
          } else {
            const lease = known.get(name) ?? this.removedLease(name, ev.prev_kv);
            known.delete(name);
            if (lease) events.push({ type: 'removed', lease });
          }
        }
        rev = BigInt(res.header.revision);
        if (events.length > 0) yield { events, cursor: rev.toString() };
      }
    } finally {
      stop.removeEventListener('abort', onAbort);
      await stopWatch();
    }
  }

  /** A removed key we never saw: describe it from the previous value, or from the key alone. */
  private removedLease(name: string, prev: IKeyValue | undefined): Lease | null {
    const nets = parseSubnetKey(name);
    if (!nets) return null;
    let attrs: LeaseAttrs;
    try {
      attrs = prev
        ? decodeLeaseAttrs(prev.value)
        : { publicIp: '0.0.0.0', publicIpv6: null, backendType: '', backendData: null, backendV6Data: null };
    } catch {
      attrs = {
        publicIp: '0.0.0.0',
        publicIpv6: null,
        backendType: '',
        backendData: null,
        backendV6Data: null,
      };
    }
    return { key: name, subnet: nets.subnet, ipv6Subnet: nets.ipv6Subnet, attrs, expiration: null };
  }

  async close(): Promise<void> {
    this.closer.abort();
    // Give watch loops a tick to cancel their watchers before the channel goes away.
    await new Promise((r) => setImmediate(r));
    this.client.close();
  }
}
