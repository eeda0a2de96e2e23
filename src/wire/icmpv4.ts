/**
 * ICMPv4, RFC 792: echo request/reply (type 8/0) and destination unreachable (type 3), including
 * code 0 "net unreachable" and code 4 "fragmentation needed and DF set" with the RFC 1191 §4
 * "Next-Hop MTU" in the low 16 bits of the second word. Error messages quote the offending IP
 * header plus its first 8 payload bytes (RFC 792, "Internet Header + 64 bits of Data Datagram").
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +---------------+---------------+-------------------------------+
 *   |     Type      |     Code      |          Checksum             |
 *   +---------------+---------------+-------------------------------+
 *   | echo: Identifier | Sequence Number                            |
 *   | unreachable: unused (16)      | Next-Hop MTU (code 4, else 0) |
 *   +---------------------------------------------------------------+
 *   |     data: echo payload, or quoted IP header + 8 bytes         |
 *
 * The checksum covers the whole ICMP message (RFC 792). Always call `isValidIcmpv4` once at the edge.
 */
import { internetChecksum } from './checksum';

/** ICMPV4_HEADER_SIZE is the length of the fixed part (type, code, checksum, second word). */
export const ICMPV4_HEADER_SIZE = 8;
/** ICMPV4_OFF_TYPE is the offset of the "Type" field. */
export const ICMPV4_OFF_TYPE = 0;
/** ICMPV4_OFF_CODE is the offset of the "Code" field. */
export const ICMPV4_OFF_CODE = 1;
/** ICMPV4_OFF_CHECKSUM is the offset of the "Checksum" field. */
export const ICMPV4_OFF_CHECKSUM = 2;
/** ICMPV4_OFF_ECHO_ID is the offset of the echo "Identifier" field. */
export const ICMPV4_OFF_ECHO_ID = 4;
/** ICMPV4_OFF_ECHO_SEQ is the offset of the echo "Sequence Number" field. */
export const ICMPV4_OFF_ECHO_SEQ = 6;
/** ICMPV4_OFF_UNUSED is the offset of the 16 "unused" bits of a destination-unreachable message. */
export const ICMPV4_OFF_UNUSED = 4;
/** ICMPV4_OFF_NEXT_HOP_MTU is the offset of the "Next-Hop MTU" field (RFC 1191 §4). */
export const ICMPV4_OFF_NEXT_HOP_MTU = 6;

/** ICMPV4_ECHO_REPLY is the "Type" of an echo reply. */
export const ICMPV4_ECHO_REPLY = 0;
/** ICMPV4_DEST_UNREACHABLE is the "Type" of a destination unreachable message. */
export const ICMPV4_DEST_UNREACHABLE = 3;
/** ICMPV4_REDIRECT is the "Type" of a redirect (an error message for the no-error-about-errors rule). */
export const ICMPV4_REDIRECT = 5;
/** ICMPV4_ECHO_REQUEST is the "Type" of an echo request. */
export const ICMPV4_ECHO_REQUEST = 8;
/** ICMPV4_TIME_EXCEEDED is the "Type" of a time exceeded message. */
export const ICMPV4_TIME_EXCEEDED = 11;
/** ICMPV4_PARAMETER_PROBLEM is the "Type" of a parameter problem message. */
export const ICMPV4_PARAMETER_PROBLEM = 12;

/** ICMPV4_CODE_NET_UNREACHABLE is destination unreachable "Code" 0. */
export const ICMPV4_CODE_NET_UNREACHABLE = 0;
/** ICMPV4_CODE_HOST_UNREACHABLE is destination unreachable "Code" 1. */
export const ICMPV4_CODE_HOST_UNREACHABLE = 1;
/** ICMPV4_CODE_PORT_UNREACHABLE is destination unreachable "Code" 3. */
export const ICMPV4_CODE_PORT_UNREACHABLE = 3;
/** ICMPV4_CODE_FRAG_NEEDED is destination unreachable "Code" 4: fragmentation needed and DF set. */
export const ICMPV4_CODE_FRAG_NEEDED = 4;

/** Icmpv4Fields holds the values of an ICMPv4 message, for `encodeIcmpv4` and tests. */
export interface Icmpv4Fields {
  /** "Type". */
  type: number;
  /** "Code". */
  code: number;
  /** The second 32-bit word: echo identifier << 16 | sequence, or unused << 16 | next-hop MTU. */
  rest: number;
  /** The data after the 8-byte header. */
  data: Uint8Array;
}

/** icmpv4Type reads the "Type" field. */
export function icmpv4Type(buf: Uint8Array, off: number): number {
  return buf[off + ICMPV4_OFF_TYPE];
}

/** setIcmpv4Type writes the "Type" field. */
export function setIcmpv4Type(buf: Uint8Array, off: number, v: number): void {
  buf[off + ICMPV4_OFF_TYPE] = v;
}

/** icmpv4Code reads the "Code" field. */
export function icmpv4Code(buf: Uint8Array, off: number): number {
  return buf[off + ICMPV4_OFF_CODE];
}

/** setIcmpv4Code writes the "Code" field. */
export function setIcmpv4Code(buf: Uint8Array, off: number, v: number): void {
  buf[off + ICMPV4_OFF_CODE] = v;
}

