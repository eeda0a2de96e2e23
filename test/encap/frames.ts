/**
 * Test packet builders for the encap tests and fuzzers: inner IPv4/IPv6 packets written at
 * HEADROOM in a slot-sized buffer, like the data path's packet batches.
 */
import { HEADROOM } from '../../src/encap/constants';
import { makeVxlanConfig, type VxlanConfig } from '../../src/encap/vxlan-config';
import { encodeIpv4, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP } from '../../src/wire/ipv4';
import { encodeIpv6 } from '../../src/wire/ipv6';

/** MAC_A is node A's VTEP MAC; MAC_B node B's (both locally administered unicast). */
export const MAC_A = Buffer.from('0a0000000001', 'hex');
export const MAC_B = Buffer.from('0a0000000002', 'hex');

/** CFG_A / CFG_B are the two nodes' VXLAN configs (VNI 1, default port range). */
export const CFG_A: VxlanConfig = makeVxlanConfig({ localMac: MAC_A });
export const CFG_B: VxlanConfig = makeVxlanConfig({ localMac: MAC_B });

/** SLOT is the test slot size: headroom + a 1500-byte packet + slack. */
export const SLOT = HEADROOM + 1600;

export interface V4Opts {
  src?: number;
  dst?: number;
  proto?: number;
  sport?: number;
  dport?: number;
  payload?: number;
  ttl?: number;
  df?: boolean;
  mf?: boolean;
  fragOffset?: number;
}

/**
 * writeV4 writes an IPv4 packet (UDP/TCP with ports, ICMP echo, or opaque payload) at `off` and
 * returns its length. Payload bytes are a deterministic pattern.
 */
export function writeV4(buf: Buffer, off: number, o: V4Opts = {}): number {
  const proto = o.proto ?? IP_PROTO_UDP;
  const payload = o.payload ?? 32;
  const total = 20 + payload;
  for (let i = 0; i < payload; i++) buf[off + 20 + i] = (i * 7 + 3) & 0xff;
  if ((proto === IP_PROTO_UDP || proto === IP_PROTO_TCP) && payload >= 4) {
    buf.writeUInt16BE(o.sport ?? 40000, off + 20);
    buf.writeUInt16BE(o.dport ?? 80, off + 22);
  }
  if (proto === IP_PROTO_UDP && payload >= 8) buf.writeUInt16BE(payload, off + 24);
  if (proto === IP_PROTO_ICMP && payload >= 8) {
    buf[off + 20] = 8; // echo request
    buf[off + 21] = 0;
  }
  encodeIpv4(buf, off, {
    tos: 0,
    totalLength: total,
    id: 0x1234,
    df: o.df ?? true,
    mf: o.mf ?? false,
    fragmentOffset: o.fragOffset ?? 0,
    ttl: o.ttl ?? 64,
    protocol: proto,
    src: o.src ?? 0x0af40002, // 10.244.0.2
    dst: o.dst ?? 0x0af40102, // 10.244.1.2
  });
  return total;
}

/** writeV6 writes an IPv6 UDP packet fd00::<a> -> fd00::<b> at `off` and returns its length. */
export function writeV6(
  buf: Buffer,
  off: number,
  a = 1,
  b = 2,
  sport = 40000,
  dport = 53,
  payload = 24,
  hop = 64,
): number {
  const src = Buffer.alloc(16);
  const dst = Buffer.alloc(16);
  src[0] = dst[0] = 0xfd;
  src.writeUInt16BE(a, 14);
  dst.writeUInt16BE(b, 14);
  for (let i = 0; i < payload; i++) buf[off + 40 + i] = i & 0xff;
  if (payload >= 4) {
    buf.writeUInt16BE(sport, off + 40);
    buf.writeUInt16BE(dport, off + 42);
  }
  encodeIpv6(buf, off, {
    trafficClass: 0,
    flowLabel: 0,
    payloadLength: payload,
    nextHeader: 17,
    hopLimit: hop,
    src,
    dst,
  });
  return 40 + payload;
}
