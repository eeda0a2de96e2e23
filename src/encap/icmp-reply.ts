/**
 * ICMP errors a flannel-UDP node sends back into its own TUN (so they reach the local sender), as
 * flannel's proxy_amd64.c does: net unreachable (type 3 code 0) on a route miss, and
 * fragmentation needed (type 3 code 4, RFC 1191 next-hop MTU) for an oversize DF packet.
 *
 * Reply layout: IPv4 header {TTL 8 (as flannel), TOS 0, ID 0, DF clear, protocol 1,
 * src = our TUN address (own subnet network IP), dst = offender's source}, then ICMP {type 3,
 * code, checksum, unused / next-hop MTU}, then the offender's IP header + first 8 payload bytes
 * (RFC 792). At most 20 + 8 + 60 + 8 = 96 bytes.
 *
 * No reply (returns 0) when RFC 1122 §3.2.2 forbids one: the offender is not a valid IPv4 packet,
 * is an ICMP error message, is a non-first fragment, or has a source that is not a unicast host
 * (0.0.0.0, 127/8, multicast, broadcast). Unlike flannel, which skips every ICMP packet, ICMP
 * queries (echo) do get an answer, so `ping` reports "Destination Net Unreachable".
 */
import {
  ICMPV4_CODE_FRAG_NEEDED,
  ICMPV4_CODE_NET_UNREACHABLE,
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_HEADER_SIZE,
  fillIcmpv4Checksum,
  icmpv4IsError,
  icmpv4Type,
  setIcmpv4Code,
  setIcmpv4NextHopMtu,
  setIcmpv4Type,
} from '../wire/icmpv4';
import {
  IP_PROTO_ICMP,
  IPV4_MAX_HEADER_SIZE,
  IPV4_MIN_HEADER_SIZE,
  IPV4_VERSION,
  ipVersion,
  ipv4Dst,
  ipv4FragmentOffset,
  ipv4HeaderLength,
  ipv4Protocol,
  ipv4Src,
  writeIpv4Header,
} from '../wire/ipv4';
import { ICMP_REPLY_TTL } from './constants';

/** ICMP_QUOTE_DATA_SIZE is how much of the offender's payload an ICMP error quotes (64 bits). */
export const ICMP_QUOTE_DATA_SIZE = 8;
/** ICMP_REPLY_MAX_SIZE bounds what the builders write: IPv4 20 + ICMP 8 + quoted header 60 + 8. */
export const ICMP_REPLY_MAX_SIZE =
  IPV4_MIN_HEADER_SIZE + ICMPV4_HEADER_SIZE + IPV4_MAX_HEADER_SIZE + ICMP_QUOTE_DATA_SIZE;

/**
 * buildIcmpv4Error writes a complete IPv4 ICMP destination-unreachable packet with `code` (and
 * `mtu` as next-hop MTU when code is 4) into out[outOff..), answering the IPv4 packet at
 * pkt[pktOff..pktOff+pktLen), from `srcU32` (host order). Returns its length, or 0 when no reply
 * may be sent. `out` needs ICMP_REPLY_MAX_SIZE bytes and must not overlap the offender.
 */
export function buildIcmpv4Error(
  out: Buffer,
  outOff: number,
  pkt: Buffer,
  pktOff: number,
  pktLen: number,
  srcU32: number,
  code: number,
  mtu: number,
): number {
  if (pktLen < IPV4_MIN_HEADER_SIZE || ipVersion(pkt, pktOff) !== IPV4_VERSION) return 0;
  const hlen = ipv4HeaderLength(pkt, pktOff);
  if (hlen < IPV4_MIN_HEADER_SIZE || hlen > pktLen) return 0;
  // Non-first fragments: only the first fragment gets an error (RFC 1122 §3.2.2).
  if (ipv4FragmentOffset(pkt, pktOff) !== 0) return 0;
  const offSrc = ipv4Src(pkt, pktOff);
  if (!isUnicastHost(offSrc)) return 0;
  const dst = ipv4Dst(pkt, pktOff);
  if (dst >>> 28 === 0xe || dst === 0xffffffff) return 0;
  if (ipv4Protocol(pkt, pktOff) === IP_PROTO_ICMP) {
    // An ICMP error is never answered with another error; a truncated ICMP header counts as one.
    if (pktLen < hlen + 1 || icmpv4IsError(icmpv4Type(pkt, pktOff + hlen))) return 0;
  }
  const dataLen = pktLen - hlen < ICMP_QUOTE_DATA_SIZE ? pktLen - hlen : ICMP_QUOTE_DATA_SIZE;
  const quoteLen = hlen + dataLen;
  const icmpLen = ICMPV4_HEADER_SIZE + quoteLen;
  const total = IPV4_MIN_HEADER_SIZE + icmpLen;

  const ip = outOff;
  writeIpv4Header(out, ip, 0, total, 0, 0, ICMP_REPLY_TTL, IP_PROTO_ICMP, srcU32, offSrc);

  const icmp = ip + IPV4_MIN_HEADER_SIZE;
  setIcmpv4Type(out, icmp, ICMPV4_DEST_UNREACHABLE);
  setIcmpv4Code(out, icmp, code);
  setIcmpv4NextHopMtu(out, icmp, code === ICMPV4_CODE_FRAG_NEEDED ? mtu : 0);
  const q = icmp + ICMPV4_HEADER_SIZE;
  for (let i = 0; i < quoteLen; i++) out[q + i] = pkt[pktOff + i];
  fillIcmpv4Checksum(out, icmp, icmpLen);
  return total;
}

/**
 * buildIcmpNetUnreachable answers a route miss with ICMP net unreachable (type 3, code 0), as
 * flannel's proxy does; see buildIcmpv4Error for arguments and the no-reply cases.
 */
export function buildIcmpNetUnreachable(
  out: Buffer,
  outOff: number,
  pkt: Buffer,
  pktOff: number,
  pktLen: number,
  srcU32: number,
): number {
  return buildIcmpv4Error(out, outOff, pkt, pktOff, pktLen, srcU32, ICMPV4_CODE_NET_UNREACHABLE, 0);
}

/**
 * buildIcmpFragNeeded answers an oversize DF packet with ICMP fragmentation needed (type 3,
 * code 4) carrying `mtu` as the next-hop MTU (RFC 1191 §4); see buildIcmpv4Error.
 */
export function buildIcmpFragNeeded(
  out: Buffer,
  outOff: number,
  pkt: Buffer,
  pktOff: number,
  pktLen: number,
  srcU32: number,
  mtu: number,
): number {
  return buildIcmpv4Error(out, outOff, pkt, pktOff, pktLen, srcU32, ICMPV4_CODE_FRAG_NEEDED, mtu);
}

/** isUnicastHost: not 0/8 "this network", not 127/8 loopback, not 224/4 multicast, not 240/4 or broadcast. */
function isUnicastHost(a: number): boolean {
  const top = a >>> 24;
  return top !== 0 && top !== 127 && top < 224;
}
