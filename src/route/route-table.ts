/**
 * RouteTable: immutable longest-prefix match over the overlay subnets of peers, IPv4 and IPv6.
 *
 * Design notes
 *
 * IPv4 uses a DIR-16-8-8 multibit trie (Gupta/Lin/McKeown's DIR-24-8 with a 16-bit first stride),
 * built by controlled prefix expansion:
 *   - level 1 is an Int32Array of 65536 slots indexed by the top 16 bits of the destination;
 *   - a slot holds either a leaf (>= 0: peer index + 1, 0 = no route) or a chunk pointer
 *     (< 0: bitwise NOT of the base offset of a 256-slot chunk in level 2, indexed by bits 15..8);
 *   - level 2 chunks point the same way to 256-slot chunks in level 3 (bits 7..0).
 * A lookup is one to three typed-array loads and one array load for the Peer: no loop, no hashing,
 * no allocation, and the cost does not depend on the number of routes or on how many distinct prefix
 * lengths exist. Routes are inserted in ascending prefix length so a longer prefix overwrites the
 * expansion of a shorter one; that ordering is what makes the result the longest match.
 *
 * Why not the alternatives (measured with a throwaway script on this shared 2-vCPU box, 10,000
 * routes, 5M lookups): a Map<number, Peer> per prefix length, probed from the longest length down,
 * costs one hash probe per distinct length. With random /8../32 routes (25 lengths) that was ~80 ns
 * for a hit and ~360 ns for a random destination, against 6-8 ns here; with flannel's single /24
 * length it was ~11 ns against ~7-8 ns. A sorted interval array needs ~14 binary-search steps with
 * unpredictable branches; a binary trie walks up to 32 nodes. Memory is the price: 256 KiB for
 * level 1 plus 1 KiB per /16 that holds a longer prefix (and 1 KiB per /24 that holds a prefix
 * longer than /24). 10,000 /24 leases out of 10.0.0.0/8 take ~300 KiB in all; 10,000 random /8../32
 * routes took ~10 MiB and ~190 ms to build.
 *
 * IPv6 uses one open-addressing hash table per distinct prefix length (flattened into shared typed
 * arrays), probed from the longest length down. Keys are the four masked 32-bit words of the address,
 * read straight out of the packet buffer, so a lookup allocates nothing. Overlay IPv6 tables have one
 * or two distinct lengths (flannel leases /64s out of one IPv6 network), so this is one or two probes.
 *
 * Duplicates: two peers with the same canonical prefix (same network and length) make `build` throw
 * ConfigError. Last-wins would silently black-hole one node's pods; flannel keys leases by subnet, so
 * a duplicate means a broken input, and the caller keeps its previous table. Nested prefixes (a /16
 * and a /24 inside it) are fine: that is what longest-prefix match is for.
 *
 * Immutability: a table never changes after `build`. Updates build a new table and `Router.swap` it
 * in (see router.ts), so a lookup in progress always sees one consistent table.
 *
 * Incremental updates (`withChanges`): a lease change must not cost a rebuild over every peer on the
 * forwarding thread (10,000 peers: 20-90 ms, one RTT spike per pass). `withChanges` copies the typed
 * arrays (a few hundred KiB: a memcpy) and the small indexes, then rewrites only the slots of the
 * changed prefixes:
 *   - add P: in P's expansion, a slot whose leaf is empty or a shorter prefix becomes P's leaf; a
 *     slot of a longer prefix (nested inside P) keeps it, exactly what ascending-length insertion of
 *     a full build leaves there;
 *   - remove P: P's leaf is replaced by the leaf of the longest remaining prefix covering P (or 0);
 *     slots of longer prefixes never held P's leaf; a chunk left uniform folds back into its parent
 *     slot and is reused;
 *   - change (same prefix, new public IP / MAC): only the leaf's Peer changes, no slot does;
 *   - indexes stay dense: a removed peer's index goes to the last peer (a new Peer object), whose
 *     slots are relabelled.
 * IPv6 levels are rebuilt when an IPv6 peer is added, removed or moved (overlay tables hold few).
 * The lookups are the same code over the same layout, so the hot path does not change.
 */

