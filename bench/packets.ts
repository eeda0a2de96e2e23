/**
 * Benchmark fixtures: a batch of preallocated packet slots shaped like the real data path (one
 * Buffer, HEADROOM in front of every inner packet, typed arrays of offsets and lengths), and the
 * route tables the route benchmarks look up in.
 */

import { HEADROOM } from '../src/encap';
import { encodeIpv4, IP_PROTO_UDP } from '../src/wire/ipv4';
import { encodeUdp } from '../src/wire/udp';
import { ipv4ToU32 } from '../src/net/addr';
import { indexPeers, type PeerSpec } from '../src/route/route-table';
import type { Peer } from '../src/route/peer';

/** BATCH is the number of packets one benchmark call processes (the I/O batch size of the data path). */
export const BATCH = 256;
/** SLOT_SIZE is the size of one packet slot, headroom included. */
export const SLOT_SIZE = 2048;
/** INNER_LEN is the inner IPv4/UDP packet length used throughout (small packets stress per-packet cost). */
export const INNER_LEN = 100;

/** PacketSlots is BATCH packets in one Buffer; slot i's inner packet starts at offsets[i]. */
export interface PacketSlots {
  readonly buf: Buffer;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  /** Start of the encapsulated payload written by an encap benchmark (or prepared for decap). */
  readonly starts: Int32Array;
  /** Length of the encapsulated payload for decap benchmarks. */
  readonly payloadLens: Uint32Array;
}

/**
 * makeSlots writes one IPv4/UDP packet of INNER_LEN bytes per slot, from 10.244.0.2 to `dst(i)`,
 * with distinct source ports so flow hashing sees distinct flows.
 */
export function makeSlots(dst: (i: number) => number): PacketSlots {
  const buf = Buffer.alloc(BATCH * SLOT_SIZE);
  const offsets = new Uint32Array(BATCH);
  const lengths = new Uint32Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    const off = i * SLOT_SIZE + HEADROOM;
    offsets[i] = off;
    lengths[i] = INNER_LEN;
    encodeIpv4(buf, off, {
      tos: 0,
      totalLength: INNER_LEN,
      id: i,
      df: true,
      mf: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: IP_PROTO_UDP,
      src: ipv4ToU32('10.244.0.2'),
      dst: dst(i) >>> 0,
    });
    encodeUdp(buf, off + 20, { srcPort: 10000 + i, dstPort: 5201, length: INNER_LEN - 20, checksum: 0 });
  }
  return { buf, offsets, lengths, starts: new Int32Array(BATCH), payloadLens: new Uint32Array(BATCH) };
}

/** ROUTES is the size of the big route table. */
export const ROUTES = 10_000;

/**
 * bigClusterPeers returns ROUTES VXLAN peers leasing /24s out of 10.0.0.0/8 (a 10,000-node flannel
 * cluster with `SubnetLen: 24`), each with its own public IP and VTEP MAC.
 */
export function bigClusterPeers(): Peer[] {
  const specs: PeerSpec[] = [];
  for (let i = 0; i < ROUTES; i++) {
    const publicIpU32 = (ipv4ToU32('198.18.0.0') + i + 1) >>> 0;
    specs.push({
      subnet: `10.${i >> 8}.${i & 255}.0/24`,
      publicIp: `${publicIpU32 >>> 24}.${(publicIpU32 >>> 16) & 255}.${(publicIpU32 >>> 8) & 255}.${publicIpU32 & 255}`,
      publicIpU32,
      vtepMac: Buffer.from([0x0a, 0x58, 0, (i >> 16) & 255, (i >> 8) & 255, i & 255]),
      backend: 'vxlan',
    });
  }
  return indexPeers(specs);
}

/** bigClusterPeersV6 returns ROUTES peers leasing /64s out of fd00:10::/48-ish space. */
export function bigClusterPeersV6(): Peer[] {
  const specs: PeerSpec[] = [];
  for (let i = 0; i < ROUTES; i++) {
    specs.push({
      subnet: `fd00:10:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`,
      publicIp: '198.18.0.1',
      publicIpU32: ipv4ToU32('198.18.0.1'),
      vtepMac: Buffer.from([0x0a, 0x58, 0, (i >> 16) & 255, (i >> 8) & 255, i & 255]),
      backend: 'vxlan',
    });
  }
  return indexPeers(specs);
}

/** hostInPeer returns the u32 address `.h` inside peer i's /24 (10.x.y.h). */
export function hostInPeer(i: number, h: number): number {
  return (ipv4ToU32(`10.${(i >> 8) & 255}.${i & 255}.0`) + (h & 255)) >>> 0;
}

/** Lcg is a tiny deterministic generator so every run benchmarks the same destinations. */
export class Lcg {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** next returns a u32. */
  next(): number {
    this.#s = (Math.imul(this.#s, 1664525) + 1013904223) >>> 0;
    return this.#s;
  }
}
