/**
 * IPv6 fixed header, RFC 8200 §3.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-------+---------------+---------------------------------------+
 *   |Version| Traffic Class |           Flow Label                  |
 *   +-------+---------------+-------+---------------+---------------+
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   +-------------------------------+---------------+---------------+
 *   |                 Source Address (128 bits)                     |
 *   +---------------------------------------------------------------+
 *   |               Destination Address (128 bits)                  |
 *   +---------------------------------------------------------------+
 *
 * Extension headers are not parsed. Addresses stay in the buffer (16 bytes each); compare or copy
 * them in place. Always call `isValidIpv6` once at the edge; the accessors trust the buffer after.
 */

/** IPV6_HEADER_SIZE is the length of the fixed header. */
export const IPV6_HEADER_SIZE = 40;
/** IPV6_ADDR_SIZE is the length of an IPv6 address. */
export const IPV6_ADDR_SIZE = 16;
/** IPV6_VERSION is the value of the "Version" field. */
export const IPV6_VERSION = 6;

/** IPV6_OFF_VERSION_TC_FLOW is the offset of the "Version" / "Traffic Class" / "Flow Label" word. */
export const IPV6_OFF_VERSION_TC_FLOW = 0;
/** IPV6_OFF_PAYLOAD_LENGTH is the offset of the "Payload Length" field. */
export const IPV6_OFF_PAYLOAD_LENGTH = 4;
/** IPV6_OFF_NEXT_HEADER is the offset of the "Next Header" field. */
export const IPV6_OFF_NEXT_HEADER = 6;
/** IPV6_OFF_HOP_LIMIT is the offset of the "Hop Limit" field. */
export const IPV6_OFF_HOP_LIMIT = 7;
/** IPV6_OFF_SRC is the offset of the "Source Address" field. */
export const IPV6_OFF_SRC = 8;
/** IPV6_OFF_DST is the offset of the "Destination Address" field. */
export const IPV6_OFF_DST = 24;

/** Ipv6Fields holds the values of a fixed IPv6 header, for `encodeIpv6` and tests. */
export interface Ipv6Fields {
  /** "Traffic Class" (DSCP << 2 | ECN). */
  trafficClass: number;
  /** "Flow Label", 20 bits. */
  flowLabel: number;
  /** "Payload Length": bytes after the fixed header. */
  payloadLength: number;
  /** "Next Header". */
  nextHeader: number;
  /** "Hop Limit". */
  hopLimit: number;
  /** "Source Address", 16 bytes. */
  src: Uint8Array;
  /** "Destination Address", 16 bytes. */
  dst: Uint8Array;
}

/** ipv6TrafficClass reads the "Traffic Class" field. */
export function ipv6TrafficClass(buf: Uint8Array, off: number): number {
  return ((buf[off] & 0x0f) << 4) | (buf[off + 1] >>> 4);
}

/** ipv6FlowLabel reads the 20-bit "Flow Label" field. */
export function ipv6FlowLabel(buf: Uint8Array, off: number): number {
  return ((buf[off + 1] & 0x0f) << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

/** ipv6PayloadLength reads the "Payload Length" field. */
export function ipv6PayloadLength(buf: Uint8Array, off: number): number {
  return (buf[off + IPV6_OFF_PAYLOAD_LENGTH] << 8) | buf[off + IPV6_OFF_PAYLOAD_LENGTH + 1];
}

/** setIpv6PayloadLength writes the "Payload Length" field. */
export function setIpv6PayloadLength(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV6_OFF_PAYLOAD_LENGTH] = v >>> 8;
  buf[off + IPV6_OFF_PAYLOAD_LENGTH + 1] = v;
}

/** ipv6NextHeader reads the "Next Header" field. */
export function ipv6NextHeader(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_OFF_NEXT_HEADER];
}

/** setIpv6NextHeader writes the "Next Header" field. */
export function setIpv6NextHeader(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV6_OFF_NEXT_HEADER] = v;
}

/** ipv6HopLimit reads the "Hop Limit" field. */
export function ipv6HopLimit(buf: Uint8Array, off: number): number {
  return buf[off + IPV6_OFF_HOP_LIMIT];
}

/** setIpv6HopLimit writes the "Hop Limit" field (IPv6 has no header checksum to fix). */
export function setIpv6HopLimit(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV6_OFF_HOP_LIMIT] = v;
}

/** ipv6PacketLength is the whole packet's length: 40 + "Payload Length" (jumbograms unsupported). */
export function ipv6PacketLength(buf: Uint8Array, off: number): number {
  return IPV6_HEADER_SIZE + ipv6PayloadLength(buf, off);
}

/**
 * isValidIpv6 is the edge check for an IPv6 packet in buf[off..off+len): at least 40 bytes,
 * version 6, and 40 + "Payload Length" <= len (trailing padding allowed).
 */
export function isValidIpv6(buf: Uint8Array, off: number, len: number): boolean {
  if (len < IPV6_HEADER_SIZE || off < 0 || off + len > buf.length) return false;
  if (buf[off] >>> 4 !== IPV6_VERSION) return false;
  return IPV6_HEADER_SIZE + ipv6PayloadLength(buf, off) <= len;
}

/** encodeIpv6 writes the fixed header at `off` and returns 40. Control/test path. */
export function encodeIpv6(buf: Uint8Array, off: number, f: Ipv6Fields): number {
  buf[off] = (IPV6_VERSION << 4) | ((f.trafficClass >>> 4) & 0x0f);
  buf[off + 1] = ((f.trafficClass & 0x0f) << 4) | ((f.flowLabel >>> 16) & 0x0f);
  buf[off + 2] = f.flowLabel >>> 8;
  buf[off + 3] = f.flowLabel;
  setIpv6PayloadLength(buf, off, f.payloadLength);
  buf[off + IPV6_OFF_NEXT_HEADER] = f.nextHeader;
  buf[off + IPV6_OFF_HOP_LIMIT] = f.hopLimit;
  for (let i = 0; i < IPV6_ADDR_SIZE; i++) {
    buf[off + IPV6_OFF_SRC + i] = f.src[i];
    buf[off + IPV6_OFF_DST + i] = f.dst[i];
  }
  return IPV6_HEADER_SIZE;
}

/** decodeIpv6 reads a fixed header into a fresh object (allocates; control/test path only). */
export function decodeIpv6(buf: Uint8Array, off: number): Ipv6Fields {
  return {
    trafficClass: ipv6TrafficClass(buf, off),
    flowLabel: ipv6FlowLabel(buf, off),
    payloadLength: ipv6PayloadLength(buf, off),
    nextHeader: ipv6NextHeader(buf, off),
    hopLimit: ipv6HopLimit(buf, off),
    src: Buffer.from(buf.subarray(off + IPV6_OFF_SRC, off + IPV6_OFF_SRC + IPV6_ADDR_SIZE)),
    dst: Buffer.from(buf.subarray(off + IPV6_OFF_DST, off + IPV6_OFF_DST + IPV6_ADDR_SIZE)),
  };
}
