/**
 * IPv4 header, RFC 791 §3.1; header checksum per RFC 791 §3.1 / RFC 1071, incremental update per
 * RFC 1624; DF/MF flags per RFC 791 §3.1 and RFC 1191 (path MTU discovery).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-------+-------+---------------+-------------------------------+
 *   |Version|  IHL  |Type of Service|          Total Length         |
 *   +-------+-------+---------------+-----+-------------------------+
 *   |         Identification        |Flags|      Fragment Offset    |
 *   +---------------+---------------+-----+-------------------------+
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   +---------------+---------------+-------------------------------+
 *   |                       Source Address                          |
 *   +---------------------------------------------------------------+
 *   |                    Destination Address                        |
 *   +---------------------------------------------------------------+
 *
 * Addresses are handled as unsigned 32-bit numbers in host order (192.0.2.1 -> 0xc0000201).
 * Always call `isValidIpv4` once at the edge; the accessors trust the buffer after that.
 */
import { checksumUpdate16, internetChecksum } from './checksum';

/** IPV4_MIN_HEADER_SIZE is the length of a header without options (IHL = 5). */
export const IPV4_MIN_HEADER_SIZE = 20;
/** IPV4_MAX_HEADER_SIZE is the length of a header with the most options (IHL = 15). */
export const IPV4_MAX_HEADER_SIZE = 60;
/** IPV4_VERSION is the value of the "Version" field. */
export const IPV4_VERSION = 4;

/** IPV4_OFF_VERSION_IHL is the offset of the "Version" (high nibble) and "IHL" (low nibble) byte. */
export const IPV4_OFF_VERSION_IHL = 0;
/** IPV4_OFF_TOS is the offset of the "Type of Service" (DSCP + ECN, RFC 2474/3168) byte. */
export const IPV4_OFF_TOS = 1;
/** IPV4_OFF_TOTAL_LENGTH is the offset of the "Total Length" field. */
export const IPV4_OFF_TOTAL_LENGTH = 2;
/** IPV4_OFF_ID is the offset of the "Identification" field. */
export const IPV4_OFF_ID = 4;
/** IPV4_OFF_FLAGS_FRAGMENT is the offset of the "Flags" + "Fragment Offset" 16-bit word. */
export const IPV4_OFF_FLAGS_FRAGMENT = 6;
/** IPV4_OFF_TTL is the offset of the "Time to Live" field. */
export const IPV4_OFF_TTL = 8;
/** IPV4_OFF_PROTOCOL is the offset of the "Protocol" field. */
export const IPV4_OFF_PROTOCOL = 9;
/** IPV4_OFF_CHECKSUM is the offset of the "Header Checksum" field. */
export const IPV4_OFF_CHECKSUM = 10;
/** IPV4_OFF_SRC is the offset of the "Source Address" field. */
export const IPV4_OFF_SRC = 12;
/** IPV4_OFF_DST is the offset of the "Destination Address" field. */
export const IPV4_OFF_DST = 16;

/** IPV4_FLAG_DF is the "Don't Fragment" bit within the flags/fragment-offset word. */
export const IPV4_FLAG_DF = 0x4000;
/** IPV4_FLAG_MF is the "More Fragments" bit within the flags/fragment-offset word. */
export const IPV4_FLAG_MF = 0x2000;
/** IPV4_FRAGMENT_OFFSET_MASK selects the 13-bit "Fragment Offset" (in 8-byte units). */
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;

/** IP_PROTO_ICMP is the IPv4 "Protocol" number of ICMP (RFC 792). */
export const IP_PROTO_ICMP = 1;
/** IP_PROTO_TCP is the "Protocol" / "Next Header" number of TCP. */
export const IP_PROTO_TCP = 6;
/** IP_PROTO_UDP is the "Protocol" / "Next Header" number of UDP. */
export const IP_PROTO_UDP = 17;
/** IP_PROTO_ICMPV6 is the IPv6 "Next Header" number of ICMPv6. */
export const IP_PROTO_ICMPV6 = 58;
/** IP_PROTO_SCTP is the "Protocol" / "Next Header" number of SCTP (ports at the same offsets as UDP). */
export const IP_PROTO_SCTP = 132;