import { ConfigError } from '../errors';
import { parseCidr, tryIpv4ToU32, u32ToIpv4, type Cidr, type Ipv4Cidr } from '../net/addr';
import type { Backend, Peer } from './peer';

/** L1_BITS is the stride of the first IPv4 level: 2^16 slots indexed by the top 16 bits. */
const L1_BITS = 16;
/** CHUNK is the number of slots in a level-2 or level-3 chunk (8-bit stride). */
const CHUNK = 256;
/** BACKENDS lists the valid `Peer.backend` values. */
const BACKENDS: readonly Backend[] = ['vxlan', 'udp'];

/**
 * Parsed prefixes and public IPs of earlier builds (read-only results): a peer set of 10,000
 * rebuilt after one lease change re-parses nothing. Cleared when it outgrows any real peer set.
 */
const CACHE_MAX = 1 << 16;
const cidrs = new Map<string, Cidr>();
const ipv4s = new Map<string, number>();

function cachedCidr(text: string, field: string): Cidr {
  let c = cidrs.get(text);
  if (c === undefined) {
    c = parseCidr(text, field); // throws for bad input, which is never cached
    if (cidrs.size >= CACHE_MAX) cidrs.clear();
    cidrs.set(text, c);
  }
  return c;
}

function cachedIpv4(text: string): number {
  let v = ipv4s.get(text);
  if (v === undefined) {
    v = tryIpv4ToU32(text);
    if (ipv4s.size >= CACHE_MAX) ipv4s.clear();
    ipv4s.set(text, v);
  }
  return v;
}

/** SLOT6 is the number of int32s in one IPv6 hash slot: leaf + four key words. */
const SLOT6 = 5;

/** V6Tables is the flattened per-length IPv6 hash tables (see RouteTable's fields). */
interface V6Tables {
  m: Int32Array;
  base: Int32Array;
  cap: Int32Array;
  slots: Int32Array;
}

/** V4Route is one validated IPv4 route during build. */
interface V4Route {
  readonly network: number;
  readonly len: number;
  readonly leaf: number;
}

/** V6Route is one validated IPv6 route during build. */
interface V6Route {
  readonly words: readonly [number, number, number, number];
  readonly len: number;
  readonly leaf: number;
}

/** GrowableI32 is an Int32Array of chunks that doubles when full; build/update time only. */
class GrowableI32 {
  a: Int32Array;
  length = 0;
  /** free lists the base offsets of chunks no slot points to any more (reused first). */
  free: number[] = [];
  constructor(initial: number) {
    this.a = new Int32Array(initial);
  }
  /** copyOf returns a growable copy of a level and its free list (updates never touch the original). */
  static copyOf(a: Int32Array, free: readonly number[]): GrowableI32 {
    const g = new GrowableI32(0);
    g.a = a.slice();
    g.length = a.length;
    g.free = free.slice();
    return g;
  }
  /** allocChunk returns the base offset of a chunk of `CHUNK` slots filled with `fill`. */
  allocChunk(fill: number): number {
    const reused = this.free.pop();
    if (reused !== undefined) {
      this.a.fill(fill, reused, reused + CHUNK);
      return reused;
    }
    if (this.length + CHUNK > this.a.length) {
      const n = new Int32Array(Math.max(this.a.length * 2, this.length + CHUNK));
      n.set(this.a);
      this.a = n;
    }
    const base = this.length;
    this.a.fill(fill, base, base + CHUNK);
    this.length += CHUNK;
    return base;
  }
  /** trimmed returns a right-sized copy. */
  trimmed(): Int32Array {
    return this.a.slice(0, this.length);
  }
}

