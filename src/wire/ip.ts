/**
 * IP packets of either version (RFC 791 §3.1, RFC 8200 §3): the fields the packet path reads
 * without caring which version it holds. The version nibble decides; the per-version accessors in
 * ipv4.ts / ipv6.ts do the reading, so the offsets stay defined once.
 *
 * Call `isValidIp` (or `isValidIpv4` / `isValidIpv6`) once at the edge; the accessors trust the
 * buffer after that.
 */
import {
  IPV4_OFF_DST,
  IPV4_OFF_PROTOCOL,
  IPV4_VERSION,
  ipVersion,
  ipv4TotalLength,
  isValidIpv4,
} from './ipv4';
import { IPV6_OFF_DST, IPV6_OFF_NEXT_HEADER, IPV6_VERSION, ipv6PacketLength, isValidIpv6 } from './ipv6';

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

/**
 * isLinkScopeDst reports whether the packet's destination is confined to its link, so no router
 * forwards it: IPv4 224.0.0.0/24 (RFC 5771 §4, local network control block) and 255.255.255.255
 * (RFC 919 §7); IPv6 fe80::/10 (RFC 4291 §2.5.6) and multicast of interface- or link-local scope
 * (ff01::/16, ff02::/16: RFC 4291 §2.7, scope 1 and 2). A TUN device with IPv6 on sends such
 * packets by itself (router solicitations, MLD reports, duplicate address detection).
 */
export function isLinkScopeDst(buf: Uint8Array, off: number, version: number): boolean {
  if (version === IPV4_VERSION) {
    const d = off + IPV4_OFF_DST;
    if (buf[d] === 255) return buf[d + 1] === 255 && buf[d + 2] === 255 && buf[d + 3] === 255;
    return buf[d] === 224 && buf[d + 1] === 0 && buf[d + 2] === 0;
  }
  const d = off + IPV6_OFF_DST;
  if (buf[d] === 0xfe) return (buf[d + 1]! & 0xc0) === 0x80;
  if (buf[d] !== 0xff) return false;
  const scope = buf[d + 1]! & 0x0f;
  return scope === 1 || scope === 2;
}