/** Ipv4Fields holds the values of an IPv4 header without options, for `encodeIpv4` and tests. */
export interface Ipv4Fields {
  /** "Type of Service" byte (DSCP << 2 | ECN). */
  tos: number;
  /** "Total Length": header plus payload in bytes. */
  totalLength: number;
  /** "Identification". */
  id: number;
  /** "Don't Fragment" flag. */
  df: boolean;
  /** "More Fragments" flag. */
  mf: boolean;
  /** "Fragment Offset" in 8-byte units. */
  fragmentOffset: number;
  /** "Time to Live". */
  ttl: number;
  /** "Protocol". */
  protocol: number;
  /** "Source Address", host-order u32. */
  src: number;
  /** "Destination Address", host-order u32. */
  dst: number;
}

/** ipVersion reads the version nibble shared by IPv4 and IPv6 (the first 4 bits of any IP packet). */
export function ipVersion(buf: Uint8Array, off: number): number {
  return buf[off] >>> 4;
}

/** ipv4Ihl reads the "IHL" field: header length in 32-bit words. */
export function ipv4Ihl(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_OFF_VERSION_IHL] & 0x0f;
}

/** ipv4HeaderLength is the "IHL" field converted to bytes. */
export function ipv4HeaderLength(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_OFF_VERSION_IHL] & 0x0f) << 2;
}

/** ipv4Tos reads the "Type of Service" byte. */
export function ipv4Tos(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_OFF_TOS];
}

/** setIpv4Tos writes the "Type of Service" byte (does not fix the checksum). */
export function setIpv4Tos(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV4_OFF_TOS] = v;
}

/** ipv4TotalLength reads the "Total Length" field. */
export function ipv4TotalLength(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_OFF_TOTAL_LENGTH] << 8) | buf[off + IPV4_OFF_TOTAL_LENGTH + 1];
}

/** setIpv4TotalLength writes the "Total Length" field (does not fix the checksum). */
export function setIpv4TotalLength(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV4_OFF_TOTAL_LENGTH] = v >>> 8;
  buf[off + IPV4_OFF_TOTAL_LENGTH + 1] = v;
}

/** ipv4Id reads the "Identification" field. */
export function ipv4Id(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_OFF_ID] << 8) | buf[off + IPV4_OFF_ID + 1];
}

/** setIpv4Id writes the "Identification" field (does not fix the checksum). */
export function setIpv4Id(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV4_OFF_ID] = v >>> 8;
  buf[off + IPV4_OFF_ID + 1] = v;
}

/** ipv4FlagsFragment reads the 16-bit "Flags" + "Fragment Offset" word. */
export function ipv4FlagsFragment(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_OFF_FLAGS_FRAGMENT] << 8) | buf[off + IPV4_OFF_FLAGS_FRAGMENT + 1];
}

/** setIpv4FlagsFragment writes the "Flags" + "Fragment Offset" word (does not fix the checksum). */
export function setIpv4FlagsFragment(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV4_OFF_FLAGS_FRAGMENT] = v >>> 8;
  buf[off + IPV4_OFF_FLAGS_FRAGMENT + 1] = v;
}

/** ipv4DontFragment reads the "DF" flag. */
export function ipv4DontFragment(buf: Uint8Array, off: number): boolean {
  return (buf[off + IPV4_OFF_FLAGS_FRAGMENT] & 0x40) !== 0;
}

/** ipv4MoreFragments reads the "MF" flag. */
export function ipv4MoreFragments(buf: Uint8Array, off: number): boolean {
  return (buf[off + IPV4_OFF_FLAGS_FRAGMENT] & 0x20) !== 0;
}

/** ipv4FragmentOffset reads the "Fragment Offset" field, in 8-byte units. */
export function ipv4FragmentOffset(buf: Uint8Array, off: number): number {
  return ipv4FlagsFragment(buf, off) & IPV4_FRAGMENT_OFFSET_MASK;
}

/** ipv4IsFragment reports whether the packet is any fragment (MF set or a nonzero offset). */
export function ipv4IsFragment(buf: Uint8Array, off: number): boolean {
  return (ipv4FlagsFragment(buf, off) & (IPV4_FLAG_MF | IPV4_FRAGMENT_OFFSET_MASK)) !== 0;
}

/** ipv4Ttl reads the "Time to Live" field. */
export function ipv4Ttl(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_OFF_TTL];
}

/** setIpv4Ttl writes the "Time to Live" field (does not fix the checksum; see `ipv4DecrementTtl`). */
export function setIpv4Ttl(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV4_OFF_TTL] = v;
}

/** ipv4Protocol reads the "Protocol" field. */
export function ipv4Protocol(buf: Uint8Array, off: number): number {
  return buf[off + IPV4_OFF_PROTOCOL];
}

/** setIpv4Protocol writes the "Protocol" field (does not fix the checksum). */
export function setIpv4Protocol(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV4_OFF_PROTOCOL] = v;
}

