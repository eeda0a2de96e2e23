/**
 * Outer UDP source port from a stable hash of the inner flow (RFC 7348 §5: "a hash of fields from
 * the inner packet", in the dynamic range 49152-65535 when hashed), so one flow keeps one port
 * (no reordering across ECMP paths, GRO can coalesce) while different flows spread.
 *
 * The key is the flow key of src/wire/flow-key.ts (5-tuple for TCP, UDP and SCTP, 3-tuple
 * otherwise and for every IPv4 fragment). The hash is MurmurHash3 (x86_32) over the key words with
 * a fixed seed: the same flow maps to the same port in every process and on every node.
 */
import { flowPortsAtIpv4, flowPortsAtIpv6 } from '../wire/flow-key';
import {
  IPV4_MIN_HEADER_SIZE,
  IPV4_OFF_PROTOCOL,
  IPV4_VERSION,
  ipVersion,
  ipv4DstI32,
  ipv4SrcI32,
  readI32,
} from '../wire/ipv4';
import {
  IPV6_HEADER_SIZE,
  IPV6_OFF_DST,
  IPV6_OFF_NEXT_HEADER,
  IPV6_OFF_SRC,
  IPV6_VERSION,
} from '../wire/ipv6';

const SEED = 0x9747b28c;
/** NO_KEY_BYTES is how much of a packet without a flow key is hashed instead. */
const NO_KEY_BYTES = 20;

/** mix folds one 32-bit key word into the running MurmurHash3 state `h`. */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * fmix is MurmurHash3's finalizer: every input bit affects every output bit. It returns a signed
 * int32 on purpose: V8 returns those unboxed, while a u32 above 2^31 would allocate a HeapNumber
 * per call (measured: 14 scavenges per 2M packets).
 */
function fmix(h: number, len: number): number {
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * flowHash returns the unsigned 32-bit hash of the flow key of the IP packet at buf[off..off+len).
 * Never throws: a packet too short for its key (or not IPv4/IPv6) hashes whatever key bytes are
 * present, so malformed input still yields a deterministic value. (May allocate a HeapNumber for
 * results >= 2^31; the hot path uses `flowSourcePort`, which does not.)
 */
export function flowHash(buf: Uint8Array, off: number, len: number): number {
  return flowHashI32(buf, off, len) >>> 0;
}

/** flowHashI32 is `flowHash` as a signed int32 (same bits), allocation-free. */
function flowHashI32(buf: Uint8Array, off: number, len: number): number {
  let h = SEED;
  const version = len < 1 ? 0 : ipVersion(buf, off);
  if (version === IPV4_VERSION && len >= IPV4_MIN_HEADER_SIZE) {
    h = mix(h, ipv4SrcI32(buf, off));
    h = mix(h, ipv4DstI32(buf, off));
    h = mix(h, buf[off + IPV4_OFF_PROTOCOL]!);
    const p = flowPortsAtIpv4(buf, off, len);
    if (p < 0) return fmix(h, 12);
    return fmix(mix(h, readI32(buf, p)), 16);
  }
  if (version === IPV6_VERSION && len >= IPV6_HEADER_SIZE) {
    // Source and destination are adjacent: eight words from "Source Address".
    for (let a = off + IPV6_OFF_SRC; a < off + IPV6_OFF_DST + 16; a += 4) h = mix(h, readI32(buf, a));
    h = mix(h, buf[off + IPV6_OFF_NEXT_HEADER]!);
    const p = flowPortsAtIpv6(buf, off, len);
    if (p < 0) return fmix(h, 36);
    return fmix(mix(h, readI32(buf, p)), 40);
  }
  // Not a valid IP header: hash up to the first bytes so the result is still deterministic.
  const n = len < NO_KEY_BYTES ? (len < 0 ? 0 : len) : NO_KEY_BYTES;
  for (let i = 0; i < n; i++) h = mix(h, buf[off + i]!);
  return fmix(h, n);
}

/**
 * flowSourcePort maps the inner flow of the IP packet at buf[off..off+len) to a UDP source port
 * in [min, max] (inclusive). Multiply-shift instead of modulo keeps the mapping unbiased.
 */
export function flowSourcePort(buf: Uint8Array, off: number, len: number, min: number, max: number): number {
  const range = max - min + 1;
  return min + Math.floor(((flowHashI32(buf, off, len) >>> 0) * range) / 4294967296);
}
