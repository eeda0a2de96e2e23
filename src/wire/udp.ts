/**
 * UDP header, RFC 768; checksum over the IPv4 pseudo-header (RFC 768) and the IPv6 pseudo-header
 * (RFC 8200 §8.1). A transmitted checksum of 0 means "none" over IPv4, so a computed 0 is sent as
 * 0xffff; over IPv6 the checksum is mandatory (RFC 8200 §8.1).
 *
 *    0      7 8     15 16    23 24    31
 *   +--------+--------+--------+--------+
 *   |   Source Port   | Destination Port|
 *   +--------+--------+--------+--------+
 *   |     Length      |    Checksum     |
 *   +--------+--------+--------+--------+
 *
 * Always call `isValidUdp` once at the edge; the accessors trust the buffer after that.
 */
import { checksumAdd, checksumFinish } from './checksum';
import { IP_PROTO_UDP } from './ipv4';

/** UDP_HEADER_SIZE is the length of the UDP header. */
export const UDP_HEADER_SIZE = 8;
/** UDP_OFF_SRC_PORT is the offset of the "Source Port" field. */
export const UDP_OFF_SRC_PORT = 0;
/** UDP_OFF_DST_PORT is the offset of the "Destination Port" field. */
export const UDP_OFF_DST_PORT = 2;
/** UDP_OFF_LENGTH is the offset of the "Length" field (header + data). */
export const UDP_OFF_LENGTH = 4;
/** UDP_OFF_CHECKSUM is the offset of the "Checksum" field. */
export const UDP_OFF_CHECKSUM = 6;

/** UdpFields holds the values of a UDP header, for `encodeUdp` and tests. */
export interface UdpFields {
  /** "Source Port". */
  srcPort: number;
  /** "Destination Port". */
  dstPort: number;
  /** "Length": header plus data in bytes. */
  length: number;
  /** "Checksum" (0 = none, IPv4 only). */
  checksum: number;
}

/** udpSrcPort reads the "Source Port" field. */
export function udpSrcPort(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/** setUdpSrcPort writes the "Source Port" field. */
export function setUdpSrcPort(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v;
}

/** udpDstPort reads the "Destination Port" field. */
export function udpDstPort(buf: Uint8Array, off: number): number {
  return (buf[off + UDP_OFF_DST_PORT] << 8) | buf[off + UDP_OFF_DST_PORT + 1];
}

/** setUdpDstPort writes the "Destination Port" field. */
export function setUdpDstPort(buf: Uint8Array, off: number, v: number): void {
  buf[off + UDP_OFF_DST_PORT] = v >>> 8;
  buf[off + UDP_OFF_DST_PORT + 1] = v;
}

/** udpLength reads the "Length" field. */
export function udpLength(buf: Uint8Array, off: number): number {
  return (buf[off + UDP_OFF_LENGTH] << 8) | buf[off + UDP_OFF_LENGTH + 1];
}

/** setUdpLength writes the "Length" field. */
export function setUdpLength(buf: Uint8Array, off: number, v: number): void {
  buf[off + UDP_OFF_LENGTH] = v >>> 8;
  buf[off + UDP_OFF_LENGTH + 1] = v;
}

/** udpChecksum reads the "Checksum" field. */
export function udpChecksum(buf: Uint8Array, off: number): number {
  return (buf[off + UDP_OFF_CHECKSUM] << 8) | buf[off + UDP_OFF_CHECKSUM + 1];
}

/** setUdpChecksum writes the "Checksum" field. */
export function setUdpChecksum(buf: Uint8Array, off: number, v: number): void {
  buf[off + UDP_OFF_CHECKSUM] = v >>> 8;
  buf[off + UDP_OFF_CHECKSUM + 1] = v;
}

/**
 * udpChecksumIpv4 computes the checksum of the datagram at buf[off..off+len) (header + data,
 * `len` = UDP "Length") under the IPv4 pseudo-header {src, dst, 0, 17, len}. The checksum field
 * must be zero while computing; a result of 0 is returned as 0xffff (RFC 768).
 */
export function udpChecksumIpv4(buf: Uint8Array, off: number, len: number, src: number, dst: number): number {
  let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IP_PROTO_UDP + len;
  sum = checksumAdd(buf, off, len, sum);
  const c = checksumFinish(sum);
  return c === 0 ? 0xffff : c;
}

/**
 * udpChecksumValidIpv4 reports whether a received datagram's checksum is correct. A zero checksum
 * means "not computed" over IPv4 and is accepted (RFC 768; RFC 7348 §5 says receivers MUST accept it).
 */
export function udpChecksumValidIpv4(
  buf: Uint8Array,
  off: number,
  len: number,
  src: number,
  dst: number,
): boolean {
  if (udpChecksum(buf, off) === 0) return true;
  let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IP_PROTO_UDP + len;
  sum = checksumAdd(buf, off, len, sum);
  return checksumFinish(sum) === 0;
}

/**
 * udpChecksumIpv6 computes the checksum of the datagram at buf[off..off+len) under the IPv6
 * pseudo-header (RFC 8200 §8.1): source and destination addresses read from `ab` at `srcOff` and
 * `dstOff` (usually the IPv6 header in front), upper-layer length, next header 17. The checksum
 * field must be zero while computing; a result of 0 is returned as 0xffff.
 */
export function udpChecksumIpv6(
  buf: Uint8Array,
  off: number,
  len: number,
  ab: Uint8Array,
  srcOff: number,
  dstOff: number,
): number {
  let sum = checksumAdd(ab, srcOff, 16, 0);
  sum = checksumAdd(ab, dstOff, 16, sum);
  sum += (len >>> 16) + (len & 0xffff) + IP_PROTO_UDP;
  sum = checksumAdd(buf, off, len, sum);
  const c = checksumFinish(sum);
  return c === 0 ? 0xffff : c;
}

/**
 * isValidUdp is the edge check for a datagram in buf[off..off+len): at least 8 bytes and
 * 8 <= "Length" <= len (IP padding after the datagram is allowed).
 */
export function isValidUdp(buf: Uint8Array, off: number, len: number): boolean {
  if (len < UDP_HEADER_SIZE || off < 0 || off + len > buf.length) return false;
  const ulen = udpLength(buf, off);
  return ulen >= UDP_HEADER_SIZE && ulen <= len;
}

/**
 * writeUdpHeader writes the whole header at `off` with the checksum field zero (compute it after,
 * e.g. `udpChecksumIpv4`, or leave it 0: "no checksum" over IPv4) and returns 8. Hot-path encoder.
 */
export function writeUdpHeader(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  length: number,
): number {
  setUdpSrcPort(buf, off, srcPort);
  setUdpDstPort(buf, off, dstPort);
  setUdpLength(buf, off, length);
  setUdpChecksum(buf, off, 0);
  return UDP_HEADER_SIZE;
}

/** encodeUdp writes the header at `off` and returns 8. Control/test path. */
export function encodeUdp(buf: Uint8Array, off: number, f: UdpFields): number {
  setUdpSrcPort(buf, off, f.srcPort);
  setUdpDstPort(buf, off, f.dstPort);
  setUdpLength(buf, off, f.length);
  setUdpChecksum(buf, off, f.checksum);
  return UDP_HEADER_SIZE;
}

/** decodeUdp reads a header into a fresh object (allocates; control/test path only). */
export function decodeUdp(buf: Uint8Array, off: number): UdpFields {
  return {
    srcPort: udpSrcPort(buf, off),
    dstPort: udpDstPort(buf, off),
    length: udpLength(buf, off),
    checksum: udpChecksum(buf, off),
  };
}
