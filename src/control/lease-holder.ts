/**
 * lease-holder: what the daemon needs from whoever holds this node's lease — the store-backed
 * LeaseManager (etcd, embedded: allocate, then renew) or the kube subnet manager's
 * KubeLeaseManager (the node's podCIDR, annotated once, never renewed).
 */

import { Lease } from './lease';

/** LeaseHolder acquires this node's lease once and keeps it for the life of the daemon. */
export interface LeaseHolder {
  /** The lease held, or null before acquire(). */
  readonly lease: Lease | null;
  /** acquire obtains the lease (retryable failures are StoreErrors). */
  acquire(): Promise<Lease>;
  /** startRenewal runs after subnet.env is written: renewal, or kube's NetworkUnavailable=False. */
  startRenewal(): void;
  /** stop ends background work; the lease itself stays. */
  stop(): void;
  /** Called after every successful renewal. */
  onRenewed: (l: Lease) => void;
  /** Called after every failed renewal. */
  onRenewError: (e: unknown) => void;
}
