/**
 * coalesce-micro: nanoseconds per segment of the TCP coalescer (src/offload/tcp-coalesce.ts) on
 * batches shaped like what `recvmmsg` with UDP_GRO hands the receiving weft after VXLAN decap:
 * GRO trains of one flow's MSS-sized segments, each behind its 22 bytes of VXLAN + inner
 * Ethernet, contiguous in the train's slot; the last segment of a train carries PSH.
 *
 * Cases: IPv4 1448-byte segments (MTU 1500 inner), IPv4 1398 (the MTU 1450 a VXLAN overlay in a
 * 1500 underlay gets), IPv4 1448 with partial checksums (a kernel peer over veth leaves only the
 * pseudo-header sum) and IPv6 1428, all taking the fast path for the next segment of the last
 * output; and IPv4 1448 with two flows alternating packet by packet, where the first flow's
 * segments find their output behind the other's and take the general search (after the fast
 * path's failed attempt). Each call is one batch: begin, add per packet, finish (the native
 * sum-only pass included). `sum pass only` times that native pass alone on the same ranges, so
 * the JavaScript's share is the difference. Per case: --rounds rounds of --time ms, median.
 *
 * Run: `npm run build && node dist/bench/coalesce-micro.js [--rounds 9] [--time 300] [--json PATH]`.
 */
import fs from 'node:fs';

import { CsumCopier, SUM_ONLY } from '../src/offload/csum-copy';
import { TcpCoalescer } from '../src/offload/tcp-coalesce';
import { PREFIX, TCP_HDR, median, nsPerCall, numArg, writeTcpSegment } from './micro-trains';

const TRAIN_SEGS = 42; // a UDP GRO train stops below 64 KiB of datagrams
const TRAINS = 4;

interface Shape {
  readonly name: string;
  readonly v6: boolean;
  readonly mss: number;
  readonly partial: boolean;
  /** Flows alternating packet by packet (1: one flow per train). */
  readonly flows: number;
}

const SHAPES: Shape[] = [
  { name: 'IPv4 1448 B, complete checksums', v6: false, mss: 1448, partial: false, flows: 1 },
  { name: 'IPv4 1398 B, complete checksums', v6: false, mss: 1398, partial: false, flows: 1 },
  { name: 'IPv4 1448 B, partial checksums (kernel peer)', v6: false, mss: 1448, partial: true, flows: 1 },
  { name: 'IPv6 1428 B, complete checksums', v6: true, mss: 1428, partial: false, flows: 1 },
  { name: 'IPv4 1448 B, two flows alternating', v6: false, mss: 1448, partial: false, flows: 2 },
];

/** Batch is one receive's worth of packets and a pristine copy of its bytes. */
interface Batch {
  readonly buf: Buffer;
  readonly pristine: Buffer;
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  readonly hdr: number;
}

function build(s: Shape): Batch {
  const ipHdr = s.v6 ? 40 : 20;
  const hdr = ipHdr + TCP_HDR;
  const len = hdr + s.mss;
  const n = TRAINS * TRAIN_SEGS;
  const buf = Buffer.alloc(n * (PREFIX + len) + 64);
  const offs = new Uint32Array(n);
  const lens = new Uint32Array(n);
  const seqs = [0x7fff_f000, 0x1000_0000]; // the first crosses 2^31 within the batch
  let rnd = 12345;
  for (let i = 0; i < n; i++) {
    const f = i % s.flows;
    const off = i * (PREFIX + len) + PREFIX;
    offs[i] = off;
    lens[i] = len;
    const psh = i % TRAIN_SEGS >= TRAIN_SEGS - s.flows;
    const seg = { v6: s.v6, len, ipId: i, sport: 40000 + f, seq: seqs[f]!, psh, partial: s.partial };
    rnd = writeTcpSegment(buf, off, seg, rnd);
    seqs[f] = (seqs[f]! + s.mss) | 0;
  }
  return { buf, pristine: Buffer.from(buf), offs, lens, hdr };
}

function main(): void {
  const rounds = numArg('--rounds', 9);
  const ms = numArg('--time', 300);
  const ji = process.argv.indexOf('--json');
  const results: Array<Record<string, unknown>> = [];
  for (const s of SHAPES) {
    const b = build(s);
    const n = b.offs.length;
    const c = new TcpCoalescer(2048, 65535);
    const offs = new Uint32Array(2048);
    const lens = new Uint32Array(2048);
    const trains = new Uint16Array(2048);
    let outputs = 0;
    const heads = new Uint32Array(n);
    let nHeads = 0;
    const batch = (): void => {
      // finish rewrote the first packet of each super-packet: put those headers back.
      for (let h = 0; h < nHeads; h++) b.pristine.copy(b.buf, heads[h]!, heads[h]!, heads[h]! + b.hdr);
      c.begin(b.buf);
      for (let i = 0; i < n; i++) c.add(b.offs[i]!, b.lens[i]!);
      const w = c.finish(offs, lens, trains);
      nHeads = 0;
      for (let k = 0; k < w; k++) if (trains[k]! >= 2) heads[nHeads++] = offs[k]! + 10;
      outputs = c.outputs;
    };
    batch();
    if (outputs !== TRAINS * s.flows || c.dropped !== 0)
      throw new Error(`${s.name}: ${outputs} outputs, ${c.dropped} dropped`);
    const full = nsPerCall(batch, rounds, ms, 50).map((x) => x / n);
    if (outputs !== TRAINS * s.flows) throw new Error(`${s.name}: ${outputs} outputs after timing`);
    const cp = new CsumCopier(2 * n);
    const sumOnly = (): void => {
      for (let i = 0; i < n; i++) cp.add(b.offs[i]! + b.hdr - 12, SUM_ONLY, b.lens[i]! - b.hdr + 12);
      cp.run(b.buf, b.buf);
    };
    const sums = nsPerCall(sumOnly, rounds, ms, 50).map((x) => x / n);
    const r = {
      case: s.name,
      segments: n,
      nsPerSegment: median(full),
      sumPassNsPerSegment: median(sums),
      jsNsPerSegment: median(full) - median(sums),
      rounds: full,
    };
    results.push(r);
    console.log(
      `${s.name.padEnd(46)} ${r.nsPerSegment.toFixed(1).padStart(7)} ns/segment ` +
        `(sum pass ${r.sumPassNsPerSegment.toFixed(1)}, the rest ${r.jsNsPerSegment.toFixed(1)}; ` +
        `rounds ${Math.min(...full).toFixed(1)}-${Math.max(...full).toFixed(1)})`,
    );
  }
  if (ji >= 0)
    fs.writeFileSync(
      process.argv[ji + 1]!,
      JSON.stringify({ date: new Date().toISOString(), results }, null, 2),
    );
}

main();
