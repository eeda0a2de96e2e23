/**
 * Inner IP packet checks shared by the decapsulators: validate an IP packet found inside an
 * overlay frame, and tell its true length (which can be shorter than the frame: Ethernet padding).
 */
import { IPV4_MIN_HEADER_SIZE } from '../wire/ipv4';
import { IPV6_HEADER_SIZE } from '../wire/ipv6';

/**
 * innerIpValid checks the IP packet at buf[off..off+avail) whose version must be `version`
 * (4 or 6): IPv4 version/IHL >= 5/hlen <= Total Length <= avail; IPv6 40 + Payload Length <= avail.
 */
export function innerIpValid(buf: Uint8Array, off: number, avail: number, version: number): boolean {
  if (version === 4) {
    if (avail < IPV4_MIN_HEADER_SIZE) return false;
    const vihl = buf[off];
    if (vihl >>> 4 !== 4) return false;
    const hlen = (vihl & 0x0f) << 2;
    if (hlen < IPV4_MIN_HEADER_SIZE) return false;
    const tlen = (buf[off + 2] << 8) | buf[off + 3];
    return tlen >= hlen && tlen <= avail;
  }
  if (avail < IPV6_HEADER_SIZE || buf[off] >>> 4 !== 6) return false;
  return IPV6_HEADER_SIZE + ((buf[off + 4] << 8) | buf[off + 5]) <= avail;
}

/**
 * ipPacketLength is the length an IP packet declares: IPv4 "Total Length", IPv6 40 + "Payload
 * Length". Only meaningful after the packet was validated (e.g. a decap returned its offset).
 * Use it to drop trailing Ethernet padding: write buf[inner .. inner + ipPacketLength(buf, inner)).
 */
export function ipPacketLength(buf: Uint8Array, off: number): number {
  if (buf[off] >>> 4 === 6) return IPV6_HEADER_SIZE + ((buf[off + 4] << 8) | buf[off + 5]);
  return (buf[off + 2] << 8) | buf[off + 3];
}
