/**
 * Outer UDP source port from a stable hash of the inner flow (RFC 7348 §5: "a hash of fields from
 * the inner packet", in the dynamic range 49152-65535 when hashed), so one flow keeps one port
 * (no reordering across ECMP paths, GRO can coalesce) while different flows spread.
 *
 * The key is the 5-tuple {src, dst, protocol, src port, dst port} for TCP, UDP and SCTP, and the
 * 3-tuple {src, dst, protocol} otherwise, including for every IPv4 fragment (later fragments carry
 * no ports, so a fragmented flow must not hash on them). IPv6 extension headers are not walked:
 * a packet whose Next Header is not TCP/UDP/SCTP hashes on the 3-tuple. The hash is MurmurHash3
 * (x86_32) over the key words with a fixed seed: the same flow maps to the same port in every
 * process and on every node.
 */
import { IP_PROTO_SCTP, IP_PROTO_TCP, IP_PROTO_UDP } from '../wire/ipv4';

const SEED = 0x9747b28c;

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

function word(buf: Uint8Array, p: number): number {
  return (buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3];
}

function hasPorts(proto: number): boolean {
  return proto === IP_PROTO_TCP || proto === IP_PROTO_UDP || proto === IP_PROTO_SCTP;
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
  if (len < 1) return fmix(SEED, 0);
  const version = buf[off] >>> 4;
  let h = SEED;
  if (version === 4 && len >= 20) {
    const proto = buf[off + 9];
    h = mix(h, word(buf, off + 12));
    h = mix(h, word(buf, off + 16));
    h = mix(h, proto);
    const hlen = (buf[off + 0] & 0x0f) << 2;
    // Any fragment (MF set or nonzero offset) hashes without ports.
    const fragment = ((buf[off + 6] & 0x3f) | buf[off + 7]) !== 0;
    if (hasPorts(proto) && !fragment && hlen >= 20 && len >= hlen + 4) {
      h = mix(h, word(buf, off + hlen));
      return fmix(h, 16);
    }
    return fmix(h, 12);
  }
  if (version === 6 && len >= 40) {
    for (let p = off + 8; p < off + 40; p += 4) h = mix(h, word(buf, p));
    const proto = buf[off + 6];
    h = mix(h, proto);
    if (hasPorts(proto) && len >= 44) {
      h = mix(h, word(buf, off + 40));
      return fmix(h, 40);
    }
    return fmix(h, 36);
  }
  // Not a valid IP header: hash up to the first 20 bytes so the result is still deterministic.
  const n = len < 20 ? len : 20;
  for (let i = 0; i < n; i++) h = mix(h, buf[off + i]);
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
