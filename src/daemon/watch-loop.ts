/**
 * watch-loop: `weft run` step 7, following the peer leases for as long as the daemon runs. A
 * watch that ends or fails is resumed from a fresh listing with backoff (100 ms .. 5 s); while the
 * store cannot be listed the last known leases stay routed. Our own key gone (or taken by another
 * public IP) is the end: `onLost`, as flanneld's "Lease has been revoked".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Lease, LeaseAttrs, LeaseStore, watchPeers } from '../control';
import type { DaemonCounters } from '../metrics/metrics';
import type { Logger } from './log';

/** WatchLeasesOptions are the watch's store, position and callbacks. */
export interface WatchLeasesOptions {
  store: LeaseStore;
  own: Lease;
  attrs: LeaseAttrs;
  /** Where the first listing ended, and the peer leases it held. */
  cursor: string;
  initial: Lease[];
  signal: AbortSignal;
  log: Logger;
  counters: DaemonCounters;
  /** The leases applied last: kept routed while the store cannot be listed. */
  known: () => Iterable<Lease>;
  /** Every change: the watcher's live map of peer leases (own excluded). */
  onChange: (peers: ReadonlyMap<string, Lease>) => void;
  onLost: (reason: string) => void;
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** watchLeases runs until `signal` aborts or our lease is lost; see the module comment. */
export async function watchLeases(o: WatchLeasesOptions): Promise<void> {
  const { own, signal, log } = o;
  let { cursor, initial } = o;
  let lost = false;
  let delay = 100;
  while (!signal.aborted && !lost) {
    try {
      await watchPeers({
        store: o.store,
        ownKey: own.key,
        ownAttrs: o.attrs,
        cursor,
        initial,
        signal,
        onChange: (_ev, peers) => {
          delay = 100;
          o.onChange(peers);
        },
        onLost: (reason) => {
          lost = true;
          o.onLost(reason);
        },
      });
      if (signal.aborted || lost) return;
      log.warn('lease watch ended; resyncing');
    } catch (e) {
      if (signal.aborted) return;
      log.warn('lease watch failed; resyncing from a fresh listing', { error: errMsg(e), retryInMs: delay });
    }
    o.counters.watchRestarts++;
    await sleep(delay, undefined, { signal }).catch(() => undefined);
    delay = Math.min(delay * 2, 5000);
    try {
      const listing = await o.store.listLeases();
      cursor = listing.cursor;
      if (!listing.leases.some((l) => l.key === own.key)) {
        o.onLost(`our lease ${own.key} is no longer in the store`);
        return;
      }
      initial = listing.leases.filter((l) => l.key !== own.key);
    } catch (e) {
      // Keep the old peers (and routes); try again after the next backoff.
      log.warn('could not list leases; keeping the last known routes', { error: errMsg(e) });
      cursor = '';
      initial = [...o.known()];
    }
  }
}