/** ipv4Checksum reads the "Header Checksum" field. */
export function ipv4Checksum(buf: Uint8Array, off: number): number {
  return (buf[off + IPV4_OFF_CHECKSUM] << 8) | buf[off + IPV4_OFF_CHECKSUM + 1];
}

/** setIpv4Checksum writes the "Header Checksum" field. */
export function setIpv4Checksum(buf: Uint8Array, off: number, v: number): void {
  buf[off + IPV4_OFF_CHECKSUM] = v >>> 8;
  buf[off + IPV4_OFF_CHECKSUM + 1] = v;
}

/** ipv4Src reads the "Source Address" field as a host-order u32. */
export function ipv4Src(buf: Uint8Array, off: number): number {
  return readU32(buf, off + IPV4_OFF_SRC);
}

/**
 * ipv4SrcI32 reads the "Source Address" field as an int32 (the same 32 bits as `ipv4Src`): V8 keeps
 * int32 values unboxed, so the packet path reads addresses this way.
 */
export function ipv4SrcI32(buf: Uint8Array, off: number): number {
  return readI32(buf, off + IPV4_OFF_SRC);
}

/** setIpv4Src writes the "Source Address" field from a host-order u32 (does not fix the checksum). */
export function setIpv4Src(buf: Uint8Array, off: number, v: number): void {
  writeU32(buf, off + IPV4_OFF_SRC, v);
}

/** ipv4Dst reads the "Destination Address" field as a host-order u32. */
export function ipv4Dst(buf: Uint8Array, off: number): number {
  return readU32(buf, off + IPV4_OFF_DST);
}

/** ipv4DstI32 reads the "Destination Address" field as an int32 (see `ipv4SrcI32`). */
export function ipv4DstI32(buf: Uint8Array, off: number): number {
  return readI32(buf, off + IPV4_OFF_DST);
}

/** setIpv4Dst writes the "Destination Address" field from a host-order u32 (does not fix the checksum). */
export function setIpv4Dst(buf: Uint8Array, off: number, v: number): void {
  writeU32(buf, off + IPV4_OFF_DST, v);
}

/**
 * ipv4ComputeChecksum computes the "Header Checksum" over the IHL-sized header, treating the
 * checksum field itself as zero (RFC 791 §3.1). It does not write it.
 */
export function ipv4ComputeChecksum(buf: Uint8Array, off: number): number {
  const hlen = ipv4HeaderLength(buf, off);
  const stored = ipv4Checksum(buf, off);
  // The stored value is part of the sum; subtracting it in ones' complement = adding its complement.
  return internetChecksum(buf, off, hlen, ~stored & 0xffff);
}

/** fillIpv4Checksum computes the header checksum and writes it into the "Header Checksum" field. */
export function fillIpv4Checksum(buf: Uint8Array, off: number): void {
  setIpv4Checksum(buf, off, 0);
  setIpv4Checksum(buf, off, internetChecksum(buf, off, ipv4HeaderLength(buf, off)));
}

/** ipv4ChecksumValid reports whether the "Header Checksum" matches the header (sum folds to 0). */
export function ipv4ChecksumValid(buf: Uint8Array, off: number): boolean {
  return internetChecksum(buf, off, ipv4HeaderLength(buf, off)) === 0;
}

/**
 * ipv4UpdateWord replaces the 16-bit header word at byte offset `wordOff` (even, relative to the
 * header) with `newWord` and patches the checksum incrementally (RFC 1624 eqn. 3).
 */
export function ipv4UpdateWord(buf: Uint8Array, off: number, wordOff: number, newWord: number): void {
  const p = off + wordOff;
  const oldWord = (buf[p] << 8) | buf[p + 1];
  buf[p] = newWord >>> 8;
  buf[p + 1] = newWord;
  setIpv4Checksum(buf, off, checksumUpdate16(ipv4Checksum(buf, off), oldWord, newWord & 0xffff));
}

/**
 * ipv4DecrementTtl lowers "Time to Live" by one and patches the checksum incrementally (RFC 1624),
 * as flannel's UDP proxy does per hop. Returns the new TTL. The caller must check for TTL <= 1
 * first (a router drops rather than forwards at 0, RFC 1812 §5.3.1).
 */
export function ipv4DecrementTtl(buf: Uint8Array, off: number): number {
  const ttl = buf[off + IPV4_OFF_TTL] - 1;
  ipv4UpdateWord(buf, off, IPV4_OFF_TTL, (ttl << 8) | buf[off + IPV4_OFF_PROTOCOL]);
  return ttl;
}

