/**
 * The TCP coalescer compares header ranges as 32-bit words, takes the addresses' pseudo-header
 * sum once per super-packet, sums each TCP header with its payload in the native pass and plans
 * no sum for partial checksums. These properties show it accepts and rejects exactly what the
 * byte-by-byte reference (tcp-coalesce-reference.ts, the code before that change) does: on random
 * batches of a few flows, with random header bytes changed (addresses, ports, ACK, options,
 * ToS/TTL/DF, traffic class/flow label, IHL, flags...), gaps, short and long segments, bad and
 * partial checksums, both write the same descriptors, counters and buffer bytes. The fast path
 * for the next full-size in-order segment of the last output (`appendToTail`) is held to the same
 * reference on the runs it must take and the ones that must leave it: a flag, a size change, a
 * gap, a second flow interleaved, the 64 KiB limit, IPv4 and IPv6.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TcpCoalescer } from '../../src/offload/tcp-coalesce';
import { checksumAdd, checksumFinish, checksumFold } from '../../src/wire/checksum';
import { pseudoSumIpv4, pseudoSumIpv6 } from '../../src/wire/tcp';
import { ReferenceTcpCoalescer } from './tcp-coalesce-reference';

const PREFIX = 22;
const MAX = 128;

/** Pkt is one generated packet (see `pkt`). */
interface Pkt {
  flow: number;
  seqStep: string;
  payload: string;
  flags: number;
  csum: string;
  mutations: Array<[number, number]>;
  mutate: boolean;
  seed: number;
}

