/**
 * TCP header fields the offloads touch, RFC 9293 §3.1; pseudo-header checksums per RFC 9293
 * §3.1 (IPv4) and RFC 8200 §8.1 (IPv6).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-------------------------------+-------------------------------+
 *   |          Source Port          |       Destination Port        |
 *   +-------------------------------+-------------------------------+
 *   |                        Sequence Number                        |
 *   +---------------------------------------------------------------+
 *   |                    Acknowledgment Number                      |
 *   +-------+-------+-+-+-+-+-+-+-+-+-------------------------------+
 *   |  Data |       |C|E|U|A|P|R|S|F|                               |
 *   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *   +-------+-------+-+-+-+-+-+-+-+-+-------------------------------+
 *   |           Checksum            |         Urgent Pointer        |
 *   +-------------------------------+-------------------------------+
 *   |                    Options (0-40 bytes)                       |
 *
 * Only what segmentation, coalescing and the explainer need.
 */
import { IPV4_OFF_SRC } from './ipv4';
import { IPV6_HEADER_SIZE, IPV6_OFF_SRC } from './ipv6';

/** TCP_MIN_HEADER_SIZE is the header length without options. */
export const TCP_MIN_HEADER_SIZE = 20;
/** TCP_OFF_SRC_PORT is the offset of "Source Port". */
export const TCP_OFF_SRC_PORT = 0;
/** TCP_OFF_DST_PORT is the offset of "Destination Port". */
export const TCP_OFF_DST_PORT = 2;
/** TCP_OFF_SEQ is the offset of "Sequence Number". */
export const TCP_OFF_SEQ = 4;
/** TCP_OFF_ACK is the offset of "Acknowledgment Number". */
export const TCP_OFF_ACK = 8;
/** TCP_OFF_DATA_OFFSET is the offset of the "Data Offset" nibble (high 4 bits, in 32-bit words). */
export const TCP_OFF_DATA_OFFSET = 12;
/** TCP_OFF_FLAGS is the offset of the flags byte (CWR ECE URG ACK PSH RST SYN FIN). */
export const TCP_OFF_FLAGS = 13;
/** TCP_OFF_WINDOW is the offset of "Window". */
export const TCP_OFF_WINDOW = 14;
/** TCP_OFF_CHECKSUM is the offset of "Checksum". */
export const TCP_OFF_CHECKSUM = 16;
/** TCP_OFF_URGENT is the offset of "Urgent Pointer". */
export const TCP_OFF_URGENT = 18;

/** TCP_FIN is the FIN flag bit. */
export const TCP_FIN = 0x01;
/** TCP_SYN is the SYN flag bit. */
export const TCP_SYN = 0x02;
/** TCP_RST is the RST flag bit. */
export const TCP_RST = 0x04;
/** TCP_PSH is the PSH flag bit. */
export const TCP_PSH = 0x08;
/** TCP_ACK is the ACK flag bit. */
export const TCP_ACK = 0x10;
/** TCP_URG is the URG flag bit. */
export const TCP_URG = 0x20;
/** TCP_ECE is the ECE flag bit (RFC 3168). */
export const TCP_ECE = 0x40;
/** TCP_CWR is the CWR flag bit (RFC 3168). */
export const TCP_CWR = 0x80;

/** tcpHeaderLength reads "Data Offset" in bytes. */
export function tcpHeaderLength(buf: Uint8Array, off: number): number {
  return (buf[off + TCP_OFF_DATA_OFFSET]! >>> 4) << 2;
}

/** tcpSeq reads "Sequence Number" as an unsigned 32-bit number. */
export function tcpSeq(buf: Uint8Array, off: number): number {
  const o = off + TCP_OFF_SEQ;
  return ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
}

/** setTcpSeq writes "Sequence Number" (taken modulo 2^32). */
export function setTcpSeq(buf: Uint8Array, off: number, v: number): void {
  const o = off + TCP_OFF_SEQ;
  buf[o] = (v >>> 24) & 0xff;
  buf[o + 1] = (v >>> 16) & 0xff;
  buf[o + 2] = (v >>> 8) & 0xff;
  buf[o + 3] = v & 0xff;
}

/** tcpFlags reads the flags byte. */
export function tcpFlags(buf: Uint8Array, off: number): number {
  return buf[off + TCP_OFF_FLAGS]!;
}

/** setTcpFlags writes the flags byte. */
export function setTcpFlags(buf: Uint8Array, off: number, v: number): void {
  buf[off + TCP_OFF_FLAGS] = v;
}

/** tcpChecksum reads "Checksum". */
export function tcpChecksum(buf: Uint8Array, off: number): number {
  return (buf[off + TCP_OFF_CHECKSUM]! << 8) | buf[off + TCP_OFF_CHECKSUM + 1]!;
}

/** setTcpChecksum writes "Checksum". */
export function setTcpChecksum(buf: Uint8Array, off: number, v: number): void {
  buf[off + TCP_OFF_CHECKSUM] = (v >>> 8) & 0xff;
  buf[off + TCP_OFF_CHECKSUM + 1] = v & 0xff;
}

/**
 * pseudoSumIpv4 is the unfolded sum of the IPv4 pseudo-header (RFC 9293 §3.1) of the IPv4 packet
 * at `ipOff`, for an L4 segment of `l4Len` bytes with protocol `proto`.
 */
export function pseudoSumIpv4(buf: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  // Source and destination addresses are adjacent: four 16-bit words from "Source Address".
  const s = ipOff + IPV4_OFF_SRC;
  return (
    ((buf[s]! << 8) | buf[s + 1]!) +
    ((buf[s + 2]! << 8) | buf[s + 3]!) +
    ((buf[s + 4]! << 8) | buf[s + 5]!) +
    ((buf[s + 6]! << 8) | buf[s + 7]!) +
    proto +
    l4Len
  );
}

/**
 * pseudoSumIpv6 is the unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1) of the IPv6 packet
 * at `ipOff`: both addresses, the 32-bit upper-layer length and the next header `proto`.
 */
export function pseudoSumIpv6(buf: Uint8Array, ipOff: number, proto: number, l4Len: number): number {
  let sum = proto + (l4Len >>> 16) + (l4Len & 0xffff);
  const end = ipOff + IPV6_HEADER_SIZE;
  for (let i = ipOff + IPV6_OFF_SRC; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  return sum;
}
