/**
 * micro-trains: what the receive-side micro-benchmarks (ingress-micro, coalesce-micro) share: the
 * TCP segments of a GRO train as Linux sends them (IPv4 or IPv6, timestamps option, seeded
 * pseudo-random payload, complete or partial checksum), and the ns-per-call timing loop with its
 * argument and median helpers.
 */
import { checksumAdd, checksumFinish, checksumFold } from '../src/wire/checksum';
import { pseudoSumIpv4, pseudoSumIpv6 } from '../src/wire/tcp';

/** VXLAN (8) + inner Ethernet (14) in front of each inner packet. */
export const PREFIX = 22;
/** TCP header with the timestamps option, as Linux sends. */
export const TCP_HDR = 32;

/** Segment is one TCP segment to write; `len` is the whole IP packet. */
export interface Segment {
  readonly v6: boolean;
  readonly len: number;
  /** IPv4 identification (ignored for IPv6). */
  readonly ipId: number;
  readonly sport: number;
  readonly seq: number;
  /** PSH set (the last segment of a train), else ACK alone. */
  readonly psh: boolean;
  /** Leave the pseudo-header sum in the checksum field (a kernel peer's CHECKSUM_PARTIAL). */
  readonly partial: boolean;
}

/**
 * writeTcpSegment writes `s` at buf[off..): 10.244.1.2 -> 10.244.2.3 (fd00::2 -> fd00::3 for
 * IPv6), port sport -> 5201, payload from the LCG state `rnd`. Returns the LCG's next state.
 */
export function writeTcpSegment(buf: Buffer, off: number, s: Segment, rnd: number): number {
  const ipHdr = s.v6 ? 40 : 20;
  const len = s.len;
  if (s.v6) {
    buf.writeUInt32BE(0x6000_0000, off);
    buf.writeUInt16BE(len - 40, off + 4);
    buf[off + 6] = 6;
    buf[off + 7] = 64;
    buf.writeUInt32BE(0xfd00_0000, off + 8);
    buf[off + 23] = 2;
    buf.writeUInt32BE(0xfd00_0000, off + 24);
    buf[off + 39] = 3;
  } else {
    buf[off] = 0x45;
    buf[off + 1] = 0;
    buf.writeUInt16BE(len, off + 2);
    buf.writeUInt16BE(s.ipId & 0xffff, off + 4);
    buf.writeUInt16BE(0x4000, off + 6);
    buf[off + 8] = 64;
    buf[off + 9] = 6;
    buf.writeUInt16BE(0, off + 10);
    buf.writeUInt32BE(0x0af4_0102, off + 12);
    buf.writeUInt32BE(0x0af4_0203, off + 16);
    buf.writeUInt16BE(checksumFinish(checksumAdd(buf, off, 20, 0)), off + 10);
  }
  const th = off + ipHdr;
  buf.writeUInt16BE(s.sport, th);
  buf.writeUInt16BE(5201, th + 2);
  buf.writeUInt32BE(s.seq >>> 0, th + 4);
  buf.writeUInt32BE(0x1234_5678, th + 8);
  buf[th + 12] = (TCP_HDR / 4) << 4;
  buf[th + 13] = s.psh ? 0x18 : 0x10;
  buf.writeUInt16BE(502, th + 14);
  buf.writeUInt16BE(0, th + 16);
  buf.writeUInt16BE(0, th + 18);
  buf.writeUInt32BE(0x0101_080a, th + 20); // NOP NOP TS
  buf.writeUInt32BE(0x00a0_b0c0, th + 24);
  buf.writeUInt32BE(0x00d0_e0f0, th + 28);
  for (let k = th + TCP_HDR; k < off + len; k++) {
    rnd = (Math.imul(rnd, 1103515245) + 12345) | 0;
    buf[k] = rnd >>> 24;
  }
  const ps = s.v6 ? pseudoSumIpv6(buf, off, 6, len - ipHdr) : pseudoSumIpv4(buf, off, 6, len - ipHdr);
  buf.writeUInt16BE(
    s.partial ? checksumFold(ps) : checksumFinish(checksumAdd(buf, th, len - ipHdr, ps)),
    th + 16,
  );
  return rnd;
}

/**
 * nsPerCall runs `call` for `ms` per round, `rounds` times (`inner` calls between clock reads,
 * after 200 untimed calls so the code has tiered up); returns ns per call per round.
 */
export function nsPerCall(call: () => void, rounds: number, ms: number, inner: number): number[] {
  for (let i = 0; i < 200; i++) call();
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const t0 = process.hrtime.bigint();
    const limit = BigInt(ms) * 1_000_000n;
    let t = t0;
    while (t - t0 < limit) {
      for (let i = 0; i < inner; i++) call();
      calls += inner;
      t = process.hrtime.bigint();
    }
    out.push(Number(t - t0) / calls);
  }
  return out;
}

/** median of `xs` (the upper one of an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** numArg is the number after `name` on the command line, or `dflt`. */
export function numArg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}
