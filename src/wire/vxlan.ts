/**
 * VXLAN header, RFC 7348 §5 ("VXLAN Frame Format").
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |R|R|R|R|I|R|R|R|            Reserved                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                VXLAN Network Identifier (VNI) |   Reserved    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * RFC 7348 §5: the I flag MUST be 1 for a valid VNI; the other flag bits and both reserved fields
 * MUST be zero on transmit and MUST be ignored on receipt. (Linux drops frames with unknown bits
 * set unless GBP/RCO are enabled; weft follows the RFC and accepts them, counting an anomaly.)
 * The inner payload is an Ethernet frame without FCS. IANA port 4789 (§5); Linux and flannel
 * default to 8472.
 *
 * Remote Checksum Offload (draft-herbert-vxlan-rco-00; Linux `remcsumtx`/`remcsumrx`, kernel
 * include/net/vxlan.h VXLAN_HF_RCO, VXLAN_RCO_MASK/UDP/SHIFT, drivers/net/vxlan vxlan_remcsum)
 * gives the "C" flag and the trailing reserved byte a meaning:
 *
 *   |R|R|R|R|I|R|R|R|R|R|C|              Reserved                   |
 *   |           VXLAN Network Identifier (VNI)      |O| Csum start  |
 *
 *   C          bit 21 of the first word (byte 1, 0x20): the RCO fields below are present.
 *   O          byte 7, 0x80: the checksum field is at start + 6 (UDP); clear: start + 16 (TCP).
 *   Csum start byte 7, low 7 bits: where the checksum coverage starts, in 2-byte units, counted
 *              from the end of the VXLAN header (the inner Ethernet header's first byte), so at
 *              most 254 bytes and always even.
 * The inner L4 checksum field then holds only the pseudo-header sum (what a CHECKSUM_PARTIAL
 * skb carries); the receiver sums from start to the end of the frame into it. The outer UDP
 * checksum is what protects those bytes in flight. A receiver without RCO must drop such frames
 * (Linux counts them as rx_frame_errors); weft does when `--vxlan-rco` is off.
 */

/** VXLAN_HEADER_SIZE is the length of the VXLAN header. */
export const VXLAN_HEADER_SIZE = 8;
/** VXLAN_OFF_FLAGS is the offset of the "Flags" byte (R R R R I R R R). */
export const VXLAN_OFF_FLAGS = 0;
/** VXLAN_OFF_RESERVED1 is the offset of the first, 24-bit "Reserved" field. */
export const VXLAN_OFF_RESERVED1 = 1;
/** VXLAN_OFF_VNI is the offset of the 24-bit "VXLAN Network Identifier". */
export const VXLAN_OFF_VNI = 4;
/** VXLAN_OFF_RESERVED2 is the offset of the trailing 8-bit "Reserved" field. */
export const VXLAN_OFF_RESERVED2 = 7;
/** VXLAN_FLAG_I is the "I" flag: set when the VNI is valid; the only bit a sender may set. */
export const VXLAN_FLAG_I = 0x08;
/** VXLAN_OFF_RCO_FLAG is the byte holding the RCO "C" flag (bit 21 of the first word). */
export const VXLAN_OFF_RCO_FLAG = 1;
/** VXLAN_FLAG_RCO is the "C" flag in byte VXLAN_OFF_RCO_FLAG. */
export const VXLAN_FLAG_RCO = 0x20;
/** VXLAN_OFF_RCO is the byte holding the O bit and the checksum start (the trailing reserved byte). */
export const VXLAN_OFF_RCO = 7;
/** VXLAN_RCO_UDP is the O bit: the checksum field is a UDP one (offset 6), else TCP (offset 16). */
export const VXLAN_RCO_UDP = 0x80;
/** VXLAN_RCO_START_MASK masks the checksum start (in units of 1 << VXLAN_RCO_SHIFT bytes). */
export const VXLAN_RCO_START_MASK = 0x7f;
/** VXLAN_RCO_SHIFT is the left shift from the encoded start to bytes. */
export const VXLAN_RCO_SHIFT = 1;
/** VXLAN_MAX_RCO_START is the largest encodable checksum start (254 bytes). */
export const VXLAN_MAX_RCO_START = VXLAN_RCO_START_MASK << VXLAN_RCO_SHIFT;
/** VXLAN_RCO_TCP_OFFSET / VXLAN_RCO_UDP_OFFSET: checksum field offsets from the start (RFC 9293, RFC 768). */
export const VXLAN_RCO_TCP_OFFSET = 16;
export const VXLAN_RCO_UDP_OFFSET = 6;
/** VXLAN_MAX_VNI is the largest 24-bit VNI. */
export const VXLAN_MAX_VNI = 0xffffff;
/** VXLAN_IANA_PORT is the IANA-assigned UDP destination port (RFC 7348 §5). */
export const VXLAN_IANA_PORT = 4789;

/** VxlanFields holds the values of a VXLAN header, for `encodeVxlan` and tests. */
export interface VxlanFields {
  /** "Flags" byte; senders use exactly VXLAN_FLAG_I. */
  flags: number;
  /** "VXLAN Network Identifier", 24 bits. */
  vni: number;
}

/** vxlanFlags reads the "Flags" byte. */
export function vxlanFlags(buf: Uint8Array, off: number): number {
  return buf[off + VXLAN_OFF_FLAGS];
}

/** setVxlanFlags writes the "Flags" byte. */
export function setVxlanFlags(buf: Uint8Array, off: number, v: number): void {
  buf[off + VXLAN_OFF_FLAGS] = v;
}

