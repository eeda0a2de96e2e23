/**
 * packets: the one set of packet builders for tests, benchmarks and `weft trace` (control path:
 * they allocate). Every header is written through the wire layer's encoders (src/wire), so a
 * builder never restates a layout, and IPv4 and ICMP checksums are real (RFC 1071): packets
 * survive a kernel too. Three shapes:
 * - layer builders (`eth`, `ipv4`, `udp`, `icmpEcho`, ...) each return header + payload, to be
 *   nested into a frame: `eth(B, A, 0x0800, ipv4(src, dst, 17, udp(1, 2, data)))`;
 * - whole packets from options (`buildIpv4`, `buildIcmpEcho`, `buildIpv6`);
 * - in-place writers (`writeV4`, `writeV6`, `writeL4Packet`) that fill a slot at an offset, the way
 *   the data path's batches hold packets (after HEADROOM).
 */
import { pseudoSumIpv4, pseudoSumIpv6 } from '../wire/tcp';
import { ipv4ToU32, macToBuffer } from '../net/addr';
import { checksumFold, internetChecksum } from '../wire/checksum';
import { encodeEthernet, ETH_HEADER_SIZE } from '../wire/ethernet';
import { encodeIcmpv4, ICMPV4_ECHO_REQUEST, ICMPV4_HEADER_SIZE } from '../wire/icmpv4';
import {
  encodeIpv4,
  IP_PROTO_ICMP,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_MIN_HEADER_SIZE,
} from '../wire/ipv4';
import { encodeIpv6, IPV6_HEADER_SIZE } from '../wire/ipv6';
import { encodeUdp, UDP_HEADER_SIZE } from '../wire/udp';
import { encodeVxlan, VXLAN_FLAG_I, VXLAN_HEADER_SIZE } from '../wire/vxlan';

// ---------------------------------------------------------------------------------------------
// Layer builders: header + payload, nested into frames.

/** mac parses `aa:bb:cc:dd:ee:ff`. */
export function mac(s: string): Buffer {
  return macToBuffer(s);
}

/** ip4 parses a dotted quad into 4 bytes. */
export function ip4(s: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(ipv4ToU32(s));
  return b;
}

/** eth builds an Ethernet II header + payload. */
export function eth(dst: string, src: string, type: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(ETH_HEADER_SIZE + payload.length);
  encodeEthernet(b, 0, { dst: mac(dst), src: mac(src), etherType: type });
  b.set(payload, ETH_HEADER_SIZE);
  return b;
}

/** tagged builds an Ethernet header with 802.1Q/802.1ad tags (VLAN ID 100 each) + payload. */
export function tagged(dst: string, src: string, tpids: number[], type: number, payload: Buffer): Buffer {
  const tags = Buffer.alloc(4 * tpids.length);
  tpids.forEach((t, i) => {
    tags.writeUInt16BE(t, 4 * i);
    tags.writeUInt16BE(100, 4 * i + 2);
  });
  const h = eth(dst, src, tpids[0] ?? type, Buffer.alloc(0)).subarray(0, 12);
  const t = Buffer.alloc(2);
  t.writeUInt16BE(type, 0);
  return Buffer.concat([h, tags, t, payload]);
}

/** Ipv4Options are the header fields `ipv4` lets a caller choose. */
export interface Ipv4Options {
  /** Don't Fragment (ignored when `fragWord` is given). */
  df?: boolean;
  /** The whole flags + fragment-offset word. */
  fragWord?: number;
  ttl?: number;
  /** Identification (default 0x1234). */
  id?: number;
}

/** ipv4 builds an IPv4 header (20 bytes, valid checksum) + payload. */
export function ipv4(
  src: string,
  dst: string,
  proto: number,
  payload: Uint8Array,
  o: Ipv4Options = {},
): Buffer {
  const b = Buffer.alloc(IPV4_MIN_HEADER_SIZE + payload.length);
  const word = o.fragWord ?? (o.df ? IPV4_FLAG_DF : 0);
  encodeIpv4(b, 0, {
    tos: 0,
    totalLength: b.length,
    id: o.id ?? 0x1234,
    df: (word & IPV4_FLAG_DF) !== 0,
    mf: (word & IPV4_FLAG_MF) !== 0,
    fragmentOffset: word & IPV4_FRAGMENT_OFFSET_MASK,
    ttl: o.ttl ?? 64,
    protocol: proto,
    src: ipv4ToU32(src),
    dst: ipv4ToU32(dst),
  });
  b.set(payload, IPV4_MIN_HEADER_SIZE);
  return b;
}

