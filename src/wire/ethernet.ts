/**
 * Ethernet II header (IEEE 802.3 §3.2 / RFC 894 framing), as carried inside VXLAN: RFC 7348 §5
 * says the inner frame has no FCS, and §6.1 that it SHOULD carry no 802.1Q tag.
 *
 *   0                   6                   12      14
 *   +-------------------+-------------------+-------+
 *   | destination MAC   | source MAC        | type  |
 *   +-------------------+-------------------+-------+
 *
 * Accessors assume `isValidEthernet` held for the frame; they do no bounds checks.
 */

/** ETH_HEADER_SIZE is the length of an untagged Ethernet II header: 6 + 6 + 2 bytes. */
export const ETH_HEADER_SIZE = 14;
/** ETH_ADDR_SIZE is the length of a MAC address. */
export const ETH_ADDR_SIZE = 6;
/** ETH_OFF_DST is the offset of the "destination address" field. */
export const ETH_OFF_DST = 0;
/** ETH_OFF_SRC is the offset of the "source address" field. */
export const ETH_OFF_SRC = 6;
/** ETH_OFF_TYPE is the offset of the "EtherType" field. */
export const ETH_OFF_TYPE = 12;

/** ETHERTYPE_IPV4 is the EtherType of an IPv4 payload (RFC 894). */
export const ETHERTYPE_IPV4 = 0x0800;
/** ETHERTYPE_ARP is the EtherType of an ARP payload (RFC 826). */
export const ETHERTYPE_ARP = 0x0806;
/** ETHERTYPE_VLAN is the 802.1Q tag protocol identifier; VXLAN decap treats it as a bad EtherType. */
export const ETHERTYPE_VLAN = 0x8100;
/** ETHERTYPE_IPV6 is the EtherType of an IPv6 payload (RFC 2464). */
export const ETHERTYPE_IPV6 = 0x86dd;

/** EthernetFields holds the values of an Ethernet header, for `encodeEthernet` and tests. */
export interface EthernetFields {
  /** "destination address", 6 bytes. */
  dst: Uint8Array;
  /** "source address", 6 bytes. */
  src: Uint8Array;
  /** "EtherType". */
  etherType: number;
}

/** ethEtherType reads the "EtherType" field. */
export function ethEtherType(buf: Uint8Array, off: number): number {
  return (buf[off + ETH_OFF_TYPE] << 8) | buf[off + ETH_OFF_TYPE + 1];
}

/** setEthEtherType writes the "EtherType" field. */
export function setEthEtherType(buf: Uint8Array, off: number, v: number): void {
  buf[off + ETH_OFF_TYPE] = v >>> 8;
  buf[off + ETH_OFF_TYPE + 1] = v;
}

/** setEthDst copies a 6-byte MAC into the "destination address" field. */
export function setEthDst(buf: Uint8Array, off: number, mac: Uint8Array): void {
  copyMac(buf, off + ETH_OFF_DST, mac);
}

/** setEthSrc copies a 6-byte MAC into the "source address" field. */
export function setEthSrc(buf: Uint8Array, off: number, mac: Uint8Array): void {
  copyMac(buf, off + ETH_OFF_SRC, mac);
}

/** ethDstEquals reports whether the "destination address" field equals `mac`. */
export function ethDstEquals(buf: Uint8Array, off: number, mac: Uint8Array): boolean {
  return macEquals(buf, off + ETH_OFF_DST, mac);
}

/** ethSrcEquals reports whether the "source address" field equals `mac`. */
export function ethSrcEquals(buf: Uint8Array, off: number, mac: Uint8Array): boolean {
  return macEquals(buf, off + ETH_OFF_SRC, mac);
}

/**
 * macEquals compares the 6 bytes at buf[off..off+6) with `mac` without allocating; a byte loop
 * beats `Buffer.compare` for 6 bytes because it avoids the native call.
 */
export function macEquals(buf: Uint8Array, off: number, mac: Uint8Array): boolean {
  return (
    buf[off] === mac[0] &&
    buf[off + 1] === mac[1] &&
    buf[off + 2] === mac[2] &&
    buf[off + 3] === mac[3] &&
    buf[off + 4] === mac[4] &&
    buf[off + 5] === mac[5]
  );
}

/** copyMac writes the 6 bytes of `mac` to buf[off..off+6). */
export function copyMac(buf: Uint8Array, off: number, mac: Uint8Array): void {
  buf[off] = mac[0];
  buf[off + 1] = mac[1];
  buf[off + 2] = mac[2];
  buf[off + 3] = mac[3];
  buf[off + 4] = mac[4];
  buf[off + 5] = mac[5];
}

/**
 * writeEthernetHeader writes a whole header at `off` (destination, source, EtherType) and returns
 * 14. Hot-path encoder: unrolled, and used only by the packet path, so its stores stay
 * monomorphic (copyMac also serves control paths with other array types).
 */
export function writeEthernetHeader(
  buf: Uint8Array,
  off: number,
  dst: Uint8Array,
  src: Uint8Array,
  etherType: number,
): number {
  buf[off] = dst[0];
  buf[off + 1] = dst[1];
  buf[off + 2] = dst[2];
  buf[off + 3] = dst[3];
  buf[off + 4] = dst[4];
  buf[off + 5] = dst[5];
  buf[off + ETH_OFF_SRC] = src[0];
  buf[off + ETH_OFF_SRC + 1] = src[1];
  buf[off + ETH_OFF_SRC + 2] = src[2];
  buf[off + ETH_OFF_SRC + 3] = src[3];
  buf[off + ETH_OFF_SRC + 4] = src[4];
  buf[off + ETH_OFF_SRC + 5] = src[5];
  buf[off + ETH_OFF_TYPE] = etherType >>> 8;
  buf[off + ETH_OFF_TYPE + 1] = etherType;
  return ETH_HEADER_SIZE;
}

/** isValidEthernet reports whether buf[off..off+len) holds at least a full untagged header. */
export function isValidEthernet(buf: Uint8Array, off: number, len: number): boolean {
  return len >= ETH_HEADER_SIZE && off >= 0 && off + len <= buf.length;
}

/** encodeEthernet writes a full header at `off` and returns its length (14). Control/test path. */
export function encodeEthernet(buf: Uint8Array, off: number, f: EthernetFields): number {
  copyMac(buf, off + ETH_OFF_DST, f.dst);
  copyMac(buf, off + ETH_OFF_SRC, f.src);
  setEthEtherType(buf, off, f.etherType);
  return ETH_HEADER_SIZE;
}

/** decodeEthernet reads a header into a fresh object (allocates; control/test path only). */
export function decodeEthernet(buf: Uint8Array, off: number): EthernetFields {
  return {
    dst: Buffer.from(buf.subarray(off + ETH_OFF_DST, off + ETH_OFF_DST + ETH_ADDR_SIZE)),
    src: Buffer.from(buf.subarray(off + ETH_OFF_SRC, off + ETH_OFF_SRC + ETH_ADDR_SIZE)),
    etherType: ethEtherType(buf, off),
  };
}