/** vxlanHasVni reads the "I" flag: whether the VNI field is valid. */
export function vxlanHasVni(buf: Uint8Array, off: number): boolean {
  return (buf[off + VXLAN_OFF_FLAGS] & VXLAN_FLAG_I) !== 0;
}

/** vxlanVni reads the 24-bit "VXLAN Network Identifier". */
export function vxlanVni(buf: Uint8Array, off: number): number {
  const o = off + VXLAN_OFF_VNI;
  return (buf[o] << 16) | (buf[o + 1] << 8) | buf[o + 2];
}

/** setVxlanVni writes the 24-bit "VXLAN Network Identifier". */
export function setVxlanVni(buf: Uint8Array, off: number, v: number): void {
  const o = off + VXLAN_OFF_VNI;
  buf[o] = v >>> 16;
  buf[o + 1] = v >>> 8;
  buf[o + 2] = v;
}

/** vxlanHasRco reads the RCO "C" flag. */
export function vxlanHasRco(buf: Uint8Array, off: number): boolean {
  return (buf[off + VXLAN_OFF_RCO_FLAG] & VXLAN_FLAG_RCO) !== 0;
}

/** vxlanRcoStart reads the RCO checksum start in bytes, from the first byte after the VXLAN header. */
export function vxlanRcoStart(buf: Uint8Array, off: number): number {
  return (buf[off + VXLAN_OFF_RCO] & VXLAN_RCO_START_MASK) << VXLAN_RCO_SHIFT;
}

/** vxlanRcoOffset reads the RCO checksum offset from the start: 6 (O bit set, UDP) or 16 (TCP). */
export function vxlanRcoOffset(buf: Uint8Array, off: number): number {
  return (buf[off + VXLAN_OFF_RCO] & VXLAN_RCO_UDP) !== 0 ? VXLAN_RCO_UDP_OFFSET : VXLAN_RCO_TCP_OFFSET;
}

/**
 * setVxlanRco sets the "C" flag and the RCO fields of the header at `off`: checksum coverage from
 * `start` bytes after the header (even, <= 254; the caller checks), field at +6 when `udp`, else +16.
 * Hot-path encoder (after `writeVxlanHeader`).
 */
export function setVxlanRco(buf: Uint8Array, off: number, start: number, udp: boolean): void {
  buf[off + VXLAN_OFF_RCO_FLAG] |= VXLAN_FLAG_RCO;
  buf[off + VXLAN_OFF_RCO] = (start >>> VXLAN_RCO_SHIFT) | (udp ? VXLAN_RCO_UDP : 0);
}

/**
 * vxlanReservedBitsSet reports whether any bit a sender must leave zero is set: the seven
 * reserved flag bits, the 24-bit reserved field or the trailing reserved byte. With `rco`, the
 * RCO "C" flag and (when it is set) the trailing byte are not counted as reserved.
 */
export function vxlanReservedBitsSet(buf: Uint8Array, off: number, rco = false): boolean {
  const r = off + VXLAN_OFF_RESERVED1;
  const c = rco && (buf[off + VXLAN_OFF_RCO_FLAG] & VXLAN_FLAG_RCO) !== 0;
  const first = c ? buf[r] & ~VXLAN_FLAG_RCO : buf[r];
  return (
    ((buf[off + VXLAN_OFF_FLAGS] & ~VXLAN_FLAG_I) |
      first |
      buf[r + 1] |
      buf[r + 2] |
      (c ? 0 : buf[off + VXLAN_OFF_RESERVED2])) !==
    0
  );
}

/**
 * writeVxlanHeader writes a header exactly as RFC 7348 §5 asks of a sender: flags 0x08, all
 * reserved bits zero, the given VNI. Hot-path encoder.
 */
export function writeVxlanHeader(buf: Uint8Array, off: number, vni: number): void {
  const r = off + VXLAN_OFF_RESERVED1;
  const v = off + VXLAN_OFF_VNI;
  buf[off + VXLAN_OFF_FLAGS] = VXLAN_FLAG_I;
  buf[r] = 0;
  buf[r + 1] = 0;
  buf[r + 2] = 0;
  buf[v] = vni >>> 16;
  buf[v + 1] = vni >>> 8;
  buf[v + 2] = vni;
  buf[off + VXLAN_OFF_RESERVED2] = 0;
}

/**
 * isValidVxlan is the edge check for a VXLAN header in buf[off..off+len): at least 8 bytes and
 * the I flag set. Reserved bits are ignored, as RFC 7348 §5 requires of receivers.
 */
export function isValidVxlan(buf: Uint8Array, off: number, len: number): boolean {
  if (len < VXLAN_HEADER_SIZE || off < 0 || off + len > buf.length) return false;
  return (buf[off] & VXLAN_FLAG_I) !== 0;
}

/**
 * encodeVxlan writes a header with arbitrary flags (tests need to set reserved bits) and returns 8.
 * Reserved fields are zeroed. Control/test path; the hot path uses `writeVxlanHeader`.
 */
export function encodeVxlan(buf: Uint8Array, off: number, f: VxlanFields): number {
  writeVxlanHeader(buf, off, f.vni);
  buf[off + VXLAN_OFF_FLAGS] = f.flags;
  return VXLAN_HEADER_SIZE;
}

/** decodeVxlan reads a header into a fresh object (allocates; control/test path only). */
export function decodeVxlan(buf: Uint8Array, off: number): VxlanFields {
  return { flags: vxlanFlags(buf, off), vni: vxlanVni(buf, off) };
}
