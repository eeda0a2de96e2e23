/**
 * ARP for Ethernet/IPv4, RFC 826 ("Packet format"). weft never needs ARP on the data path (flannel
 * peers use static neighbour entries, see docs/wire-formats.md); this exists so tools can decode
 * and build such frames.
 *
 *    0               2               4       5       6               8
 *   +---------------+---------------+-------+-------+---------------+
 *   | hardware type | protocol type | hlen  | plen  |   operation   |
 *   +---------------+---------------+-------+-------+---------------+
 *   | sender hardware address (6) | sender protocol address (4)     |
 *   | target hardware address (6) | target protocol address (4)     |
 *   +-----------------------------------------------------------------+
 */
import { readU32, writeU32 } from './ipv4';

/** ARP_SIZE is the length of an Ethernet/IPv4 ARP packet. */
export const ARP_SIZE = 28;
/** ARP_OFF_HTYPE is the offset of the "hardware type" field (ar$hrd). */
export const ARP_OFF_HTYPE = 0;
/** ARP_OFF_PTYPE is the offset of the "protocol type" field (ar$pro). */
export const ARP_OFF_PTYPE = 2;
/** ARP_OFF_HLEN is the offset of the "hardware address length" field (ar$hln). */
export const ARP_OFF_HLEN = 4;
/** ARP_OFF_PLEN is the offset of the "protocol address length" field (ar$pln). */
export const ARP_OFF_PLEN = 5;
/** ARP_OFF_OPER is the offset of the "operation" field (ar$op). */
export const ARP_OFF_OPER = 6;
/** ARP_OFF_SHA is the offset of the "sender hardware address" (ar$sha). */
export const ARP_OFF_SHA = 8;
/** ARP_OFF_SPA is the offset of the "sender protocol address" (ar$spa). */
export const ARP_OFF_SPA = 14;
/** ARP_OFF_THA is the offset of the "target hardware address" (ar$tha). */
export const ARP_OFF_THA = 18;
/** ARP_OFF_TPA is the offset of the "target protocol address" (ar$tpa). */
export const ARP_OFF_TPA = 24;

/** ARP_HTYPE_ETHERNET is the "hardware type" of Ethernet. */
export const ARP_HTYPE_ETHERNET = 1;
/** ARP_PTYPE_IPV4 is the "protocol type" of IPv4 (its EtherType). */
export const ARP_PTYPE_IPV4 = 0x0800;
/** ARP_OP_REQUEST is the "operation" of a request. */
export const ARP_OP_REQUEST = 1;
/** ARP_OP_REPLY is the "operation" of a reply. */
export const ARP_OP_REPLY = 2;

/** ArpFields holds the values of an Ethernet/IPv4 ARP packet, for `encodeArp` and tests. */
export interface ArpFields {
  /** "operation": ARP_OP_REQUEST or ARP_OP_REPLY. */
  op: number;
  /** "sender hardware address", 6 bytes. */
  sha: Uint8Array;
  /** "sender protocol address", host-order u32. */
  spa: number;
  /** "target hardware address", 6 bytes. */
  tha: Uint8Array;
  /** "target protocol address", host-order u32. */
  tpa: number;
}

/** arpHtype reads the "hardware type" field. */
export function arpHtype(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/** arpPtype reads the "protocol type" field. */
export function arpPtype(buf: Uint8Array, off: number): number {
  return (buf[off + ARP_OFF_PTYPE] << 8) | buf[off + ARP_OFF_PTYPE + 1];
}

/** arpHlen reads the "hardware address length" field. */
export function arpHlen(buf: Uint8Array, off: number): number {
  return buf[off + ARP_OFF_HLEN];
}

/** arpPlen reads the "protocol address length" field. */
export function arpPlen(buf: Uint8Array, off: number): number {
  return buf[off + ARP_OFF_PLEN];
}

/** arpOp reads the "operation" field. */
export function arpOp(buf: Uint8Array, off: number): number {
  return (buf[off + ARP_OFF_OPER] << 8) | buf[off + ARP_OFF_OPER + 1];
}

/** setArpOp writes the "operation" field. */
export function setArpOp(buf: Uint8Array, off: number, v: number): void {
  buf[off + ARP_OFF_OPER] = v >>> 8;
  buf[off + ARP_OFF_OPER + 1] = v;
}

/** arpSpa reads the "sender protocol address" as a host-order u32. */
export function arpSpa(buf: Uint8Array, off: number): number {
  return readU32(buf, off + ARP_OFF_SPA);
}

/** arpTpa reads the "target protocol address" as a host-order u32. */
export function arpTpa(buf: Uint8Array, off: number): number {
  return readU32(buf, off + ARP_OFF_TPA);
}

/**
 * isValidArp is the edge check for an Ethernet/IPv4 ARP packet in buf[off..off+len): 28 bytes,
 * hardware type 1, protocol type 0x0800, address lengths 6 and 4, operation request or reply.
 */
export function isValidArp(buf: Uint8Array, off: number, len: number): boolean {
  if (len < ARP_SIZE || off < 0 || off + len > buf.length) return false;
  const op = arpOp(buf, off);
  return (
    arpHtype(buf, off) === ARP_HTYPE_ETHERNET &&
    arpPtype(buf, off) === ARP_PTYPE_IPV4 &&
    buf[off + ARP_OFF_HLEN] === 6 &&
    buf[off + ARP_OFF_PLEN] === 4 &&
    (op === ARP_OP_REQUEST || op === ARP_OP_REPLY)
  );
}

/** encodeArp writes an Ethernet/IPv4 ARP packet at `off` and returns 28. Control/test path. */
export function encodeArp(buf: Uint8Array, off: number, f: ArpFields): number {
  buf[off] = 0;
  buf[off + 1] = ARP_HTYPE_ETHERNET;
  buf[off + ARP_OFF_PTYPE] = ARP_PTYPE_IPV4 >>> 8;
  buf[off + ARP_OFF_PTYPE + 1] = ARP_PTYPE_IPV4 & 0xff;
  buf[off + ARP_OFF_HLEN] = 6;
  buf[off + ARP_OFF_PLEN] = 4;
  setArpOp(buf, off, f.op);
  buf.set(f.sha.subarray(0, 6), off + ARP_OFF_SHA);
  writeU32(buf, off + ARP_OFF_SPA, f.spa);
  buf.set(f.tha.subarray(0, 6), off + ARP_OFF_THA);
  writeU32(buf, off + ARP_OFF_TPA, f.tpa);
  return ARP_SIZE;
}

/** decodeArp reads an ARP packet into a fresh object (allocates; control/test path only). */
export function decodeArp(buf: Uint8Array, off: number): ArpFields {
  return {
    op: arpOp(buf, off),
    sha: Buffer.from(buf.subarray(off + ARP_OFF_SHA, off + ARP_OFF_SHA + 6)),
    spa: arpSpa(buf, off),
    tha: Buffer.from(buf.subarray(off + ARP_OFF_THA, off + ARP_OFF_THA + 6)),
    tpa: arpTpa(buf, off),
  };
}
