/**
 * Stage 4 of the offload egress (`formTrains`, src/dataplane/udp-trains.ts) on its own, against
 * what the addon will send: on random descriptors (plain packets, back to back or not, and
 * scatter-gather segments found through `SegmentTails` by header slot, to a few peers, ports and
 * lanes, of train-forming and train-ending sizes), the datagrams the rewritten descriptors describe
 * (read as native/src/batch.cc SendBatch reads them) are the input's, in order, each with its own
 * destination and lane; every train keeps SendBatch's rules. This covers member trains written
 * where they were read (nothing to move) and ones moved down behind a merged contiguous train.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HDR_SLOT, HDR_SLOT_SHIFT } from '../../src/dataplane/egress-offload';
import { formTrains, type SegmentTails, type TrainCounts } from '../../src/dataplane/udp-trains';
import { PacketBatch } from '../../src/io/packet-batch';
import { MAX_GSO_BYTES, MAX_GSO_SEGMENTS } from '../../src/offload/tso';

test('HDR_SLOT is 1 << HDR_SLOT_SHIFT: the shift that finds a segment slot divides by HDR_SLOT', () => {
  assert.equal(HDR_SLOT, 256);
  assert.equal(HDR_SLOT, 1 << HDR_SLOT_SHIFT);
  for (const d of [0, 1, 255, 256, 257, 22 + 3 * 256, 0x7fffff]) {
    assert.equal(d >>> HDR_SLOT_SHIFT, Math.floor(d / HDR_SLOT), `${d}`);
  }
});

interface Desc {
  seg: boolean;
  key: number;
  size: number;
  backToBack: boolean;
  prefix: number;
  head: number;
}

const desc: fc.Arbitrary<Desc> = fc.record({
  seg: fc.boolean(),
  key: fc.constantFrom(0, 0, 0, 0, 1, 2, 3),
  size: fc.constantFrom(1400, 1400, 1400, 1400, 700, 200, 1),
  backToBack: fc.constantFrom(true, true, false),
  prefix: fc.constantFrom(0, 22),
  head: fc.integer({ min: 1, max: 120 }),
});

/** Descriptors in runs of one kind, key and size: what stage 3b hands over. */
const descs: fc.Arbitrary<Desc[]> = fc
  .array(fc.tuple(desc, fc.integer({ min: 1, max: 8 })), { minLength: 1, maxLength: 40 })
  .map((runs) => runs.flatMap(([d, n]) => Array.from({ length: n }, () => d)).slice(0, N));

/** [addr, port, lane] by key. */
const KEYS: [number, number, number][] = [
  [0xc0000202, 8472, 0],
  [0xc0000203, 8472, 0],
  [0xc0000202, 8285, 0],
  [0xc0000202, 8472, 5],
];

const N = 200;
const PLAIN = 0;
const TAILS = 320 * 1024;
const SEG_START = 640 * 1024;

/** Datagram is one datagram the addon sends: bytes, destination, lane. */
interface Datagram {
  bytes: string;
  addr: number;
  port: number;
  lane: number;
}

/** sent reads descriptors [0, w) of `b` as SendBatch does: its messages, each checked, and their datagrams. */
function sent(
  b: PacketBatch,
  w: number,
): { datagrams: Datagram[]; messages: { at: number; members: number; n: number }[] } {
  const datagrams: Datagram[] = [];
  const messages: { at: number; members: number; n: number }[] = [];
  for (let i = 0; i < w;) {
    const g = b.gsoSizes[i]!;
    const members = g > 0 && b.trains[i]! >= 2 ? b.trains[i]! : 1;
    assert.ok(i + members <= w, `train at ${i} cut by the end`);
    const parts: Buffer[] = [];
    if (members > 1) {
      for (let j = i; j < i + members; j++) {
        const d = b.gather(j, false);
        if (j + 1 < i + members)
          assert.equal(d.length, g, `member ${j - i} of the train at ${i} must be gso_size`);
        else assert.ok(d.length >= 1 && d.length <= g, `last member ${d.length} of gso_size ${g}`);
        assert.deepEqual(
          [b.addrs[j], b.ports[j], b.lanes[j]],
          [b.addrs[i], b.ports[i], b.lanes[i]],
          `member ${j - i} of the train at ${i}: one destination and lane`,
        );
        parts.push(d);
      }
    } else {
      const d = b.gather(i, false);
      if (g > 0 && d.length > g) {
        assert.equal(b.tailLengths[i], 0, 'a contiguous train has no tail');
        for (let o = 0; o < d.length; o += g) parts.push(d.subarray(o, Math.min(o + g, d.length)));
      } else parts.push(d);
    }
    assert.ok(parts.length <= MAX_GSO_SEGMENTS, `${parts.length} datagrams in one message`);
    const total = parts.reduce((s, d) => s + d.length, 0);
    assert.ok(parts.length === 1 || total <= MAX_GSO_BYTES, `a train of ${total} bytes`);
    messages.push({ at: i, members, n: parts.length });
    for (const d of parts) {
      datagrams.push({ bytes: d.toString('hex'), addr: b.addrs[i]!, port: b.ports[i]!, lane: b.lanes[i]! });
    }
    i += members;
  }
  return { datagrams, messages };
}

