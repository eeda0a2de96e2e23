/**
 * Test helpers for the route tests: peer builders, a seeded PRNG, and the slow reference table
 * (linear scan for the longest match) that the fast table is checked against.
 */

import { ipv4ToU32, parseCidr, u32ToIpv4 } from '../../src/net/addr';
import { indexPeers, type PeerSpec } from '../../src/route/route-table';
import type { Peer } from '../../src/route/peer';

/** spec returns a PeerSpec for `subnet` with a VXLAN MAC derived from `n` and public IP 192.0.2.x/198.51.100.x. */
export function spec(subnet: string, n: number, over: Partial<PeerSpec> = {}): PeerSpec {
  const publicIp = over.publicIp ?? `${n % 2 === 0 ? '192.0.2' : '198.51.100'}.${(n % 250) + 1}`;
  return {
    subnet,
    publicIp,
    publicIpU32: over.publicIpU32 ?? ipv4ToU32(publicIp),
    vtepMac: Buffer.from([0x0a, 0x58, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff, 0x01]),
    backend: 'vxlan',
    ...over,
  };
}

/** peersFor indexes one peer per subnet. */
export function peersFor(subnets: readonly string[]): Peer[] {
  return indexPeers(subnets.map((s, i) => spec(s, i)));
}

/** Rng is a small deterministic PRNG (mulberry32) so a failing seed can be replayed. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** u32 returns a uniformly distributed unsigned 32-bit integer. */
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** int returns an integer in [0, n). */
  int(n: number): number {
    return this.u32() % n;
  }
}

/** SlowRoute is one parsed route of the reference table. */
interface SlowRoute {
  readonly bytes: Buffer;
  readonly len: number;
  readonly peer: Peer;
}

/** SlowTable is the reference: scans every route, keeps the longest whose prefix bits match. */
export class SlowTable {
  readonly #v4: SlowRoute[] = [];
  readonly #v6: SlowRoute[] = [];
  constructor(peers: readonly Peer[]) {
    for (const p of peers) {
      const c = parseCidr(p.subnet);
      (c.family === 4 ? this.#v4 : this.#v6).push({ bytes: c.bytes, len: c.prefixLen, peer: p });
    }
  }
  /** lookupV4 returns the longest match for a host-order u32. */
  lookupV4(dst: number): Peer | undefined {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(dst >>> 0, 0);
    return SlowTable.#scan(this.#v4, b, 0);
  }
  /** lookupV6 returns the longest match for the 16 bytes at buf[off..]. */
  lookupV6(buf: Uint8Array, off: number): Peer | undefined {
    return SlowTable.#scan(this.#v6, buf, off);
  }
  static #scan(routes: SlowRoute[], buf: Uint8Array, off: number): Peer | undefined {
    let best: SlowRoute | undefined;
    for (const r of routes) {
      let ok = true;
      for (let bit = 0; bit < r.len && ok; bit++) {
        const byte = bit >> 3;
        const m = 0x80 >> (bit & 7);
        if ((buf[off + byte]! & m) !== (r.bytes[byte]! & m)) ok = false;
      }
      if (ok && (best === undefined || r.len > best.len)) best = r;
    }
    return best?.peer;
  }
}

/** randomV4Subnet returns a canonical random IPv4 prefix, drawing the network near `bases` so prefixes nest. */
export function randomV4Subnet(rng: Rng, bases: readonly number[]): string {
  const len = rng.int(4) === 0 ? rng.int(33) : 8 + rng.int(25);
  const base =
    rng.int(3) === 0 ? rng.u32() : bases[rng.int(bases.length)]! ^ (rng.u32() >>> (8 + rng.int(24)));
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return `${u32ToIpv4((base & mask) >>> 0)}/${len}`;
}

/** randomV6Subnet returns a random IPv6 prefix text (may have host bits; callers canonicalise with parseCidr). */
export function randomV6Subnet(rng: Rng, bases: readonly Buffer[]): string {
  const len = rng.int(5) === 0 ? rng.int(129) : [48, 56, 64, 80, 96, 112, 120, 128][rng.int(8)]!;
  const b = Buffer.from(bases[rng.int(bases.length)]!);
  // Perturb a few bytes so prefixes share leading bits with each other.
  for (let k = 0; k < 3; k++) b[rng.int(16)] = rng.int(256);
  return parseCidr(`${v6Text(b)}/${len}`).text;
}

/** v6Text formats 16 bytes as uncompressed IPv6 text. */
export function v6Text(b: Uint8Array): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return g.join(':');
}