/** icmpv4Checksum reads the "Checksum" field. */
export function icmpv4Checksum(buf: Uint8Array, off: number): number {
  return (buf[off + ICMPV4_OFF_CHECKSUM] << 8) | buf[off + ICMPV4_OFF_CHECKSUM + 1];
}

/** setIcmpv4Checksum writes the "Checksum" field. */
export function setIcmpv4Checksum(buf: Uint8Array, off: number, v: number): void {
  buf[off + ICMPV4_OFF_CHECKSUM] = v >>> 8;
  buf[off + ICMPV4_OFF_CHECKSUM + 1] = v;
}

/** icmpv4EchoId reads the echo "Identifier" field. */
export function icmpv4EchoId(buf: Uint8Array, off: number): number {
  return (buf[off + ICMPV4_OFF_ECHO_ID] << 8) | buf[off + ICMPV4_OFF_ECHO_ID + 1];
}

/** setIcmpv4EchoId writes the echo "Identifier" field. */
export function setIcmpv4EchoId(buf: Uint8Array, off: number, v: number): void {
  buf[off + ICMPV4_OFF_ECHO_ID] = v >>> 8;
  buf[off + ICMPV4_OFF_ECHO_ID + 1] = v;
}

/** icmpv4EchoSeq reads the echo "Sequence Number" field. */
export function icmpv4EchoSeq(buf: Uint8Array, off: number): number {
  return (buf[off + ICMPV4_OFF_ECHO_SEQ] << 8) | buf[off + ICMPV4_OFF_ECHO_SEQ + 1];
}

/** setIcmpv4EchoSeq writes the echo "Sequence Number" field. */
export function setIcmpv4EchoSeq(buf: Uint8Array, off: number, v: number): void {
  buf[off + ICMPV4_OFF_ECHO_SEQ] = v >>> 8;
  buf[off + ICMPV4_OFF_ECHO_SEQ + 1] = v;
}

/** icmpv4NextHopMtu reads the "Next-Hop MTU" of a fragmentation-needed message (RFC 1191 §4). */
export function icmpv4NextHopMtu(buf: Uint8Array, off: number): number {
  return (buf[off + ICMPV4_OFF_NEXT_HOP_MTU] << 8) | buf[off + ICMPV4_OFF_NEXT_HOP_MTU + 1];
}

/** setIcmpv4NextHopMtu writes the "Next-Hop MTU" (and zeroes the unused 16 bits before it). */
export function setIcmpv4NextHopMtu(buf: Uint8Array, off: number, v: number): void {
  buf[off + ICMPV4_OFF_UNUSED] = 0;
  buf[off + ICMPV4_OFF_UNUSED + 1] = 0;
  buf[off + ICMPV4_OFF_NEXT_HOP_MTU] = v >>> 8;
  buf[off + ICMPV4_OFF_NEXT_HOP_MTU + 1] = v;
}

/** icmpv4IsError reports whether a "Type" is an error message (never answered with another error). */
export function icmpv4IsError(type: number): boolean {
  return (
    type === ICMPV4_DEST_UNREACHABLE ||
    type === ICMPV4_REDIRECT ||
    type === ICMPV4_TIME_EXCEEDED ||
    type === ICMPV4_PARAMETER_PROBLEM ||
    type === 4 // source quench (deprecated by RFC 6633, still an error message)
  );
}

/** fillIcmpv4Checksum computes the checksum over the message buf[off..off+len) and writes it. */
export function fillIcmpv4Checksum(buf: Uint8Array, off: number, len: number): void {
  setIcmpv4Checksum(buf, off, 0);
  setIcmpv4Checksum(buf, off, internetChecksum(buf, off, len));
}

/** icmpv4ChecksumValid reports whether the checksum over buf[off..off+len) is correct. */
export function icmpv4ChecksumValid(buf: Uint8Array, off: number, len: number): boolean {
  return internetChecksum(buf, off, len) === 0;
}

/**
 * isValidIcmpv4 is the edge check for an ICMP message in buf[off..off+len) (len = IP payload
 * length): at least 8 bytes and a correct checksum.
 */
export function isValidIcmpv4(buf: Uint8Array, off: number, len: number): boolean {
  if (len < ICMPV4_HEADER_SIZE || off < 0 || off + len > buf.length) return false;
  return internetChecksum(buf, off, len) === 0;
}

/**
 * encodeIcmpv4 writes the header and data at `off`, fills the checksum and returns the message
 * length (8 + data length). Control/test path.
 */
export function encodeIcmpv4(buf: Uint8Array, off: number, f: Icmpv4Fields): number {
  buf[off] = f.type;
  buf[off + 1] = f.code;
  buf[off + 4] = f.rest >>> 24;
  buf[off + 5] = f.rest >>> 16;
  buf[off + 6] = f.rest >>> 8;
  buf[off + 7] = f.rest;
  buf.set(f.data, off + ICMPV4_HEADER_SIZE);
  const len = ICMPV4_HEADER_SIZE + f.data.length;
  fillIcmpv4Checksum(buf, off, len);
  return len;
}

/** decodeIcmpv4 reads buf[off..off+len) into a fresh object (allocates; control/test path only). */
export function decodeIcmpv4(buf: Uint8Array, off: number, len: number): Icmpv4Fields {
  return {
    type: buf[off],
    code: buf[off + 1],
    rest: ((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>> 0,
    data: Buffer.from(buf.subarray(off + ICMPV4_HEADER_SIZE, off + len)),
  };
}
