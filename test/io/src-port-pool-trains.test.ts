/**
 * Scatter-gather UDP GSO trains through the `--src-port flow` source-port pool on loopback: a batch
 * whose trains (header + payload-slice members, the last one shorter) belong to different lanes,
 * interleaved, is put in lane order and split over the pool's sockets, one `sendmmsg` per lane.
 * Each train must leave whole from its lane's port, byte-exact, in batch order within the lane.
 * Unit test: loopback sockets only, no root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchUdpSocket } from '../../src/io/batch-udp-socket';
import { IoCounter } from '../../src/io/counters';
import { GsoState } from '../../src/io/gso-state';
import { PacketBatch } from '../../src/io/packet-batch';
import { layoutSgTrains, type SgTrain } from '../helpers/sg-trains';
import { SrcPortPool } from '../../src/io/src-port-pool';

const LOOPBACK = 0x7f000001;
const HDR = 24;

/** base picks a port range for this process (away from other test files' ranges). */
const base = (): number => 42000 + ((process.pid * 7) % 9000);

type Train = SgTrain & { lane: number };

/**
 * layout writes the trains as scatter-gather descriptors (a header pattern naming train and
 * member) and returns each train's datagrams.
 */
function layout(tx: PacketBatch, trains: Train[], port: number): Buffer[][] {
  return layoutSgTrains(tx, trains, {
    hdr: HDR,
    addr: LOOPBACK,
    port,
    hdrByte: (n, i) => n * 16 + i,
    payloadByte: (n, i, k) => n * 97 + k * 13 + i,
  });
}

/** receive collects `want` datagrams with their source ports (GRO on: trains stay one skb). */
async function receive(rx: BatchUdpSocket, want: number): Promise<Array<{ port: number; data: Buffer }>> {
  const b = new PacketBatch(16, 65536 + 128, 128, 16 * 64);
  const got: Array<{ port: number; data: Buffer }> = [];
  const deadline = Date.now() + 5000;
  while (got.length < want && Date.now() < deadline) {
    const n = rx.recvBatchGro(b);
    for (let k = 0; k < n; k++) got.push({ port: b.ports[k]!, data: Buffer.from(b.packet(k)) });
    if (n === 0) await new Promise((r) => setTimeout(r, 5));
  }
  return got;
}

test('scatter-gather GSO trains of 3 lanes, interleaved: one send per lane, each train whole from its lane port, byte-exact, in order', async (t) => {
  const min = base();
  const pool = SrcPortPool.open({ local: '127.0.0.1', min, max: min + 299, size: 3 });
  const rx = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
  t.after(() => {
    pool.close();
    rx.close();
  });
  assert.equal(pool.size, 3, String(pool.ports));
  assert.ok(rx.enableGro());
  const trains: Train[] = [
    { lane: 2, segs: 5, g: 900, last: 333 },
    { lane: 0, segs: 3, g: 1200, last: 1200 },
    { lane: 2, segs: 1, g: 500, last: 77 },
    { lane: 1, segs: 7, g: 400, last: 25 },
    { lane: 0, segs: 4, g: 1000, last: 999 },
    { lane: 2, segs: 2, g: 64, last: 64 },
  ];
  const tx = new PacketBatch(2, 70_000, 0, 64);
  const want = layout(tx, trains, rx.port);
  const total = want.reduce((a, w) => a + w.length, 0);

  assert.equal(pool.sendBatchGso(tx), tx.count);
  assert.equal(pool.counters[IoCounter.txErrors], 0);
  assert.equal(pool.counters[IoCounter.txPackets], total);
  assert.equal(pool.counters[IoCounter.txSyscalls], 3, 'one sendmmsg per lane with traffic');
  assert.equal(pool.gsoState[GsoState.gsoSegments], total - 1, 'every train but the one-member one is GSO');
  // The batch is left in lane order, each train's members together behind their head.
  const lanes = [...tx.lanes.subarray(0, tx.count)];
  assert.deepEqual(
    lanes,
    [...lanes].sort((a, b) => a - b),
  );

  const got = await receive(rx, total);
  assert.equal(got.length, total);
  for (let lane = 0; lane < 3; lane++) {
    const fromLane = got.filter((g) => g.port === pool.ports[lane]).map((g) => g.data);
    const expected = trains.flatMap((tr, n) => (tr.lane === lane ? want[n]! : []));
    assert.equal(fromLane.length, expected.length, `lane ${lane}: datagrams`);
    fromLane.forEach((d, k) =>
      assert.ok(d.equals(expected[k]!), `lane ${lane}, datagram ${k}: byte-exact, in order`),
    );
  }
});

test('a resumed send (start > 0, as after a full socket) keeps the lane order it was given and sends only the rest', async (t) => {
  const min = base() + 400;
  const pool = SrcPortPool.open({ local: '127.0.0.1', min, max: min + 299, size: 2 });
  const rx = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
  t.after(() => {
    pool.close();
    rx.close();
  });
  assert.ok(rx.enableGro());
  const trains: Train[] = [
    { lane: 1, segs: 3, g: 700, last: 100 },
    { lane: 0, segs: 2, g: 600, last: 600 },
    { lane: 1, segs: 4, g: 300, last: 299 },
  ];
  const tx = new PacketBatch(2, 70_000, 0, 64);
  const want = layout(tx, trains, rx.port);
  // A first send from 0 puts the batch in lane order (lane 0's train, then lane 1's two).
  assert.equal(pool.sendBatchGso(tx), tx.count);
  const first = await receive(rx, 9);
  assert.equal(first.length, 9);
  // A send resumed at lane 1's second train (where a full socket would have stopped it) sends that
  // train alone, from lane 1's port, and leaves the descriptors where they are.
  const before = [...tx.offsets.subarray(0, tx.count)];
  const from = tx.count - 4;
  assert.equal(tx.trains[from], 4);
  assert.equal(pool.sendBatchGso(tx, from), tx.count);
  assert.deepEqual([...tx.offsets.subarray(0, tx.count)], before);
  const again = await receive(rx, 4);
  assert.equal(again.length, 4);
  again.forEach((g, k) => {
    assert.equal(g.port, pool.ports[1]);
    assert.ok(g.data.equals(want[2]![k]!), `datagram ${k}`);
  });
});
