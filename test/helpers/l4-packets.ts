/**
 * Inner TCP/UDP packets over IPv4 and IPv6 with complete or partial (kernel CHECKSUM_PARTIAL)
 * checksums, for the partial-checksum unit tests and the ingress counter fuzzer.
 */
import { pseudoSumIpv4, pseudoSumIpv6 } from '../../src/wire/tcp';
import { checksumFold, internetChecksum } from '../../src/wire/checksum';

/** Kind is an inner packet kind: IP version and L4 protocol (6 TCP, 17 UDP). */
export type Kind = { v6: boolean; proto: 6 | 17 };
/** KINDS are the four kinds. */
export const KINDS: Kind[] = [
  { v6: false, proto: 6 },
  { v6: false, proto: 17 },
  { v6: true, proto: 6 },
  { v6: true, proto: 17 },
];
/** kindName names a kind, e.g. TCP/IPv4. */
export const kindName = (k: Kind): string => `${k.proto === 6 ? 'TCP' : 'UDP'}/IPv${k.v6 ? 6 : 4}`;

/**
 * writePacket writes an IP packet with a TCP (20-byte header + 12 bytes of options) or UDP header
 * and `payload` pseudo-random bytes at buf[off]; its L4 checksum is complete, or partial as a
 * kernel leaves it. Returns the packet length.
 */
export function writePacket(
  buf: Buffer,
  off: number,
  k: Kind,
  o: { payload: number; partial: boolean; seed?: number; seq?: number; flags?: number },
): number {
  const l4 = k.v6 ? 40 : 20;
  const l4Hdr = k.proto === 6 ? 32 : 8;
  const len = l4 + l4Hdr + o.payload;
  buf.fill(0, off, off + len);
  if (k.v6) {
    buf[off] = 0x60;
    buf.writeUInt16BE(len - 40, off + 4);
    buf[off + 6] = k.proto;
    buf[off + 7] = 64;
    Buffer.from('fd000000000000000000000000000001', 'hex').copy(buf, off + 8);
    Buffer.from('fd000000000000000000000000000002', 'hex').copy(buf, off + 24);
  } else {
    buf[off] = 0x45;
    buf.writeUInt16BE(len, off + 2);
    buf[off + 6] = 0x40;
    buf[off + 8] = 64;
    buf[off + 9] = k.proto;
    buf.writeUInt32BE(0x0af40001, off + 12);
    buf.writeUInt32BE(0x0af40101, off + 16);
    buf.writeUInt16BE(internetChecksum(buf, off, 20), off + 10);
  }
  const th = off + l4;
  buf.writeUInt16BE(40000, th);
  buf.writeUInt16BE(5001, th + 2);
  if (k.proto === 6) {
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
  const field = th + (k.proto === 6 ? 16 : 6);
  if (o.partial) {
    buf.writeUInt16BE(checksumFold(pseudo), field);
  } else {
    let c = internetChecksum(buf, th, len - l4, pseudo);
    if (c === 0 && k.proto === 17) c = 0xffff;
    buf.writeUInt16BE(c, field);
  }
  return len;
}

/** l4Valid verifies the L4 checksum of the IP packet at buf[off..off+len) from scratch. */
export function l4Valid(buf: Buffer, off: number, len: number): boolean {
  const v6 = buf[off]! >>> 4 === 6;
  const l4 = v6 ? 40 : (buf[off]! & 0x0f) << 2;
  const proto = v6 ? buf[off + 6]! : buf[off + 9]!;
  const pseudo = v6 ? pseudoSumIpv6(buf, off, proto, len - l4) : pseudoSumIpv4(buf, off, proto, len - l4);
  return internetChecksum(buf, off + l4, len - l4, pseudo) === 0;
}
