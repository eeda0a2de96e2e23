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
 * The key is written as int32 words into a caller-owned Int32Array (no allocation):
 *   IPv4  [src, dst, protocol, ports?]                  3 or 4 words
 *   IPv6  [src (4 words), dst (4 words), protocol, ports?]   9 or 10 words
 * where `ports` is source port << 16 | destination port.
 */
import {
  IP_PROTO_SCTP,
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  IPV4_MIN_HEADER_SIZE,
  IPV4_OFF_DST,
  IPV4_OFF_PROTOCOL,
  IPV4_OFF_SRC,
  IPV4_VERSION,
  ipVersion,
  ipv4HeaderLength,
  ipv4IsFragment,
  readI32,
} from './ipv4';
import { IPV6_HEADER_SIZE, IPV6_OFF_NEXT_HEADER, IPV6_OFF_SRC, IPV6_VERSION } from './ipv6';

/** FLOW_KEY_WORDS is the longest key (IPv6 with ports), the size of the Int32Array to pass. */
export const FLOW_KEY_WORDS = 10;
/** FLOW_KEY_PORTS_SIZE is the bytes of the L4 header in the key: the two 16-bit ports. */
export const FLOW_KEY_PORTS_SIZE = 4;

/** flowHasPorts reports whether protocol `proto` starts with a source and a destination port. */
export function flowHasPorts(proto: number): boolean {
  return proto === IP_PROTO_TCP || proto === IP_PROTO_UDP || proto === IP_PROTO_SCTP;
}

/**
 * readFlowKey writes the flow key of the IP packet at buf[off..off+len) into `key` (at least
 * FLOW_KEY_WORDS long) and returns its length in words (see the module comment), or 0 when the
 * packet is too short for its version's fixed header or is not IPv4/IPv6. Never throws.
 */
export function readFlowKey(buf: Uint8Array, off: number, len: number, key: Int32Array): number {
  if (len < 1) return 0;
  const version = ipVersion(buf, off);
  if (version === IPV4_VERSION && len >= IPV4_MIN_HEADER_SIZE) {
    const proto = buf[off + IPV4_OFF_PROTOCOL];
    key[0] = readI32(buf, off + IPV4_OFF_SRC);
    key[1] = readI32(buf, off + IPV4_OFF_DST);
    key[2] = proto;
    const hlen = ipv4HeaderLength(buf, off);
    if (
      flowHasPorts(proto) &&
      !ipv4IsFragment(buf, off) &&
      hlen >= IPV4_MIN_HEADER_SIZE &&
      len >= hlen + FLOW_KEY_PORTS_SIZE
    ) {
      key[3] = readI32(buf, off + hlen);
      return 4;
    }
    return 3;
  }
  if (version === IPV6_VERSION && len >= IPV6_HEADER_SIZE) {
    // Source and destination are adjacent: 8 words from IPV6_OFF_SRC.
    const a = off + IPV6_OFF_SRC;
    for (let i = 0; i < 8; i++) key[i] = readI32(buf, a + 4 * i);
    const proto = buf[off + IPV6_OFF_NEXT_HEADER];
    key[8] = proto;
    if (flowHasPorts(proto) && len >= IPV6_HEADER_SIZE + FLOW_KEY_PORTS_SIZE) {
      key[9] = readI32(buf, off + IPV6_HEADER_SIZE);
      return 10;
    }
    return 9;
  }
  return 0;
}
