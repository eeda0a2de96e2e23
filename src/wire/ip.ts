/**
 * IP packets of either version (RFC 791 §3.1, RFC 8200 §3): the fields the packet path reads
 * without caring which version it holds. The version nibble decides; the per-version accessors in
 * ipv4.ts / ipv6.ts do the reading, so the offsets stay defined once.
 *
 * Call `isValidIp` (or `isValidIpv4` / `isValidIpv6`) once at the edge; the accessors trust the
 * buffer after that.
 */
import { IPV4_OFF_PROTOCOL, IPV4_VERSION, ipVersion, ipv4TotalLength, isValidIpv4 } from './ipv4';
import { IPV6_OFF_NEXT_HEADER, IPV6_VERSION, ipv6PacketLength, isValidIpv6 } from './ipv6';

/**
 * isValidIp is the edge check for an IP packet of version `version` (4 or 6) in buf[off..off+len):
 * `isValidIpv4` or `isValidIpv6`. Any other version is invalid.
 */
export function isValidIp(buf: Uint8Array, off: number, len: number, version: number): boolean {
  if (version === IPV4_VERSION) return isValidIpv4(buf, off, len);
  return version === IPV6_VERSION && isValidIpv6(buf, off, len);
}

/**
 * ipPacketLength is the length an IP packet declares: IPv4 "Total Length", IPv6 40 + "Payload
 * Length". Only meaningful after validation; shorter than the buffer's span when the frame carried
 * Ethernet padding, so write buf[off .. off + ipPacketLength(buf, off)) to drop the padding.
 */
export function ipPacketLength(buf: Uint8Array, off: number): number {
  return ipVersion(buf, off) === IPV6_VERSION ? ipv6PacketLength(buf, off) : ipv4TotalLength(buf, off);
}

/** ipProtocol is the IPv4 "Protocol" / IPv6 "Next Header" (extension headers are not walked). */
export function ipProtocol(buf: Uint8Array, off: number): number {
  return buf[off + (ipVersion(buf, off) === IPV4_VERSION ? IPV4_OFF_PROTOCOL : IPV6_OFF_NEXT_HEADER)];
}