/** ipv6 builds an IPv6 fixed header (40 bytes) + payload; addresses in hex. */
export function ipv6(
  nextHeader: number,
  payload: Uint8Array,
  src = 'fd000000000000000000000000000001',
  dst = 'fd000000000000000000000000000002',
  hopLimit = 64,
): Buffer {
  const b = Buffer.alloc(IPV6_HEADER_SIZE + payload.length);
  encodeIpv6(b, 0, {
    trafficClass: 0,
    flowLabel: 0,
    payloadLength: payload.length,
    nextHeader,
    hopLimit,
    src: Buffer.from(src, 'hex'),
    dst: Buffer.from(dst, 'hex'),
  });
  b.set(payload, IPV6_HEADER_SIZE);
  return b;
}

/** ipv6Ext builds an 8-byte IPv6 extension header (hop-by-hop or destination options: PadN only). */
export function ipv6Ext(nextHeader: number): Buffer {
  return Buffer.from([nextHeader, 0, 1, 4, 0, 0, 0, 0]);
}

/** ipv6Frag builds an IPv6 fragment header: `offset` in 8-byte units, M flag, identification. */
export function ipv6Frag(nextHeader: number, offset: number, more: boolean, id: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = nextHeader;
  h.writeUInt16BE((offset << 3) | (more ? 1 : 0), 2);
  h.writeUInt32BE(id, 4);
  return h;
}

/** udp builds a UDP header (checksum 0: none) + payload. */
export function udp(sport: number, dport: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(UDP_HEADER_SIZE + payload.length);
  encodeUdp(b, 0, { srcPort: sport, dstPort: dport, length: b.length, checksum: 0 });
  b.set(payload, UDP_HEADER_SIZE);
  return b;
}

/** tcp builds a 20-byte TCP header with `flags` (checksum 0) + payload. */
export function tcp(
  sport: number,
  dport: number,
  seq: number,
  ack: number,
  flags: number,
  payload = Buffer.alloc(0),
): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(ack >>> 0, 8);
  h[12] = 5 << 4;
  h[13] = flags;
  h.writeUInt16BE(64240, 14);
  return Buffer.concat([h, payload]);
}

/**
 * icmpEcho builds an ICMP echo request (type 8) or reply (type 0) with `dataLen` bytes of patterned
 * data (byte i = i & 0xff, as ping's own pattern counts up) and a valid checksum.
 */
export function icmpEcho(type: 0 | 8, id: number, seq: number, dataLen = 56): Buffer {
  const data = Buffer.alloc(dataLen);
  for (let i = 0; i < dataLen; i++) data[i] = i & 0xff;
  const b = Buffer.alloc(ICMPV4_HEADER_SIZE + dataLen);
  encodeIcmpv4(b, 0, { type, code: 0, rest: (((id & 0xffff) << 16) | (seq & 0xffff)) >>> 0, data });
  return b;
}

/** vxlanHdr builds the 8-byte VXLAN header. */
export function vxlanHdr(vni: number, flags = VXLAN_FLAG_I): Buffer {
  const h = Buffer.alloc(VXLAN_HEADER_SIZE);
  encodeVxlan(h, 0, { flags, vni });
  return h;
}

/** UNDERLAY_A_MAC and UNDERLAY_B_MAC are the outer MACs of `vxlanFrame` and `flannelUdpFrame`. */
export const UNDERLAY_A_MAC = '02:00:c0:00:02:01';
export const UNDERLAY_B_MAC = '02:00:c0:00:02:02';

/** vxlanFrame wraps an inner Ethernet frame into outer Ethernet/IPv4/UDP/VXLAN, 192.0.2.1 -> 192.0.2.2. */
export function vxlanFrame(
  inner: Buffer,
  o: { vni?: number; flags?: number; sport?: number; dport?: number } = {},
): Buffer {
  const payload = Buffer.concat([vxlanHdr(o.vni ?? 1, o.flags ?? VXLAN_FLAG_I), inner]);
  return eth(
    UNDERLAY_B_MAC,
    UNDERLAY_A_MAC,
    0x0800,
    ipv4('192.0.2.1', '192.0.2.2', IP_PROTO_UDP, udp(o.sport ?? 49321, o.dport ?? 8472, payload)),
  );
}

/** flannelUdpFrame wraps an inner IP packet into outer Ethernet/IPv4/UDP 8285. */
export function flannelUdpFrame(innerIp: Buffer, port = 8285): Buffer {
  return eth(
    UNDERLAY_B_MAC,
    UNDERLAY_A_MAC,
    0x0800,
    ipv4('192.0.2.1', '192.0.2.2', IP_PROTO_UDP, udp(port, port, innerIp)),
  );
}

// ---------------------------------------------------------------------------------------------
// Whole packets from options.