const pkt: fc.Arbitrary<Pkt> = fc.record({
  flow: fc.integer({ min: 0, max: 2 }),
  seqStep: fc.constantFrom('next', 'next', 'next', 'next', 'next', 'next', 'next', 'next', 'gap', 'same'),
  payload: fc.constantFrom('mss', 'mss', 'mss', 'mss', 'short', 'long', 'zero'),
  flags: fc.constantFrom(
    0x10,
    0x10,
    0x10,
    0x10,
    0x10,
    0x10,
    0x10,
    0x10,
    0x10,
    0x10,
    0x18,
    0x18,
    0x11,
    0x02,
    0x04,
    0x12,
    0x30,
  ),
  csum: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'partial', 'partial', 'bad'),
  /** Header bytes to change: [position in the first 72 bytes, xor value], checksum recomputed after. */
  mutations: fc.array(fc.tuple(fc.integer({ min: 0, max: 71 }), fc.integer({ min: 1, max: 255 })), {
    maxLength: 2,
  }),
  mutate: fc.constantFrom(false, false, false, true),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

const flowShape = fc.record({
  v6: fc.boolean(),
  mss: fc.integer({ min: 1, max: 180 }),
  options: fc.constantFrom(0, 4, 12),
});

/** build lays the batch out like a decapsulated receive: PREFIX free bytes before each packet. */
function build(
  flows: Array<{ v6: boolean; mss: number; options: number }>,
  pkts: Array<Pkt>,
): { buf: Buffer; list: Array<[number, number]> } {
  const maxMss = Math.max(400, ...flows.map((f) => f.mss + 50));
  const buf = Buffer.alloc(pkts.length * (PREFIX + 60 + 40 + maxMss) + 64);
  const seqs = flows.map((_, k) => (0x7fff_ff00 + k * 0x1000_0000) | 0);
  const list: Array<[number, number]> = [];
  let at = PREFIX;
  for (const p of pkts) {
    const f = flows[p.flow % flows.length]!;
    const ipHdr = f.v6 ? 40 : 20;
    const tcpHdr = 20 + f.options;
    const payload =
      p.payload === 'mss'
        ? f.mss
        : p.payload === 'short'
          ? Math.max(1, f.mss - 1 - (p.seed % f.mss))
          : p.payload === 'long'
            ? f.mss + 1 + (p.seed % 50)
            : 0;
    const len = ipHdr + tcpHdr + payload;
    const off = at;
    const k = p.flow % flows.length;
    if (p.seqStep === 'gap') seqs[k] = (seqs[k]! + 7) | 0;
    const seq = p.seqStep === 'same' ? (seqs[k]! - f.mss) | 0 : seqs[k]!;
    if (f.v6) {
      buf.writeUInt32BE(0x6000_0000 | (k << 4), off);
      buf.writeUInt16BE(len - 40, off + 4);
      buf[off + 6] = 6;
      buf[off + 7] = 64;
      buf.writeUInt32BE(0xfd00_0000, off + 8);
      buf[off + 23] = 2 + k;
      buf.writeUInt32BE(0xfd00_0000, off + 24);
      buf[off + 39] = 3;
    } else {
      buf[off] = 0x45;
      buf.writeUInt16BE(len, off + 2);
      buf.writeUInt16BE(p.seed & 0xffff, off + 4);
      buf.writeUInt16BE(0x4000, off + 6);
      buf[off + 8] = 64;
      buf[off + 9] = 6;
      buf.writeUInt32BE(0x0af4_0102 + k, off + 12);
      buf.writeUInt32BE(0x0af4_0203, off + 16);
    }
    const th = off + ipHdr;
    buf.writeUInt16BE(40000 + k, th);
    buf.writeUInt16BE(5201, th + 2);
    buf.writeInt32BE(seq, th + 4);
    buf.writeUInt32BE(0x1234_5678, th + 8);
    buf[th + 12] = (tcpHdr / 4) << 4;
    buf[th + 13] = p.flags;
    buf.writeUInt16BE(502 + (p.seed % 3), th + 14);
    for (let o = 20; o < tcpHdr; o += 4) buf.writeUInt32BE(o === 20 ? 0x0101_080a : 0x00a0_b0c0 + o, th + o);
    let r = p.seed;
    for (let i = th + tcpHdr; i < off + len; i++) {
      r = (Math.imul(r, 1103515245) + 12345) | 0;
      buf[i] = r >>> 24;
    }
    if (p.mutate) for (const [pos, x] of p.mutations) if (pos < ipHdr + tcpHdr) buf[off + pos]! ^= x;
    const ipv4 = buf[off]! >> 4 === 4;
    if (ipv4) {
      buf.writeUInt16BE(0, off + 10);
      buf.writeUInt16BE(checksumFinish(checksumAdd(buf, off, 20, 0)), off + 10);
    }
    const ps = ipv4 ? pseudoSumIpv4(buf, off, 6, len - ipHdr) : pseudoSumIpv6(buf, off, 6, len - ipHdr);
    buf.writeUInt16BE(0, th + 16);
    const good = checksumFinish(checksumAdd(buf, th, len - ipHdr, ps));
    buf.writeUInt16BE(
      p.csum === 'partial' ? checksumFold(ps) : p.csum === 'bad' ? (good ^ 0x0100) & 0xffff : good,
      th + 16,
    );
    if (p.seqStep !== 'same') seqs[k] = (seqs[k]! + payload) | 0;
    list.push([off, len]);
    at += len + PREFIX;
  }
  return { buf, list };
}

type Coalescer = Pick<
  TcpCoalescer,
  'begin' | 'add' | 'finish' | 'outSegs' | 'outBytes' | 'outputs' | 'dropped' | 'droppedBytes' | 'stats'
>;

function run(c: Coalescer, buf: Buffer, list: Array<[number, number]>) {
  const before = { ...c.stats };
  c.begin(buf);
  const added = list.map(([o, l]) => c.add(o, l));
  const offs = new Uint32Array(MAX);
  const lens = new Uint32Array(MAX);
  const trains = new Uint16Array(MAX);
  const n = c.finish(offs, lens, trains);
  return {
    added,
    n,
    offs: [...offs.subarray(0, n)],
    lens: [...lens.subarray(0, n)],
    trains: [...trains.subarray(0, n)],
    outSegs: [...c.outSegs.subarray(0, n)],
    outBytes: [...c.outBytes.subarray(0, n)],
    outputs: c.outputs,
    dropped: c.dropped,
    droppedBytes: c.droppedBytes,
    // This batch's counts (the instances are reused; a failed run must not taint later ones).
    stats: Object.fromEntries(
      Object.entries(c.stats).map(([k, v]) => [k, v - before[k as keyof typeof before]]),
    ),
    bytes: Buffer.from(buf),
  };
}

describe('TCP coalescer against the byte-by-byte reference', () => {
  // One pair per MTU, reused across runs: a new buffer each batch (the DataView follows it).
  const pairs = [65535, 1500, 120].map((mtu) => ({
    mtu,
    fast: new TcpCoalescer(MAX, mtu),
    ref: new ReferenceTcpCoalescer(MAX, mtu),
  }));

  test('same descriptors, counters and bytes on random batches (IPv4 and IPv6, mutated headers)', () => {
    let merged = 0;
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.array(flowShape, { minLength: 1, maxLength: 3 }),
        fc.array(pkt, { minLength: 1, maxLength: 80, size: 'large' }),
        fc.integer({ min: 0, max: 2 }),
        (flows, pkts, which) => {
          const { buf, list } = build(flows, pkts);
          const copy = Buffer.from(buf);
          const { fast, ref } = pairs[which]!;
          const a = run(fast, buf, list);
          const b = run(ref, copy, list);
          assert.deepEqual(a, b);
          merged += a.stats.segmentsMerged;
          rejected += a.outputs;
        },
      ),
      { numRuns: 3000 },
    );
    // The generator must exercise both decisions, or the equality above says little.
    assert.ok(merged > 10000, `segments merged: ${merged}`);
    assert.ok(rejected > 10000, `outputs: ${rejected}`);
  });

  test('same decisions when every packet differs from the first in one header byte', () => {
    const flows = [
      { v6: false, mss: 100, options: 12 },
      { v6: true, mss: 100, options: 12 },
    ];
    for (const v6 of [false, true]) {
      const hdr = (v6 ? 40 : 20) + 32;
      for (let pos = 0; pos < hdr; pos++) {
        for (const x of [0x01, 0x80]) {
          const base = {
            flow: v6 ? 1 : 0,
            seqStep: 'next',
            payload: 'mss',
            flags: 0x10,
            csum: 'ok',
            seed: 7,
          };
          const pkts = [
            { ...base, mutations: [], mutate: false },
            { ...base, mutations: [[pos, x]] as Array<[number, number]>, mutate: true },
            { ...base, mutations: [], mutate: false },
          ];
          const { buf, list } = build(flows, pkts as Array<Pkt>);
          const copy = Buffer.from(buf);
          const a = run(new TcpCoalescer(MAX), buf, list);
          const b = run(new ReferenceTcpCoalescer(MAX), copy, list);
          assert.deepEqual(a, b, `IPv${v6 ? 6 : 4} byte ${pos} ^ ${x}`);
        }
      }
    }
  });
});