test('formTrains: the rewritten descriptors send the input datagrams, in order, each to its destination and lane', () => {
  const b = new PacketBatch(1, 1024 * 1024, 0, N);
  for (let i = 0; i < b.buffer.length; i++) b.buffer[i] = Math.imul(i, 2654435761) >>> 24;
  const slots = (b.buffer.length - SEG_START) >>> HDR_SLOT_SHIFT;
  const tails: SegmentTails = {
    start: SEG_START,
    slotShift: HDR_SLOT_SHIFT,
    off: new Uint32Array(slots),
    len: new Uint32Array(slots),
  };
  let movedTrains = 0;
  let inPlaceTrains = 0;
  let contiguous = 0;
  fc.assert(
    fc.property(descs, (ds) => {
      let plain = PLAIN;
      let tail = TAILS;
      let slot = 0;
      let tailSum = 0;
      const want: Datagram[] = [];
      ds.forEach((d, i) => {
        const [addr, port, lane] = KEYS[d.key]!;
        if (d.seg) {
          const head = Math.min(d.head, d.size);
          const off = SEG_START + slot * HDR_SLOT + d.prefix;
          tails.off[slot] = tail;
          tails.len[slot] = d.size - head;
          b.offsets[i] = off;
          b.lengths[i] = head;
          tailSum += d.size - head;
          tail += d.size - head;
          slot++;
        } else {
          if (!d.backToBack) plain += 64;
          b.offsets[i] = plain;
          b.lengths[i] = d.size;
          plain += d.size;
        }
        b.addrs[i] = addr;
        b.ports[i] = port;
        b.lanes[i] = lane;
        // What an earlier batch left there.
        b.gsoSizes[i] = 0xffff;
        b.trains[i] = 0xffff;
        b.tailOffsets[i] = 0xffffffff;
        b.tailLengths[i] = 0xffffffff;
        const off = b.offsets[i]!;
        const bytes = d.seg
          ? Buffer.concat([
              b.buffer.subarray(off, off + b.lengths[i]!),
              b.buffer.subarray(tails.off[slot - 1]!, tails.off[slot - 1]! + tails.len[slot - 1]!),
            ])
          : b.buffer.subarray(off, off + d.size);
        want.push({ bytes: bytes.toString('hex'), addr, port, lane });
      });
      const counts: TrainCounts = { trains: 0, tailBytes: 0 };
      const w = formTrains(b, ds.length, tails, counts);
      const got = sent(b, w);
      assert.deepEqual(got.datagrams, want, 'datagrams');
      assert.equal(counts.trains, got.messages.filter((m) => m.n > 1).length, 'trains');
      assert.equal(counts.tailBytes, tailSum, 'tail bytes');
      // Where each message's first datagram was read: the datagrams before it.
      let read = 0;
      for (const m of got.messages) {
        if (m.members > 1) {
          if (read === m.at) inPlaceTrains++;
          else movedTrains++;
        } else if (m.n > 1) contiguous++;
        read += m.n;
      }
    }),
    { numRuns: 300 },
  );
  assert.ok(inPlaceTrains > 100, `${inPlaceTrains} member trains in place`);
  assert.ok(movedTrains > 100, `${movedTrains} member trains moved`);
  assert.ok(contiguous > 100, `${contiguous} contiguous trains`);
});
