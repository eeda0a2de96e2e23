/**
 * The flow key of an IP packet: the fields that name its flow, read once for everything that
 * keys on flows (the outer source-port hash of RFC 7348 §5, src/encap/flow-hash.ts, and the
 * `--debug` flow counters, src/dataplane/flow-table.ts).
 *
 * The key is the 5-tuple {source, destination, protocol, source port, destination port} for TCP,
 * UDP and SCTP (the ports are the first 4 bytes of all three headers: RFC 9293 §3.1, RFC 768,
 * RFC 9260 §3.1), and the 3-tuple {source, destination, protocol} otherwise, including for every
 * IPv4 fragment: later fragments carry no ports, so a fragmented flow must not key on them. IPv6
 * extension headers are not walked: a Next Header other than TCP/UDP/SCTP keys on the 3-tuple.
 *
 * As 32-bit words, the key is
 *   IPv4  [src, dst, protocol, ports?]                        3 or 4 words
 *   IPv6  [src (4 words), dst (4 words), protocol, ports?]    9 or 10 words
 * where `ports` is source port << 16 | destination port, read at `flowPortsAtIpv4` /
 * `flowPortsAtIpv6`. The addresses and protocol are the IP header's own fields (ipv4.ts,
 * ipv6.ts); this file decides the ports.
 */
import {
  IP_PROTO_SCTP,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  IPV4_MIN_HEADER_SIZE,
  IPV4_OFF_PROTOCOL,
  ipv4HeaderLength,
  ipv4IsFragment,
} from './ipv4';
import { IPV6_HEADER_SIZE, IPV6_OFF_NEXT_HEADER } from './ipv6';

/** FLOW_KEY_PORTS_SIZE is the bytes of the L4 header in the key: the two 16-bit ports. */
export const FLOW_KEY_PORTS_SIZE = 4;

/** flowHasPorts reports whether protocol `proto` starts with a source and a destination port. */
export function flowHasPorts(proto: number): boolean {
  return proto === IP_PROTO_TCP || proto === IP_PROTO_UDP || proto === IP_PROTO_SCTP;
}

/**
 * flowPortsAtIpv4 returns the offset of the port pair that belongs in the flow key of the IPv4
 * packet at buf[off..off+len), or -1 when its key is the 3-tuple: a protocol without ports, any
 * fragment, or a packet too short to hold them. The caller has checked len >= 20.
 */
export function flowPortsAtIpv4(buf: Uint8Array, off: number, len: number): number {
  if (!flowHasPorts(buf[off + IPV4_OFF_PROTOCOL]) || ipv4IsFragment(buf, off)) return -1;
  const hlen = ipv4HeaderLength(buf, off);
  return hlen >= IPV4_MIN_HEADER_SIZE && len >= hlen + FLOW_KEY_PORTS_SIZE ? off + hlen : -1;
}

/**
 * flowPortsAtIpv6 is `flowPortsAtIpv4` for the IPv6 packet at buf[off..off+len) (extension headers
 * are not walked). The caller has checked len >= 40.
 */
export function flowPortsAtIpv6(buf: Uint8Array, off: number, len: number): number {
  if (!flowHasPorts(buf[off + IPV6_OFF_NEXT_HEADER])) return -1;
  return len >= IPV6_HEADER_SIZE + FLOW_KEY_PORTS_SIZE ? off + IPV6_HEADER_SIZE : -1;
}