/** hash4 mixes four 32-bit words (murmur3-style multiply/xor-shift rounds) into an int32 hash. */
function hash4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ d, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** maskWord is the int32 mask of word `w` (0..3) of a /len IPv6 prefix. */
function maskWord(len: number, w: number): number {
  const bits = Math.max(0, Math.min(32, len - 32 * w));
  return bits === 0 ? 0 : bits === 32 ? -1 : (0xffffffff << (32 - bits)) | 0;
}

/**
 * RouteTable is an immutable longest-prefix-match table from overlay destination to Peer.
 * Build one with `RouteTable.build(peers)`; never mutated afterwards.
 */
export class RouteTable {
  /** peers is every peer of the table, `peers[i].index === i`. */
  readonly peers: readonly Peer[];
  /** size is the number of routes (one per peer). */
  readonly size: number;

  // leaves[0] is the "no route" leaf; leaves[i + 1] === peers[i].
  readonly #leaves: (Peer | undefined)[];
  readonly #l1: Int32Array;
  readonly #l2: Int32Array;
  readonly #l3: Int32Array;
  // IPv6: level k (0..n6-1, longest prefix first) has masks #m6[4k..4k+3] and slots
  // [#base6[k], #base6[k] + #cap6[k]) of #slots6. A slot is SLOT6 int32s, [leaf, w0, w1, w2, w3]
  // (leaf 0 = empty): leaf and key share a cache line, so a probe costs one memory access.
  readonly #n6: number;
  readonly #m6: Int32Array;
  readonly #base6: Int32Array;
  readonly #cap6: Int32Array;
  readonly #slots6: Int32Array;
  readonly #bySource: Map<number, Peer[]>;
  // Canonical prefix text -> peer index: duplicate checks and incremental updates.
  readonly #byPrefix: Map<string, number>;
  // Level-2 and level-3 chunks no slot points to (reused by the next update that needs one).
  readonly #free2: readonly number[];
  readonly #free3: readonly number[];
  // Number of IPv4 prefixes of each length 0..32: a removal looks for a covering prefix only at
  // lengths that have one (flannel's tables have a single length, so no probe at all).
  readonly #lens4: Int32Array;

  private constructor(
    leaves: (Peer | undefined)[],
    l1: Int32Array,
    l2: Int32Array,
    l3: Int32Array,
    v6: V6Tables,
    bySource: Map<number, Peer[]>,
    byPrefix: Map<string, number>,
    lens4: Int32Array,
    free2: readonly number[] = [],
    free3: readonly number[] = [],
  ) {
    this.peers = Object.freeze(leaves.slice(1) as Peer[]);
    this.size = this.peers.length;
    this.#leaves = leaves;
    this.#l1 = l1;
    this.#l2 = l2;
    this.#l3 = l3;
    this.#n6 = v6.base.length;
    this.#m6 = v6.m;
    this.#base6 = v6.base;
    this.#cap6 = v6.cap;
    this.#slots6 = v6.slots;
    this.#bySource = bySource;
    this.#byPrefix = byPrefix;
    this.#free2 = free2;
    this.#free3 = free3;
    this.#lens4 = lens4;
  }

  /** empty returns a table with no routes (every lookup misses). */
  static empty(): RouteTable {
    return RouteTable.build([]);
  }

