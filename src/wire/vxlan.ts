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

/**
 * vxlanReservedBitsSet reports whether any bit a sender must leave zero is set: the seven
 * reserved flag bits, the 24-bit reserved field or the trailing reserved byte.
 */
export function vxlanReservedBitsSet(buf: Uint8Array, off: number): boolean {
  const r = off + VXLAN_OFF_RESERVED1;
  return (
    ((buf[off + VXLAN_OFF_FLAGS] & ~VXLAN_FLAG_I) |
      buf[r] |
      buf[r + 1] |
      buf[r + 2] |
      buf[off + VXLAN_OFF_RESERVED2]) !==
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