/** Ipv4PacketOptions describe an IPv4 packet built by `buildIpv4`. */
export interface Ipv4PacketOptions {
  /** Source and destination, dotted quads. */
  src: string;
  dst: string;
  /** IP protocol number (default 17, UDP). */
  protocol?: number;
  /** Time to live (default 64). */
  ttl?: number;
  /** Don't Fragment bit (default true, as Linux sets it on most traffic). */
  df?: boolean;
  /** Payload after the 20-byte header (default empty). */
  payload?: Uint8Array;
  /** Identification field (default 0). */
  id?: number;
}

/** buildIpv4 returns a new IPv4 packet (20-byte header, valid checksum) carrying `payload`. */
export function buildIpv4(o: Ipv4PacketOptions): Buffer {
  return ipv4(o.src, o.dst, o.protocol ?? IP_PROTO_UDP, o.payload ?? new Uint8Array(0), {
    df: o.df !== false,
    ttl: o.ttl,
    id: o.id ?? 0,
  });
}

/** buildIcmpEcho returns an IPv4 ICMP echo request (`ping`) with `size` bytes of patterned data. */
export function buildIcmpEcho(
  src: string,
  dst: string,
  o: { id?: number; seq?: number; size?: number; ttl?: number; df?: boolean } = {},
): Buffer {
  const icmp = icmpEcho(ICMPV4_ECHO_REQUEST, o.id ?? 0x1234, o.seq ?? 1, o.size ?? 56);
  return buildIpv4({ src, dst, protocol: IP_PROTO_ICMP, ttl: o.ttl, df: o.df, payload: icmp });
}

/** buildIpv6 returns a new IPv6 packet (next header 59, "no next header") with `payloadLength` zero bytes. */
export function buildIpv6(src: Uint8Array, dst: Uint8Array, payloadLength = 0, hopLimit = 64): Buffer {
  const b = Buffer.alloc(IPV6_HEADER_SIZE + payloadLength);
  encodeIpv6(b, 0, { trafficClass: 0, flowLabel: 0, payloadLength, nextHeader: 59, hopLimit, src, dst });
  return b;
}

// ---------------------------------------------------------------------------------------------
// In-place writers: a packet at an offset of a slot, as in the data path's batches.

/** V4Opts are the fields `writeV4` lets a caller choose. */
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
  id?: number;
}

/**
 * writeV4 writes an IPv4 packet (UDP/TCP with ports, ICMP echo, or opaque payload) at `off` and
 * returns its length. Payload bytes are a deterministic pattern.
 */