describe('the fast path for the next segment of the last output', () => {
  const seg = (flow: number, over: Partial<Pkt> = {}): Pkt => ({
    flow,
    seqStep: 'next',
    payload: 'mss',
    flags: 0x10,
    csum: 'ok',
    mutations: [],
    mutate: false,
    seed: 11,
    ...over,
  });
  const run20 = (flow: number, at: number, over: Partial<Pkt>): Pkt[] =>
    Array.from({ length: 20 }, (_, k) => (k === at ? seg(flow, over) : seg(flow)));

  /** check runs `pkts` through both coalescers; returns how many merges the fast path made. */
  function check(
    flows: Array<{ v6: boolean; mss: number; options: number }>,
    pkts: Pkt[],
    mtu = 65535,
  ): number {
    const { buf, list } = build(flows, pkts);
    const copy = Buffer.from(buf);
    const fast = new TcpCoalescer(MAX, mtu);
    const a = run(fast, buf, list);
    const b = run(new ReferenceTcpCoalescer(MAX, mtu), copy, list);
    assert.deepEqual(a, b);
    return fast.tailAppends;
  }

  for (const v6 of [false, true]) {
    const ip = `IPv${v6 ? 6 : 4}`;
    const flows = [
      { v6, mss: 100, options: 12 },
      { v6, mss: 100, options: 12 },
    ];

    test(`${ip}: an in-order run is merged by the fast path, PSH ends it`, () => {
      const pkts = run20(0, 19, { flags: 0x18 });
      assert.equal(check(flows, pkts), 19);
      // Partial checksums (a kernel sender over veth) and a bad one take the same path.
      assert.equal(check(flows, run20(0, 5, { csum: 'partial' })), 19);
      assert.equal(check(flows, run20(0, 7, { csum: 'bad' })), 19);
    });

    test(`${ip}: a run broken by a flag, a size change or a gap leaves the fast path`, () => {
      // PSH mid-run: merged, then the output is closed and the next segment opens another.
      assert.equal(check(flows, run20(0, 9, { flags: 0x18 })), 18);
      // FIN, SYN, RST, URG: not mergeable; the flow is closed and the run resumes after it.
      for (const flags of [0x11, 0x02, 0x04, 0x30]) assert.equal(check(flows, run20(0, 9, { flags })), 17);
      // A shorter segment: merged by the general search, and it closes the output.
      assert.equal(check(flows, run20(0, 9, { payload: 'short' })), 17);
      // A longer one is not merged; it opens an output whose next (shorter) segment is merged by
      // the general search and closes it.
      assert.equal(check(flows, run20(0, 9, { payload: 'long' })), 16);
      // A gap or a repeated sequence number: the segment opens a new output, which the rest of the
      // run (in order behind it) extends.
      assert.equal(check(flows, run20(0, 9, { seqStep: 'gap' })), 18);
      assert.equal(check(flows, run20(0, 9, { seqStep: 'same' })), 18);
    });

    test(`${ip}: a second flow interleaved goes through the general search`, () => {
      const pkts: Pkt[] = [];
      for (let k = 0; k < 10; k++) pkts.push(seg(0), seg(1));
      // Flow 0's packets find their output behind flow 1's (general search); flow 1's output stays
      // the last one, so its packets take the fast path.
      assert.equal(check(flows, pkts), 9);
      // Five of flow 0, five of flow 1, five of flow 0: the third run continues flow 0's first
      // output, which is not the last one, so only the first two runs use the fast path.
      const runs = [
        ...run20(0, -1, {}).slice(0, 5),
        ...run20(1, -1, {}).slice(0, 5),
        ...run20(0, -1, {}).slice(0, 5),
      ];
      assert.equal(check(flows, runs), 4 + 4);
    });

    test(`${ip}: the 64 KiB limit starts a new output`, () => {
      const big = [{ v6, mss: 1448, options: 12 }];
      const hdr = (v6 ? 40 : 20) + 32;
      const fit = Math.floor((65535 - hdr) / 1448);
      const pkts = Array.from({ length: fit + 5 }, () => seg(0));
      // fit segments in the first output (fit - 1 merges), then 5 in the next (4 merges).
      assert.equal(check(big, pkts), fit - 1 + 4);
    });

    test(`${ip}: a packet over the TUN MTU is not the start of a fast-path run`, () => {
      assert.equal(check(flows, run20(0, -1, {}), 100), 0);
    });
  }

  test('every header byte changed in a segment behind a run of two (the planNext case)', () => {
    const flows = [
      { v6: false, mss: 100, options: 12 },
      { v6: true, mss: 100, options: 12 },
    ];
    for (const v6 of [false, true]) {
      const hdr = (v6 ? 40 : 20) + 32;
      for (let pos = 0; pos < hdr; pos++) {
        for (const x of [0x01, 0x80]) {
          const f = v6 ? 1 : 0;
          const pkts = [seg(f), seg(f), seg(f, { mutations: [[pos, x]], mutate: true }), seg(f)];
          const { buf, list } = build(flows, pkts);
          const copy = Buffer.from(buf);
          const a = run(new TcpCoalescer(MAX), buf, list);
          const b = run(new ReferenceTcpCoalescer(MAX), copy, list);
          assert.deepEqual(a, b, `IPv${v6 ? 6 : 4} byte ${pos} ^ ${x}`);
        }
      }
    }
  });
});
