/**
 * Stage 3b of the offload egress (src/dataplane/train-groups.ts): descriptors of one peer, port and
 * lane made adjacent, lanes ascending, each group in batch order; and the offload egress with
 * `--src-port flow` lanes allocating nothing per packet while it regroups interleaved flows
 * (no-alloc.test.ts's measurement, over non-allocating fakes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gcCounter, getGc, measureHeap } from '../../bench/harness';
import { TrainGroups } from '../../src/dataplane/train-groups';
import { PacketBatch } from '../../src/io/packet-batch';
import { egressRig, flowPacket, flowsOnDistinctLanes } from '../../src/testing';
import { VIRTIO_NET_HDR_SIZE } from '../../src/wire/virtio-net-hdr';

test('TrainGroups: groups adjacent, lanes ascending, batch order inside a group, every array moved', () => {
  const b = PacketBatch.forPacketSize(64, 64);
  // [addr, port, lane] per descriptor; offsets/lengths number the descriptors.
  const keys: [number, number, number][] = [
    [7, 8472, 3],
    [9, 8472, 1],
    [7, 8472, 3],
    [7, 8472, 1],
    [9, 8472, 1],
    [7, 8285, 3],
    [7, 8472, 3],
    [0xfffffff0, 8472, 1],
  ];
  keys.forEach(([a, p, l], i) => {
    b.offsets[i] = 1000 + i;
    b.lengths[i] = 2000 + i;
    b.addrs[i] = a;
    b.ports[i] = p;
    b.lanes[i] = l;
  });
  const g = new TrainGroups(b.descriptors);
  assert.equal(g.apply(b, keys.length), true);
  const order = Array.from(b.offsets.subarray(0, keys.length), (o) => o - 1000);
  // Lane 1: groups (9), (7), (0xfffffff0) in first-seen order; lane 3: (7, 8472), (7, 8285).
  assert.deepEqual(order, [1, 4, 3, 7, 0, 2, 6, 5]);
  order.forEach((k, i) => {
    assert.equal(b.lengths[i], 2000 + k);
    assert.equal(b.addrs[i], keys[k]![0]);
    assert.equal(b.ports[i], keys[k]![1]);
    assert.equal(b.lanes[i], keys[k]![2]);
  });
  // Already grouped and in lane order: nothing moves.
  assert.equal(g.apply(b, keys.length), false);
  assert.deepEqual(
    Array.from(b.offsets.subarray(0, keys.length), (o) => o - 1000),
    order,
  );
  assert.equal(g.reordered, 1);
});

test('TrainGroups: as many groups as descriptors (a full table) and reuse across batches', () => {
  const n = 300;
  const b = PacketBatch.forPacketSize(n, 16);
  const g = new TrainGroups(n);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < n; i++) {
      b.offsets[i] = i;
      b.addrs[i] = (i * 2654435761) >>> 0;
      b.ports[i] = 8472;
      b.lanes[i] = (n - i) & 0xff;
    }
    g.apply(b, n);
    for (let i = 1; i < n; i++) assert.ok(b.lanes[i]! >= b.lanes[i - 1]!, `lane order at ${i}`);
    assert.deepEqual(new Set(b.offsets.subarray(0, n)).size, n, 'a permutation');
  }
});

const PACKETS = 24; // per batch, fewer than readSlots: one batch per drain
const CALLS = 20000;

/** ReplayVnetTun copies fixed packets into the read slots behind a zeroed virtio-net header. */
class ReplayVnetTun {
  constructor(private readonly pkts: Buffer[]) {}
  onReadable(): void {}
  private fresh = false;
  arm(): void {
    this.fresh = true;
  }
  readBatch(batch: PacketBatch, max = batch.capacity): number {
    if (!this.fresh) return 0;
    this.fresh = false;
    const n = Math.min(max, this.pkts.length);
    for (let k = 0; k < n; k++) {
      const p = this.pkts[k]!;
      const at = batch.dataOffset(k);
      batch.buffer.fill(0, at, at + VIRTIO_NET_HDR_SIZE);
      batch.buffer.set(p, at + VIRTIO_NET_HDR_SIZE);
      batch.offsets[k] = at;
      batch.lengths[k] = VIRTIO_NET_HDR_SIZE + p.length;
    }
    batch.count = n;
    return n;
  }
}

test('OffloadEgress with --src-port flow lanes allocates nothing per packet while regrouping interleaved flows', async () => {
  // Four flows with four different lanes, round robin.
  const sports = flowsOnDistinctLanes(4, 16);
  const tun = new ReplayVnetTun(Array.from({ length: PACKETS }, (_, k) => flowPacket(sports[k % 4]!)));
  const { egress, sink } = egressRig(tun, { lanes: 16 });
  const step = (): void => {
    tun.arm();
    egress.drain();
  };
  step();
  assert.equal(sink.messages, 4, 'one train per flow');
  assert.equal(sink.datagrams, PACKETS);
  const gcs = gcCounter();
  let steps = 0;
  try {
    const m = await measureHeap(step, 500, CALLS, getGc(), gcs.count);
    steps = m.steps;
    const perPacket = m.bytes / (CALLS * PACKETS);
    assert.equal(m.gcs, 0, `${m.gcs} GCs during ${CALLS * PACKETS} packets`);
    assert.ok(perPacket < 1, `${perPacket.toFixed(3)} B/packet`);
  } finally {
    gcs.stop();
  }
  assert.equal(sink.messages, 4 * (1 + steps), 'every batch: one train per flow');
  assert.equal(egress.stats.regrouped, 1 + steps);
});