export function writeV4(buf: Buffer, off: number, o: V4Opts = {}): number {
  const proto = o.proto ?? IP_PROTO_UDP;
  const payload = o.payload ?? 32;
  const l4 = off + IPV4_MIN_HEADER_SIZE;
  const total = IPV4_MIN_HEADER_SIZE + payload;
  for (let i = 0; i < payload; i++) buf[l4 + i] = (i * 7 + 3) & 0xff;
  if ((proto === IP_PROTO_UDP || proto === IP_PROTO_TCP) && payload >= 4) {
    buf.writeUInt16BE(o.sport ?? 40000, l4);
    buf.writeUInt16BE(o.dport ?? 80, l4 + 2);
  }
  if (proto === IP_PROTO_UDP && payload >= UDP_HEADER_SIZE) buf.writeUInt16BE(payload, l4 + 4);
  if (proto === IP_PROTO_ICMP && payload >= ICMPV4_HEADER_SIZE) {
    buf[l4] = ICMPV4_ECHO_REQUEST;
    buf[l4 + 1] = 0;
  }
  encodeIpv4(buf, off, {
    tos: 0,
    totalLength: total,
    id: o.id ?? 0x1234,
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
  const l4 = off + IPV6_HEADER_SIZE;
  for (let i = 0; i < payload; i++) buf[l4 + i] = i & 0xff;
  if (payload >= 4) {
    buf.writeUInt16BE(sport, l4);
    buf.writeUInt16BE(dport, l4 + 2);
  }
  encodeIpv6(buf, off, {
    trafficClass: 0,
    flowLabel: 0,
    payloadLength: payload,
    nextHeader: IP_PROTO_UDP,
    hopLimit: hop,
    src,
    dst,
  });
  return IPV6_HEADER_SIZE + payload;
}

/** L4Kind is an inner packet kind: IP version and L4 protocol (6 TCP, 17 UDP). */
export type L4Kind = { v6: boolean; proto: 6 | 17 };
/** L4_KINDS are the four kinds. */
export const L4_KINDS: L4Kind[] = [
  { v6: false, proto: 6 },
  { v6: false, proto: 17 },
  { v6: true, proto: 6 },
  { v6: true, proto: 17 },
];
/** l4KindName names a kind, e.g. TCP/IPv4. */
export const l4KindName = (k: L4Kind): string => `${k.proto === 6 ? 'TCP' : 'UDP'}/IPv${k.v6 ? 6 : 4}`;

/**
 * writeL4Packet writes an IP packet with a TCP (20-byte header + 12 bytes of options) or UDP header
 * and `payload` pseudo-random bytes at buf[off], 10.244.0.1 -> 10.244.1.1 (fd00::1 -> fd00::2);
 * its L4 checksum is complete, or partial as a kernel leaves it (CHECKSUM_PARTIAL). Returns the
 * packet length.
 */
export function writeL4Packet(
  buf: Buffer,
  off: number,
  k: L4Kind,
  o: { payload: number; partial: boolean; seed?: number; seq?: number; flags?: number },
): number {
  const l4 = k.v6 ? IPV6_HEADER_SIZE : IPV4_MIN_HEADER_SIZE;
  const l4Hdr = k.proto === IP_PROTO_TCP ? 32 : UDP_HEADER_SIZE;
  const len = l4 + l4Hdr + o.payload;
  buf.fill(0, off, off + len);
  if (k.v6) {
    encodeIpv6(buf, off, {
      trafficClass: 0,
      flowLabel: 0,
      payloadLength: len - IPV6_HEADER_SIZE,
      nextHeader: k.proto,
      hopLimit: 64,
      src: Buffer.from('fd000000000000000000000000000001', 'hex'),
      dst: Buffer.from('fd000000000000000000000000000002', 'hex'),
    });
  } else {
    encodeIpv4(buf, off, {
      tos: 0,
      totalLength: len,
      id: 0,
      df: true,
      mf: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: k.proto,
      src: 0x0af40001,
      dst: 0x0af40101,
    });
  }
  const th = off + l4;
  buf.writeUInt16BE(40000, th);
  buf.writeUInt16BE(5001, th + 2);
  if (k.proto === IP_PROTO_TCP) {
    buf.writeUInt32BE(o.seq ?? 1000, th + 4);
    buf.writeUInt32BE(77, th + 8);
    buf[th + 12] = 8 << 4;
    buf[th + 13] = o.flags ?? 0x10;
    buf.writeUInt16BE(500, th + 14);
    buf.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], th + 20);
  } else {
    buf.writeUInt16BE(len - l4, th + 4);
  }
  let x = o.seed ?? 1;
  for (let i = 0; i < o.payload; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[th + l4Hdr + i] = x >>> 24;
  }
  const pseudo = k.v6
    ? pseudoSumIpv6(buf, off, k.proto, len - l4)
    : pseudoSumIpv4(buf, off, k.proto, len - l4);
  const field = th + (k.proto === IP_PROTO_TCP ? 16 : 6);
  if (o.partial) {
    buf.writeUInt16BE(checksumFold(pseudo), field);
  } else {
    let c = internetChecksum(buf, th, len - l4, pseudo);
    if (c === 0 && k.proto === IP_PROTO_UDP) c = 0xffff;
    buf.writeUInt16BE(c, field);
  }
  return len;
}

/** l4ChecksumValid verifies the L4 checksum of the IP packet at buf[off..off+len) from scratch. */
export function l4ChecksumValid(buf: Buffer, off: number, len: number): boolean {
  const v6 = buf[off]! >>> 4 === 6;
  const l4 = v6 ? IPV6_HEADER_SIZE : (buf[off]! & 0x0f) << 2;
  const proto = v6 ? buf[off + 6]! : buf[off + 9]!;
  const pseudo = v6 ? pseudoSumIpv6(buf, off, proto, len - l4) : pseudoSumIpv4(buf, off, proto, len - l4);
  return internetChecksum(buf, off + l4, len - l4, pseudo) === 0;
}

/**
 * tunWrites returns what a TUN receives from a descriptor table (the addon's tunWrite contract):
 * descriptor k alone, or, when trains[k] >= 2, descriptors [k, k + trains[k]) concatenated into
 * one packet (one writev). Copies; for tests.
 */
export function tunWrites(
  buf: Uint8Array,
  offsets: Uint32Array,
  lengths: Uint32Array,
  trains: Uint16Array,
  count: number,
): Buffer[] {
  const out: Buffer[] = [];
  for (let k = 0; k < count;) {
    const members = trains[k]! >= 2 ? trains[k]! : 1;
    if (k + members > count) throw new Error(`train at ${k} of ${members} runs past ${count} descriptors`);
    const parts: Uint8Array[] = [];
    for (let m = k; m < k + members; m++) parts.push(buf.subarray(offsets[m]!, offsets[m]! + lengths[m]!));
    out.push(Buffer.concat(parts));
    k += members;
  }
  return out;
}
