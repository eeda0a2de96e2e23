/**
 * lease-watcher: the peer set as the dataplane needs it, kept in step with the store
 * (flannel `pkg/subnet/subnet.go` LeaseWatcher, `pkg/subnet/watch.go`).
 *
 * - Our own lease is filtered out of peer events, as flannel does.
 * - A snapshot (first delivery, compaction, unknown cursor) is diffed against the cached set into
 *   added/removed events, so consumers only ever see events.
 * - A removal carries the cached lease, so the consumer knows what to tear down.
 * - Our own key disappearing, or being rewritten with another node's public IP, is reported once
 *   through `onLost` (flannel logs "Lease has been revoked. Shutting down daemon." and exits 0).
 */

import { Lease, LeaseAttrs } from './lease';
import { LeaseEvent, LeaseStore } from './store';

/** WatchPeersOptions configures watchPeers. */
export interface WatchPeersOptions {
  readonly store: LeaseStore;
  /** Store key of our own lease (e.g. `10.244.1.0-24`); null to watch without an own lease. */
  readonly ownKey: string | null;
  /** Our published attributes, to tell our own renewals from a takeover. */
  readonly ownAttrs?: LeaseAttrs;
  /** Cursor from a listLeases() whose leases were passed as `initial`; omit to start with a snapshot. */
  readonly cursor?: string;
  readonly initial?: readonly Lease[];
  readonly signal?: AbortSignal;
  /** Peer changes, in order; `peers` is the complete current set after applying them. */
  readonly onChange: (events: readonly LeaseEvent[], peers: ReadonlyMap<string, Lease>) => void;
  /** Our own lease is gone; called at most once, after which watching stops. */
  readonly onLost?: (reason: string) => void;
  /** Our own lease was rewritten (renewal seen through the store). */
  readonly onOwnUpdate?: (l: Lease) => void;
}

/** sameAttrs compares the fields that make a peer reachable (not the expiry). */
function sameLease(a: Lease, b: Lease): boolean {
  return (
    a.attrs.publicIp === b.attrs.publicIp &&
    a.attrs.publicIpv6 === b.attrs.publicIpv6 &&
    a.attrs.backendType === b.attrs.backendType &&
    JSON.stringify(a.attrs.backendData) === JSON.stringify(b.attrs.backendData) &&
    JSON.stringify(a.attrs.backendV6Data) === JSON.stringify(b.attrs.backendV6Data)
  );
}

/**
 * watchPeers runs until `signal` aborts or the own lease is lost; resolves then. Store errors are
 * retried inside the stores; an error escaping the store's iterator rejects the promise.
 */
export async function watchPeers(o: WatchPeersOptions): Promise<void> {
  const peers = new Map<string, Lease>();
  let ownSeen = o.ownKey !== null && (o.initial ?? []).some((l) => l.key === o.ownKey);
  for (const l of o.initial ?? []) if (l.key !== o.ownKey) peers.set(l.key, l);
  if (o.initial && o.initial.length > 0) {
    const first = [...peers.values()].map((lease): LeaseEvent => ({ type: 'added', lease }));
    if (first.length > 0) o.onChange(first, peers);
  }
  const local = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, local.signal]) : local.signal;
  const lost = (why: string): void => {
    if (local.signal.aborted) return;
    local.abort();
    o.onLost?.(why);
  };
  const own = (l: Lease): void => {
    ownSeen = true;
    if (o.ownAttrs && l.attrs.publicIp !== o.ownAttrs.publicIp) {
      lost(`our lease ${l.key} was taken over by ${l.attrs.publicIp}`);
    } else o.onOwnUpdate?.(l);
  };

  for await (const res of o.store.watchLeases(o.cursor ?? '', signal)) {
    if (signal.aborted) break;
    const events: LeaseEvent[] = [];
    if (res.snapshot) {
      const next = new Map<string, Lease>();
      let ownPresent = false;
      for (const l of res.snapshot) {
        if (l.key === o.ownKey) {
          ownPresent = true;
          own(l);
        } else next.set(l.key, l);
      }
      for (const [k, l] of peers) if (!next.has(k)) events.push({ type: 'removed', lease: l });
      for (const [k, l] of next) {
        const old = peers.get(k);
        if (!old || !sameLease(old, l)) events.push({ type: 'added', lease: l });
      }
      peers.clear();
      for (const [k, l] of next) peers.set(k, l);
      if (events.length > 0) o.onChange(events, peers);
      if (o.ownKey !== null && !ownPresent && ownSeen)
        lost(`our lease ${o.ownKey} is no longer in the store`);
      continue;
    }
    for (const ev of res.events) {
      if (ev.lease.key === o.ownKey) {
        if (ev.type === 'removed') lost(`our lease ${o.ownKey} has been revoked`);
        else own(ev.lease);
        continue;
      }
      if (ev.type === 'added') {
        peers.set(ev.lease.key, ev.lease);
        events.push(ev);
      } else {
        const cached = peers.get(ev.lease.key);
        if (!cached) continue; // a removal of something we never had: nothing to undo
        peers.delete(ev.lease.key);
        events.push({ type: 'removed', lease: cached });
      }
    }
    if (events.length > 0) o.onChange(events, peers);
    if (local.signal.aborted) break;
  }
}