/**
 * isValidIpv4 is the edge check for an IPv4 packet in buf[off..off+len): at least 20 bytes,
 * version 4, IHL >= 5, and header length <= "Total Length" <= len. Bytes beyond Total Length
 * (e.g. Ethernet padding) are allowed. The checksum is not verified here (see `ipv4ChecksumValid`).
 */
export function isValidIpv4(buf: Uint8Array, off: number, len: number): boolean {
  if (len < IPV4_MIN_HEADER_SIZE || off < 0 || off + len > buf.length) return false;
  const vihl = buf[off];
  if (vihl >>> 4 !== IPV4_VERSION) return false;
  const hlen = (vihl & 0x0f) << 2;
  if (hlen < IPV4_MIN_HEADER_SIZE) return false;
  const tlen = ipv4TotalLength(buf, off);
  return tlen >= hlen && tlen <= len;
}

/**
 * writeIpv4Header writes a 20-byte header without options at `off`, with a correct checksum, and
 * returns 20. `flagsFragment` is the whole flags + fragment-offset word (e.g. IPV4_FLAG_DF or 0);
 * addresses are host-order u32. Allocation-free: the one IPv4 header writer for the packet path
 * (outer headers, ICMP replies) and for `encodeIpv4`.
 */
export function writeIpv4Header(
  buf: Uint8Array,
  off: number,
  tos: number,
  totalLength: number,
  id: number,
  flagsFragment: number,
  ttl: number,
  protocol: number,
  src: number,
  dst: number,
): number {
  buf[off] = 0x45;
  buf[off + IPV4_OFF_TOS] = tos;
  setIpv4TotalLength(buf, off, totalLength);
  setIpv4Id(buf, off, id);
  setIpv4FlagsFragment(buf, off, flagsFragment);
  buf[off + IPV4_OFF_TTL] = ttl;
  buf[off + IPV4_OFF_PROTOCOL] = protocol;
  writeU32(buf, off + IPV4_OFF_SRC, src);
  writeU32(buf, off + IPV4_OFF_DST, dst);
  fillIpv4Checksum(buf, off);
  return IPV4_MIN_HEADER_SIZE;
}

/**
 * encodeIpv4 writes a 20-byte header without options at `off`, with a correct checksum, and
 * returns 20. Control/test path.
 */
export function encodeIpv4(buf: Uint8Array, off: number, f: Ipv4Fields): number {
  const flagsFragment =
    (f.df ? IPV4_FLAG_DF : 0) | (f.mf ? IPV4_FLAG_MF : 0) | (f.fragmentOffset & IPV4_FRAGMENT_OFFSET_MASK);
  return writeIpv4Header(
    buf,
    off,
    f.tos,
    f.totalLength,
    f.id,
    flagsFragment,
    f.ttl,
    f.protocol,
    f.src,
    f.dst,
  );
}

/** decodeIpv4 reads a header into a fresh object (allocates; control/test path only). */
export function decodeIpv4(buf: Uint8Array, off: number): Ipv4Fields {
  return {
    tos: ipv4Tos(buf, off),
    totalLength: ipv4TotalLength(buf, off),
    id: ipv4Id(buf, off),
    df: ipv4DontFragment(buf, off),
    mf: ipv4MoreFragments(buf, off),
    fragmentOffset: ipv4FragmentOffset(buf, off),
    ttl: ipv4Ttl(buf, off),
    protocol: ipv4Protocol(buf, off),
    src: ipv4Src(buf, off),
    dst: ipv4Dst(buf, off),
  };
}

/** readU32 reads a big-endian u32 at buf[p..p+4) as an unsigned number. */
export function readU32(buf: Uint8Array, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}

/** readI32 reads a big-endian 32-bit word at buf[p..p+4) as an int32 (never a boxed number). */
export function readI32(buf: Uint8Array, p: number): number {
  return (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
}

/** writeU16 writes `v` big-endian to buf[p..p+2) (a 16-bit field found by offset, e.g. a checksum). */
export function writeU16(buf: Uint8Array, p: number, v: number): void {
  buf[p] = v >>> 8;
  buf[p + 1] = v;
}

/** writeU32 writes `v` big-endian to buf[p..p+4). */
export function writeU32(buf: Uint8Array, p: number, v: number): void {
  buf[p] = v >>> 24;
  buf[p + 1] = v >>> 16;
  buf[p + 2] = v >>> 8;
  buf[p + 3] = v;
}
