/**
 * packets: builders of small, valid IP packets for tests and benchmarks (control path: they
 * allocate). Checksums are real (RFC 1071), so packets survive a kernel too.
 */
import { internetChecksum } from '../wire/checksum';
import { ipv4ToU32 } from '../route/addr';

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
  const payload = o.payload ?? new Uint8Array(0);
  const b = Buffer.alloc(20 + payload.length);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(o.id ?? 0, 4);
  b[6] = o.df === false ? 0 : 0x40;
  b[8] = o.ttl ?? 64;
  b[9] = o.protocol ?? 17;
  b.writeUInt32BE(ipv4ToU32(o.src), 12);
  b.writeUInt32BE(ipv4ToU32(o.dst), 16);
  b.writeUInt16BE(internetChecksum(b, 0, 20), 10);
  b.set(payload, 20);
  return b;
}

/** buildIcmpEcho returns an IPv4 ICMP echo request (`ping`) with `size` bytes of patterned data. */
export function buildIcmpEcho(
  src: string,
  dst: string,
  o: { id?: number; seq?: number; size?: number; ttl?: number; df?: boolean } = {},
): Buffer {
  const size = o.size ?? 56;
  const icmp = Buffer.alloc(8 + size);
  icmp[0] = 8;
  icmp.writeUInt16BE(o.id ?? 0x1234, 4);
  icmp.writeUInt16BE(o.seq ?? 1, 6);
  for (let i = 0; i < size; i++) icmp[8 + i] = i & 0xff;
  icmp.writeUInt16BE(internetChecksum(icmp, 0, icmp.length), 2);
  return buildIpv4({ src, dst, protocol: 1, ttl: o.ttl, df: o.df, payload: icmp });
}

/** buildIpv6 returns a new IPv6 packet (next header 59, "no next header") with `payloadLength` zero bytes. */
export function buildIpv6(src: Uint8Array, dst: Uint8Array, payloadLength = 0, hopLimit = 64): Buffer {
  const b = Buffer.alloc(40 + payloadLength);
  b[0] = 0x60;
  b.writeUInt16BE(payloadLength, 4);
  b[6] = 59;
  b[7] = hopLimit;
  b.set(src, 8);
  b.set(dst, 24);
  return b;
}
