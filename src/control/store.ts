/**
 * store: the LeaseStore interface both lease stores implement (embedded directory, etcd v3).
 *
 * Shaped after flannel's subnet Registry plus `LeaseWatchResult` (`pkg/lease/lease.go`): a watch
 * delivers either incremental events or, when its cursor fell out of range (etcd compaction, an
 * embedded-store cursor it no longer knows), a full snapshot with a new cursor. Consumers treat a
 * snapshot as "replace everything" and diff it themselves (see lease-watcher.ts).
 */

import { LeaseError } from '../errors';
import { Ipv4Net, Ipv6Net } from '../net/addr';
import { Lease, LeaseAttrs } from './lease';

/** DEFAULT_ETCD_PREFIX is flannel's `--etcd-prefix` default; the embedded store uses it too. */
export const DEFAULT_ETCD_PREFIX = '/coreos.com/network';
/** SUBNET_TTL_SECONDS is flannel's lease lifetime (`subnetTTL = 24h`). */
export const SUBNET_TTL_SECONDS = 86400;

/**
 * MAX_LEASE_VALUE_BYTES is the largest lease value the stores accept (flannel's are ~150 bytes);
 * a larger one is skipped with a `lease_value_too_large` warning instead of being parsed.
 */
export const MAX_LEASE_VALUE_BYTES = 64 * 1024;

/** LeaseEvent is one change to the set of leases. */
export interface LeaseEvent {
  readonly type: 'added' | 'removed';
  readonly lease: Lease;
}

/** LeaseWatchResult is one watch delivery: events, or (events empty) a full snapshot. */
export interface LeaseWatchResult {
  readonly events: readonly LeaseEvent[];
  /** Set when the cursor was out of range: the complete current set of leases. */
  readonly snapshot?: readonly Lease[];
  /** Resume point for the next watch call. */
  readonly cursor: string;
}

/** LeaseListing is a consistent snapshot of all leases and the cursor to watch from. */
export interface LeaseListing {
  readonly leases: readonly Lease[];
  readonly cursor: string;
}

/** SubnetRef names the subnet(s) of a lease; the store key is derived from it. */
export interface SubnetRef {
  readonly subnet: Ipv4Net | null;
  readonly ipv6Subnet?: Ipv6Net | null;
}

/** SubnetTakenError is createLease losing a race: the key already exists (and is not expired). */
export class SubnetTakenError extends LeaseError {
  /** The store key that was taken. */
  readonly key: string;
  constructor(key: string) {
    super(`subnet already exists: ${key}`);
    this.key = key;
  }
}

/** LeaseStore is where leases and the network config live. All methods may throw StoreError. */
export interface LeaseStore {
  /** Which implementation this is, for logs and metrics. */
  readonly kind: 'embedded' | 'etcd' | 'kube';
  /** getConfig returns the raw network config JSON at `<prefix>/config`, or null when absent. */
  getConfig(): Promise<string | null>;
  /** setConfig writes `<prefix>/config` (for tools, tests and the demo; flanneld never writes it). */
  setConfig(json: string): Promise<void>;
  /** listLeases returns every live lease and the cursor to watch from. Unparsable keys are skipped. */
  listLeases(): Promise<LeaseListing>;
  /**
   * createLease atomically creates the lease if the key does not exist, expiring after `ttlSeconds`.
   * Throws SubnetTakenError when it exists.
   */
  createLease(ref: SubnetRef, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease>;
  /**
   * updateLease writes the lease unconditionally with a fresh expiry (flannel's updateSubnet: used to
   * renew and to reuse a lease found with our public IP).
   */
  updateLease(ref: SubnetRef, attrs: LeaseAttrs, ttlSeconds: number): Promise<Lease>;
  /** deleteLease removes the lease (no error if absent). */
  deleteLease(ref: SubnetRef): Promise<void>;
  /**
   * watchLeases yields changes after `cursor` until `signal` aborts or the store closes. It
   * reconnects by itself; results are never lost, at worst replaced by a snapshot.
   */
  watchLeases(cursor: string, signal?: AbortSignal): AsyncIterable<LeaseWatchResult>;
  /** close releases connections, timers and file watchers; watches end. */
  close(): Promise<void>;
}
