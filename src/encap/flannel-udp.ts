/**
 * flannel-UDP encapsulation (flannel's `udp` backend, pkg/backend/udp/proxy_amd64.c), hot path.
 * There is no overlay header: the UDP payload is the inner IP packet itself (port 8285 by
 * default), so both directions work on the packet in place and return `off` unchanged.
 *
 * Encap stages (TUN -> UDP; the first failing check counts exactly one drop and returns -1):
 *   1. length >= 20 (flannel's proxy drops shorter packets)            -> tooShort
 *   2. version 4 or 6                                                   -> badIpVersion
 *   3. IP header valid (IHL, lengths within `len`)                      -> badInnerIp
 *   4. fits `mtu`; over it: IPv4 with DF and all IPv6 are dropped       -> tooBig
 *      (the caller answers IPv4 with ICMP frag-needed, icmp-reply.ts);
 *      IPv4 without DF passes and the kernel fragments the outer datagram
 *   5. TTL / hop limit > 1, else dropped without Time Exceeded (as flannel) -> ttlExpired
 *   6. decrement TTL, patching the IPv4 checksum incrementally (RFC 1624)
 *
 * Decap stages (UDP -> TUN): 1-3 above; with `decrementTtl` also 5-6, which is what flannel's
 * proxy does on receive (each overlay hop then costs two TTL). Route misses are the caller's:
 * count `noRoute` and send `buildIcmpNetUnreachable` back into the TUN.
 */
import { ipPacketLength, isValidIp } from '../wire/ip';
import {
  IPV4_MIN_HEADER_SIZE,
  IPV4_VERSION,
  ipVersion,
  ipv4DecrementTtl,
  ipv4DontFragment,
  ipv4Ttl,
} from '../wire/ipv4';
import { IPV6_VERSION, ipv6HopLimit, setIpv6HopLimit } from '../wire/ipv6';
import { DropReason, type DropCounters } from './drop-reason';

/** FLANNEL_UDP_MIN_SIZE is the smallest packet flannel's proxy forwards (an IPv4 header). */
export const FLANNEL_UDP_MIN_SIZE = IPV4_MIN_HEADER_SIZE;

/** validate runs stages 1-3 and returns the IP version, or 0 after counting a drop. */
function validate(buf: Buffer, off: number, len: number, drops: DropCounters): number {
  if (len < FLANNEL_UDP_MIN_SIZE) {
    drops[DropReason.tooShort]++;
    return 0;
  }
  const version = ipVersion(buf, off);
  if (version !== IPV4_VERSION && version !== IPV6_VERSION) {
    drops[DropReason.badIpVersion]++;
    return 0;
  }
  if (!isValidIp(buf, off, len, version)) {
    drops[DropReason.badInnerIp]++;
    return 0;
  }
  return version;
}

/** decrementTtlOrDrop runs stages 5-6; returns false after counting ttlExpired. */
function decrementTtlOrDrop(buf: Buffer, off: number, version: number, drops: DropCounters): boolean {
  if (version === IPV4_VERSION) {
    if (ipv4Ttl(buf, off) <= 1) {
      drops[DropReason.ttlExpired]++;
      return false;
    }
    ipv4DecrementTtl(buf, off);
    return true;
  }
  const hop = ipv6HopLimit(buf, off);
  if (hop <= 1) {
    drops[DropReason.ttlExpired]++;
    return false;
  }
  setIpv6HopLimit(buf, off, hop - 1); // IPv6 has no header checksum
  return true;
}

/**
 * flannelUdpEncap validates the IP packet at buf[off..off+len) and decrements its TTL in place,
 * returning `off` (the UDP payload is buf[off .. off+len)), or -1 after counting exactly one drop.
 * `mtu` is the largest inner packet the path carries (flannel: underlay MTU - 28); default no limit.
 * Nothing is modified when the packet is dropped, so an ICMP reply can still quote it.
 */
export function flannelUdpEncap(
  buf: Buffer,
  off: number,
  len: number,
  drops: DropCounters,
  mtu = 65535,
): number {
  const version = validate(buf, off, len, drops);
  if (version === 0) return -1;
  if (ipPacketLength(buf, off) > mtu && (version === IPV6_VERSION || ipv4DontFragment(buf, off))) {
    drops[DropReason.tooBig]++;
    return -1;
  }
  return decrementTtlOrDrop(buf, off, version, drops) ? off : -1;
}

/**
 * flannelUdpDecap validates the received UDP payload at buf[off..off+len) as an IP packet and
 * returns `off`, or -1 after counting exactly one drop. With `decrementTtl` it also decrements the
 * TTL as flannel's proxy does on receive (dropping at 1 with ttlExpired). The IP packet's own
 * length is `ipPacketLength(buf, off)` (may be < len if the sender padded).
 */
export function flannelUdpDecap(
  buf: Buffer,
  off: number,
  len: number,
  drops: DropCounters,
  decrementTtl = false,
): number {
  const version = validate(buf, off, len, drops);
  if (version === 0) return -1;
  if (decrementTtl && !decrementTtlOrDrop(buf, off, version, drops)) return -1;
  return off;
}