  /**
   * build validates `peers` and returns a new immutable table. Throws ConfigError (naming
   * `peers[i].<field>`) when a peer's index is not its position, its subnet is not a canonical CIDR,
   * its publicIp/publicIpU32 disagree, a VXLAN peer lacks a 6-byte vtepMac, or two peers have the
   * same prefix. The array is copied; the Peer objects are shared (they are immutable).
   */
  static build(peers: readonly Peer[]): RouteTable {
    const list = peers.slice();
    const v4: V4Route[] = [];
    const v6: V6Route[] = [];
    const seen = new Map<string, number>();
    const bySource = new Map<number, Peer[]>();
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      const f = `peers[${i}]`;
      if (p.index !== i) {
        throw new ConfigError(`${f}.index`, `must equal the peer's position (${i})`, String(p.index));
      }
      const c = validPeer(p, f);
      const prev = seen.get(c.text);
      if (prev !== undefined) {
        throw new ConfigError(`${f}.subnet`, `must be unique; duplicates peers[${prev}]`, c.text);
      }
      seen.set(c.text, i);
      const key = p.publicIpU32 | 0;
      const same = bySource.get(key);
      if (same === undefined) bySource.set(key, [p]);
      else same.push(p);
      if (c.family === 4) v4.push({ network: c.network, len: c.prefixLen, leaf: i + 1 });
      else v6.push({ words: c.words, len: c.prefixLen, leaf: i + 1 });
    }
    const [l1, l2, l3] = buildV4(v4);
    const lens4 = new Int32Array(33);
    for (const r of v4) lens4[r.len]!++;
    return new RouteTable([undefined, ...list], l1, l2, l3, buildV6(v6), bySource, seen, lens4);
  }

  /**
   * indexOf returns the index of the peer whose subnet is `subnet` (any spelling of the same
   * prefix), or -1 when no peer has it or `subnet` is not a CIDR.
   */
  indexOf(subnet: string): number {
    // Canonical text (what leases give) needs no parse.
    const direct = this.#byPrefix.get(subnet);
    if (direct !== undefined) return direct;
    let c: Cidr;
    try {
      c = cachedCidr(subnet, 'subnet');
    } catch {
      return -1;
    }
    return this.#byPrefix.get(c.text) ?? -1;
  }

  /**
   * withChanges returns a new table equal (for every lookup) to a fresh `build` of this table's peers
   * without the subnets in `remove` and with `upsert` added, or replacing the peer of the same
   * subnet. Costs O(changes + the slots of the changed prefixes), not O(peers); see design notes.
   * Peers keep their index unless the last peer moves into a removed one's slot. Throws ConfigError
   * (naming `upsert[i].<field>` or `remove[i]`) for an invalid peer, a subnet upserted twice or a
   * removal of a subnet the table does not have; this table is never modified.
   */
  withChanges(remove: readonly string[], upsert: readonly PeerSpec[]): RouteTable {
    const checked: Cidr[] = [];
    const once = new Set<string>();
    upsert.forEach((p, i) => {
      const c = validPeer(p, `upsert[${i}]`);
      if (once.has(c.text)) {
        throw new ConfigError(`upsert[${i}].subnet`, 'must be unique within one update', c.text);
      }
      once.add(c.text);
      checked.push(c);
    });
    const gone: Cidr[] = [];
    remove.forEach((text, i) => {
      let c: Cidr;
      try {
        c = cachedCidr(text, `remove[${i}]`);
      } catch {
        throw new ConfigError(`remove[${i}]`, 'must be the subnet of a peer in the table', text);
      }
      if (!this.#byPrefix.has(c.text) || once.has(c.text)) {
        throw new ConfigError(
          `remove[${i}]`,
          'must be the subnet of a peer in the table, removed once',
          text,
        );
      }
      once.add(c.text);
      gone.push(c);
    });
    const leaves = this.#leaves.slice();
    const byPrefix = new Map(this.#byPrefix);
    const bySource = new Map(this.#bySource);
    const ownArrays = new Set<number>();
    const sourceList = (key: number): Peer[] => {
      let l = bySource.get(key);
      if (l === undefined) bySource.set(key, (l = []));
      else if (!ownArrays.has(key)) bySource.set(key, (l = l.slice()));
      ownArrays.add(key);
      return l;
    };
    const dropSource = (p: Peer): void => {
      const l = sourceList(p.publicIpU32 | 0);
      l.splice(l.indexOf(p), 1);
      if (l.length === 0) bySource.delete(p.publicIpU32 | 0);
    };
    const trie = new V4Trie(
      this.#l1.slice(),
      GrowableI32.copyOf(this.#l2, this.#free2),
      GrowableI32.copyOf(this.#l3, this.#free3),
      (leaf) => cachedCidr(leaves[leaf]!.subnet, 'subnet').prefixLen,
    );
    const lens4 = this.#lens4.slice();
    let v6Dirty = false;
    for (const c of gone) {
      const idx = byPrefix.get(c.text)!;
      const leaf = idx + 1;
      dropSource(leaves[leaf]!);
      byPrefix.delete(c.text);
      if (c.family === 4) {
        lens4[c.prefixLen]!--;
        trie.remove(c.network, c.prefixLen, leaf, coverOf(byPrefix, lens4, c));
      } else v6Dirty = true;
      const last = leaves.length - 1;
      if (leaf !== last) {
        // Dense indexes: the last peer takes the freed one.
        const moved = leaves[last]!;
        const p = peerFrom(sourceOf(moved), idx);
        leaves[leaf] = p;
        const mc = cachedCidr(moved.subnet, 'subnet');
        byPrefix.set(mc.text, idx);
        const l = sourceList(moved.publicIpU32 | 0);
        l[l.indexOf(moved)] = p;
        if (mc.family === 4) trie.relabel(mc.network, mc.prefixLen, last, leaf);
        else v6Dirty = true;
      }
      leaves.pop();
    }
    upsert.forEach((spec, i) => {
      const c = checked[i]!;
      const had = byPrefix.get(c.text);
      const idx = had ?? leaves.length - 1;
      const p = peerFrom(spec, idx);
      if (had !== undefined) {
        dropSource(leaves[idx + 1]!);
        leaves[idx + 1] = p;
      } else {
        leaves.push(p);
        byPrefix.set(c.text, idx);
        if (c.family === 4) {
          lens4[c.prefixLen]!++;
          trie.insert(c.network, c.prefixLen, idx + 1);
        } else v6Dirty = true;
      }
      sourceList(p.publicIpU32 | 0).push(p);
    });
    let v6: V6Tables = {
      m: this.#m6,
      base: this.#base6,
      cap: this.#cap6,
      slots: this.#slots6,
    };
    if (v6Dirty) {
      const routes: V6Route[] = [];
      for (let leaf = 1; leaf < leaves.length; leaf++) {
        const c = cachedCidr(leaves[leaf]!.subnet, 'subnet');
        if (c.family === 6) routes.push({ words: c.words, len: c.prefixLen, leaf });
      }
      v6 = buildV6(routes);
    }
    return new RouteTable(
      leaves,
      trie.l1,
      trie.l2.a,
      trie.l3.a,
      v6,
      bySource,
      byPrefix,
      lens4,
      trie.l2.free,
      trie.l3.free,
    );
  }

  /**
   * lookupV4 returns the peer whose IPv4 subnet is the longest match for `dst`, or undefined.
   * `dst` is the host-order u32 or its int32 reinterpretation (`x | 0`); passing int32 keeps
   * addresses >= 128.0.0.0 out of heap numbers in callers that are not inlined. Allocation-free.
   */
  lookupV4(dst: number): Peer | undefined {
    let v = this.#l1[dst >>> L1_BITS]!;
    if (v < 0) {
      v = this.#l2[~v + ((dst >>> 8) & 0xff)]!;
      if (v < 0) v = this.#l3[~v + (dst & 0xff)]!;
    }
    return this.#leaves[v];
  }

  /**
   * lookupV6 returns the peer whose IPv6 subnet is the longest match for the 16-byte address at
   * `buf[off..off+16)` (e.g. the destination field of an IPv6 header), or undefined. Reads in place,
   * allocates nothing; the caller guarantees the 16 bytes are in bounds.
   */
  lookupV6(buf: Uint8Array, off: number): Peer | undefined {
    const n = this.#n6;
    if (n === 0) return undefined;
    const w0 = (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
    const w1 = (buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!;
    const w2 = (buf[off + 8]! << 24) | (buf[off + 9]! << 16) | (buf[off + 10]! << 8) | buf[off + 11]!;
    const w3 = (buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!;
    const m = this.#m6;
    const slots = this.#slots6;
    for (let k = 0; k < n; k++) {
      const a = w0 & m[4 * k]!;
      const b = w1 & m[4 * k + 1]!;
      const c = w2 & m[4 * k + 2]!;
      const d = w3 & m[4 * k + 3]!;
      const base = this.#base6[k]!;
      const capMask = this.#cap6[k]! - 1;
      let h = hash4(a, b, c, d) & capMask;
      for (;;) {
        const so = SLOT6 * (base + h);
        const v = slots[so]!;
        if (v === 0) break;
        if (slots[so + 1] === a && slots[so + 2] === b && slots[so + 3] === c && slots[so + 4] === d) {
          return this.#leaves[v];
        }
        h = (h + 1) & capMask;
      }
    }
    return undefined;
  }

  /**
   * findPeerBySource returns a peer whose publicIpU32 is `src` (u32 or int32), or undefined; used to
   * accept only packets from known VTEPs. Several subnets may share one public IP; this returns the
   * first in table order (see `peersBySource` for all). Allocation-free.
   */
  findPeerBySource(src: number): Peer | undefined {
    const l = this.#bySource.get(src | 0);
    return l === undefined ? undefined : l[0];
  }

  /** peersBySource returns every peer whose publicIpU32 is `src`, in table order (empty if none). */
  peersBySource(src: number): readonly Peer[] {
    return this.#bySource.get(src | 0) ?? [];
  }

  /** memoryBytes is the size of the lookup structures (typed arrays), for diagnostics. */
  get memoryBytes(): number {
    return this.#l1.byteLength + this.#l2.byteLength + this.#l3.byteLength + this.#slots6.byteLength;
  }
}

/**
 * validPeer checks one peer's fields as `build` does (naming `<f>.<field>`) and returns its prefix.
 */
function validPeer(p: PeerSpec, f: string): Cidr {
  const c: Cidr = cachedCidr(p.subnet, `${f}.subnet`);
  if (c.hostBitsSet) {
    throw new ConfigError(`${f}.subnet`, `must have no host bits set (did you mean ${c.text}?)`, p.subnet);
  }
  const pub = cachedIpv4(p.publicIp);
  if (pub < 0) throw new ConfigError(`${f}.publicIp`, 'must be an IPv4 address', JSON.stringify(p.publicIp));
  if (p.publicIpU32 !== pub) {
    throw new ConfigError(`${f}.publicIpU32`, `must equal publicIp as a host-order u32 (${pub})`);
  }
  if (!BACKENDS.includes(p.backend)) {
    throw new ConfigError(`${f}.backend`, `must be one of ${BACKENDS.join(', ')}`, String(p.backend));
  }
  if (p.backend === 'vxlan' && (!Buffer.isBuffer(p.vtepMac) || p.vtepMac.length !== 6)) {
    throw new ConfigError(`${f}.vtepMac`, 'must be a 6-byte Buffer for a vxlan peer');
  }
  return c;
}

/** coverOf is the leaf of the longest prefix in `byPrefix` strictly containing IPv4 `c`, or 0. */
function coverOf(byPrefix: ReadonlyMap<string, number>, lens4: Int32Array, c: Ipv4Cidr): number {
  for (let len = c.prefixLen - 1; len >= 0; len--) {
    if (lens4[len] === 0) continue;
    const net = len === 0 ? 0 : (c.network & (0xffffffff << (32 - len))) >>> 0;
    const idx = byPrefix.get(`${u32ToIpv4(net)}/${len}`);
    if (idx !== undefined) return idx + 1;
  }
  return 0;
}

/**
 * V4Trie edits copied DIR-16-8-8 levels in place for `withChanges`: every edit visits the leaf
 * slots of one prefix's expansion (descending into the chunks below them) and rewrites some.
 */
class V4Trie {
  constructor(
    readonly l1: Int32Array,
    readonly l2: GrowableI32,
    readonly l3: GrowableI32,
    /** lenOf is the prefix length of a (non-zero) leaf. */
    private readonly lenOf: (leaf: number) => number,
  ) {}

  /** insert gives `leaf` (a /len) every slot of its expansion not held by a longer prefix. */
  insert(net: number, len: number, leaf: number): void {
    const lenOf = this.lenOf;
    this.edit(net, len, true, (v) => (v === 0 || lenOf(v) < len ? leaf : v));
  }

  /** remove gives the slots of `leaf` (a /len) to `cover`, then folds chunks left uniform. */
  remove(net: number, len: number, leaf: number, cover: number): void {
    this.edit(net, len, false, (v) => (v === leaf ? cover : v));
    if (len <= 16) return;
    const i1 = net >>> 16;
    const s1 = this.l1[i1]!;
    if (s1 >= 0) return;
    if (len > 24) {
      const i2 = ~s1 + ((net >>> 8) & 0xff);
      const s2 = this.l2.a[i2]!;
      if (s2 < 0) {
        const u = uniform(this.l3.a, ~s2);
        if (u >= 0) {
          this.l2.a[i2] = u;
          this.l3.free.push(~s2);
        }
      }
    }
    const u = uniform(this.l2.a, ~s1);
    if (u >= 0) {
      this.l1[i1] = u;
      this.l2.free.push(~s1);
    }
  }

  /** relabel moves a /len prefix's slots from leaf `from` to leaf `to`. */
  relabel(net: number, len: number, from: number, to: number): void {
    this.edit(net, len, false, (v) => (v === from ? to : v));
  }

  /**
   * edit applies `f` to every leaf slot of the /len expansion of `net`; with `split`, a leaf slot
   * above a longer prefix's level becomes a chunk first (as in buildV4).
   */
  private edit(net: number, len: number, split: boolean, f: (v: number) => number): void {
    const l1 = this.l1;
    if (len <= 16) {
      const start = net >>> 16;
      for (let i = start; i < start + (1 << (16 - len)); i++) {
        const v = l1[i]!;
        if (v >= 0) l1[i] = f(v);
        else this.editChunk2(~v, 0, CHUNK, f);
      }
      return;
    }
    const i1 = net >>> 16;
    let s1 = l1[i1]!;
    if (s1 >= 0) {
      if (!split) return;
      s1 = ~this.l2.allocChunk(s1);
      l1[i1] = s1;
    }
    if (len <= 24) {
      this.editChunk2(~s1, (net >>> 8) & 0xff, 1 << (24 - len), f);
      return;
    }
    const i2 = ~s1 + ((net >>> 8) & 0xff);
    let s2 = this.l2.a[i2]!;
    if (s2 >= 0) {
      if (!split) return;
      s2 = ~this.l3.allocChunk(s2);
      this.l2.a[i2] = s2;
    }
    const l3 = this.l3.a;
    const start = ~s2 + (net & 0xff);
    for (let i = start; i < start + (1 << (32 - len)); i++) l3[i] = f(l3[i]!);
  }

  private editChunk2(base: number, from: number, count: number, f: (v: number) => number): void {
    const l2 = this.l2.a;
    for (let i = base + from; i < base + from + count; i++) {
      const v = l2[i]!;
      if (v >= 0) {
        l2[i] = f(v);
      } else {
        const l3 = this.l3.a;
        for (let j = ~v; j < ~v + CHUNK; j++) l3[j] = f(l3[j]!);
      }
    }
  }
}

/** uniform is the leaf every slot of the chunk at `base` holds, or -1 (differing, or a pointer). */
function uniform(a: Int32Array, base: number): number {
  const v = a[base]!;
  if (v < 0) return -1;
  for (let i = base + 1; i < base + CHUNK; i++) if (a[i] !== v) return -1;
  return v;
}

/** buildV4 expands the IPv4 routes into the DIR-16-8-8 levels (see design notes). */
function buildV4(routes: V4Route[]): [Int32Array, Int32Array, Int32Array] {
  // Ascending length, so longer prefixes overwrite the expansion of shorter ones. The sort is stable
  // and prefixes are unique, so the result does not depend on input order.
  routes.sort((x, y) => x.len - y.len);
  const l1 = new Int32Array(1 << L1_BITS);
  const l2 = new GrowableI32(CHUNK * 4);
  const l3 = new GrowableI32(CHUNK * 4);
  for (const r of routes) {
    const net = r.network;
    if (r.len <= 16) {
      const start = net >>> 16;
      l1.fill(r.leaf, start, start + (1 << (16 - r.len)));
      continue;
    }
    const i1 = net >>> 16;
    let s1 = l1[i1]!;
    // No chunk yet: create one holding the shorter route that covered this /16 (or 0).
    if (s1 >= 0) {
      s1 = ~l2.allocChunk(s1);
      l1[i1] = s1;
    }
    const i2 = ~s1 + ((net >>> 8) & 0xff);
    if (r.len <= 24) {
      l2.a.fill(r.leaf, i2, i2 + (1 << (24 - r.len)));
      continue;
    }
    let s2 = l2.a[i2]!;
    if (s2 >= 0) {
      s2 = ~l3.allocChunk(s2);
      l2.a[i2] = s2;
    }
    const i3 = ~s2 + (net & 0xff);
    l3.a.fill(r.leaf, i3, i3 + (1 << (32 - r.len)));
  }
  return [l1, l2.trimmed(), l3.trimmed()];
}

/** buildV6 builds the per-length IPv6 hash tables, longest length first (see design notes). */
function buildV6(routes: V6Route[]): V6Tables {
  const byLen = new Map<number, V6Route[]>();
  for (const r of routes) {
    const l = byLen.get(r.len);
    if (l === undefined) byLen.set(r.len, [r]);
    else l.push(r);
  }
  const lens = [...byLen.keys()].sort((a, b) => b - a);
  const m = new Int32Array(lens.length * 4);
  const base = new Int32Array(lens.length);
  const cap = new Int32Array(lens.length);
  let total = 0;
  lens.forEach((len, k) => {
    // Load factor <= 0.5 keeps linear-probe chains short, misses included.
    let c = 2;
    while (c < byLen.get(len)!.length * 2) c *= 2;
    cap[k] = c;
    base[k] = total;
    total += c;
    for (let w = 0; w < 4; w++) m[4 * k + w] = maskWord(len, w);
  });
  const slots = new Int32Array(total * SLOT6);
  lens.forEach((len, k) => {
    const capMask = cap[k]! - 1;
    for (const r of byLen.get(len)!) {
      const a = r.words[0] | 0;
      const b = r.words[1] | 0;
      const c = r.words[2] | 0;
      const d = r.words[3] | 0;
      let h = hash4(a, b, c, d) & capMask;
      while (slots[SLOT6 * (base[k]! + h)] !== 0) h = (h + 1) & capMask;
      slots.set([r.leaf, a, b, c, d], SLOT6 * (base[k]! + h));
    }
  });
  return { m, base, cap, slots };
}

/** PeerSpec is a Peer without its table index; see `indexPeers`. */
export type PeerSpec = Omit<Peer, 'index'>;

/**
 * The PeerSpec each table Peer was made from: the next peer set usually passes the same objects
 * again, and `diffPeers` then knows they are unchanged without comparing fields.
 */
const sources = new WeakMap<Peer, PeerSpec>();

/** sourceOf returns the PeerSpec `p` was made from by `indexPeers` or `withChanges` (else `p`). */
export function sourceOf(p: Peer): PeerSpec {
  return sources.get(p) ?? p;
}

function peerFrom(spec: PeerSpec, index: number): Peer {
  const p: Peer = Object.freeze({ ...spec, index });
  sources.set(p, spec);
  return p;
}

/** indexPeers returns new Peer objects with `index` set to their position, ready for `RouteTable.build`. */
export function indexPeers(specs: readonly PeerSpec[]): Peer[] {
  return specs.map((s, index) => peerFrom(s, index));
}
