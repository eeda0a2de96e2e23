/**
 * Router: the data plane's handle on routing. Holds the current immutable RouteTable and an
 * lru-cache of recent IPv4 destinations in front of it.
 *
 * Design notes
 *
 * Swap semantics: `swap(table)` replaces the table reference and clears the cache in one synchronous
 * call. JavaScript runs the packet loop and the control loop on one thread, so a batch is processed
 * entirely against one table: either the old one or the new one, never a mix.
 *
 * Invalidation: every cache entry is written by `lookupV4` from `this.#table` in the same
 * synchronous call that read it, and `swap` empties the cache in the same call that changes
 * `this.#table`. So every entry present in the cache was computed from the current table, and a
 * removed or changed peer (Peers are immutable; a change is a new Peer in a new table) can never be
 * served from cache. Misses are cached too (as NO_ROUTE), and are flushed by the same swap, so a
 * route added later is seen on the first lookup after the swap.
 *
 * `update(table)` is the incremental form: it evicts only the entries the new table answers
 * differently, which keeps the same invariant. `table` may be the current table itself, changed in
 * place by `RouteTable.applyChanges` (a forwarding thread's): the cached answers are compared with
 * what it answers now.
 *
 * Keys are `dst | 0`: int32 values are small integers in V8, so the cache never boxes an address
 * >= 128.0.0.0 into a heap number (which would allocate per packet).
 *
 * The cache is for the common case of few hot destinations; the table itself is O(1) for IPv4 (see
 * route-table.ts), so the cache's benefit is bounded. IPv6 bypasses the cache: a 16-byte key would
 * need a string or an object per lookup, which the hot path may not allocate.
 */

import { LRUCache } from 'lru-cache';
import { RouteTable } from './route-table';
import type { Peer } from './peer';

/**
 * NO_ROUTE is the cached value of a destination with no route. lru-cache cannot store null or
 * undefined (its `get` returns undefined for "not cached"), so a cached miss needs a sentinel.
 */
const NO_ROUTE: { readonly noRoute: true } = Object.freeze({ noRoute: true });

/** CachedRoute is what the cache stores: a peer, or NO_ROUTE for a cached miss. */
type CachedRoute = Peer | typeof NO_ROUTE;

/**
 * GET_OPTIONS and SET_OPTIONS are passed to every cache call. lru-cache's `get(k, opts = {})` and
 * `set(k, v, opts = {})` otherwise create an options object per call (and write `status` into it,
 * which defeats escape analysis): measured 3+ bytes allocated per packet on the hit path. The
 * objects are shared and only ever get `status: undefined` written back into them.
 */
const GET_OPTIONS: LRUCache.GetOptions<number, CachedRoute, unknown> = { status: undefined };
const SET_OPTIONS: LRUCache.SetOptions<number, CachedRoute, unknown> = { status: undefined };

/** DEFAULT_ROUTE_CACHE_SIZE is the default number of IPv4 destinations the Router caches. */
export const DEFAULT_ROUTE_CACHE_SIZE = 4096;

/** RouterOptions configures a Router. */
export interface RouterOptions {
  /** Maximum number of cached IPv4 destinations (>= 1); default DEFAULT_ROUTE_CACHE_SIZE. */
  cacheSize?: number;
}

/** Router holds the current RouteTable and an LRU cache of IPv4 lookups; see design notes above. */
export class Router {
  /** hits counts IPv4 lookups answered from the cache (including cached misses). */
  hits = 0;
  /** misses counts IPv4 lookups that went to the table. */
  misses = 0;
  /** swaps counts calls to `swap`. */
  swaps = 0;

  #table: RouteTable;
  readonly #cache: LRUCache<number, CachedRoute>;

  /** Router starts with `table` (default: an empty table, every lookup misses). */
  constructor(table: RouteTable = RouteTable.empty(), opts: RouterOptions = {}) {
    const max = opts.cacheSize ?? DEFAULT_ROUTE_CACHE_SIZE;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Router cacheSize must be an integer >= 1 (got ${String(max)})`);
    }
    this.#table = table;
    this.#cache = new LRUCache<number, CachedRoute>({ max });
  }

  /** table is the current route table. */
  get table(): RouteTable {
    return this.#table;
  }

  /** cacheSize is the number of destinations currently cached. */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /**
   * lookupV4 returns the peer for IPv4 destination `dst` (host-order u32 or int32), or undefined when
   * no route matches. Consults the cache first; a table result, hit or miss, is cached. Allocation-free
   * once the cache is warm for `dst`.
   */
  lookupV4(dst: number): Peer | undefined {
    const key = dst | 0;
    const c = this.#cache.get(key, GET_OPTIONS);
    if (c !== undefined) {
      this.hits++;
      return c === NO_ROUTE ? undefined : (c as Peer);
    }
    this.misses++;
    const p = this.#table.lookupV4(key);
    this.#cache.set(key, p === undefined ? NO_ROUTE : p, SET_OPTIONS);
    return p;
  }

  /**
   * countCachedLookups counts `n` more IPv4 lookups of the destination `lookupV4` just answered,
   * made without calling it: each would have been a cache hit (the answer is cached now) and
   * would have left the cache as it is.
   */
  countCachedLookups(n: number): void {
    this.hits += n;
  }

  /** lookupV6 returns the peer for the IPv6 destination at `buf[off..off+16)`; bypasses the cache. */
  lookupV6(buf: Uint8Array, off: number): Peer | undefined {
    return this.#table.lookupV6(buf, off);
  }

  /** findPeerBySource returns a peer of the current table whose public IPv4 is `src` (u32 or int32). */
  findPeerBySource(src: number): Peer | undefined {
    return this.#table.findPeerBySource(src);
  }

  /**
   * swap atomically replaces the table and empties the cache, so no lookup after it returns can see
   * a route or peer from the old table. Call it between packet batches (any synchronous point is).
   * Returns the previous table.
   */
  swap(table: RouteTable): RouteTable {
    const old = this.#table;
    this.#table = table;
    this.#cache.clear();
    this.swaps++;
    return old;
  }

  /**
   * update replaces the table like `swap`, but evicts only the cached destinations whose answer
   * differs in the new table (a table from `withChanges` answers most of them the same), so a lease
   * change does not send every hot destination back to the table. Same guarantee as `swap`: after it
   * returns, every cached entry is what the new table answers. O(cached entries); control path.
   * Returns the previous table.
   */
  update(table: RouteTable): RouteTable {
    const old = this.#table;
    this.#table = table;
    const stale: number[] = [];
    this.#cache.forEach((v, k) => {
      if ((table.lookupV4(k) ?? NO_ROUTE) !== v) stale.push(k);
    });
    for (const k of stale) this.#cache.delete(k);
    this.swaps++;
    return old;
  }
}
