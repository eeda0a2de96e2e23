/**
 * Scatter-gather UDP GSO trains (`PacketBatch.trains`, `tailOffsets`/`tailLengths`) on loopback:
 * each segment is a header from one region plus a payload slice from another, gathered by the
 * kernel without a userspace copy. Checks byte-exact delivery, the tail segment, the kernel's
 * rule that every segment but the last is exactly gso_size (anything else refused, not sent), a
 * batch whose iovecs span several sendmmsg calls, trains cut by `end`, and the plain-datagram
 * fallback when the kernel refuses GSO.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BatchUdpSocket } from '../../src/io/batch-udp-socket';
import { PacketBatch } from '../../src/io/packet-batch';
import { layoutSgTrains } from '../helpers/sg-trains';
import { IoCounter } from '../../src/io/counters';
import { GsoState } from '../../src/io/gso-state';
import { loadBinding } from '../../src/io/binding';

const LOOPBACK = 0x7f000001;
const HDR = 30;

function pair(t: { after(fn: () => void): void }): { a: BatchUdpSocket; b: BatchUdpSocket } {
  const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
  const b = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
  t.after(() => {
    a.close();
    b.close();
  });
  return { a, b };
}

/**
 * sgTrains lays out `trains` trains of `segs` segments of `g` bytes each (the last `last`):
 * headers of HDR bytes in slot 1, payload in slot 0, and returns the expected datagrams.
 */
function sgTrains(
  tx: PacketBatch,
  trains: number,
  segs: number,
  g: number,
  last: number,
  port: number,
): Buffer[] {
  const layout = Array.from({ length: trains }, () => ({ segs, g, last }));
  return layoutSgTrains(tx, layout, {
    hdr: HDR,
    addr: LOOPBACK,
    port,
    hdrByte: (t, i) => t * 7 + i,
    payloadByte: (_t, _i, k, at) => at + k * 13,
  }).flat();
}

/**
 * receive collects `want` datagrams. With `gro` (the socket has UDP_GRO on) each train stays one
 * skb in the receive queue, so hundreds of segments fit a default-sized (unprivileged) buffer.
 */
async function receive(b: BatchUdpSocket, want: number, gro = false): Promise<Buffer[]> {
  const rx = gro ? new PacketBatch(16, 65536 + 128, 128, 16 * 64) : PacketBatch.forPacketSize(256, 2048);
  const got: Buffer[] = [];
  const deadline = Date.now() + 5000;
  while (got.length < want && Date.now() < deadline) {
    const n = gro ? b.recvBatchGro(rx) : b.recvBatch(rx);
    for (let k = 0; k < n; k++) got.push(Buffer.from(rx.packet(k)));
    if (n === 0) await new Promise((r) => setTimeout(r, 5));
  }
  return got;
}

const sha = (bufs: Buffer[]): string => createHash('sha256').update(Buffer.concat(bufs)).digest('hex');

describe('scatter-gather UDP GSO trains', () => {
  test('a train of header + payload-slice segments arrives byte-exact, tail segment shorter, in one send', async (t) => {
    const { a, b } = pair(t);
    const tx = new PacketBatch(2, 70_000, 0, 64);
    const want = sgTrains(tx, 1, 10, 1000, 321, b.port);
    assert.equal(a.sendBatchGso(tx), 10);
    assert.equal(a.counters[IoCounter.txErrors], 0);
    assert.equal(a.gsoState[GsoState.gsoMessages], 1);
    assert.equal(a.gsoState[GsoState.gsoSegments], 10);
    assert.equal(a.counters[IoCounter.txSyscalls], 1);
    const got = await receive(b, 10);
    assert.deepEqual(
      got.map((g) => g.length),
      [...Array(9).fill(1000), 321],
    );
    assert.equal(sha(got), sha(want));
  });

  test('head-only members from separate slots (no tails: one iovec each) are one train, byte-exact', async (t) => {
    const { a, b } = pair(t);
    assert.ok(b.enableGro());
    // 20 datagrams of 114 bytes and a last one of 90, each alone in its own 2 KiB slot.
    const tx = new PacketBatch(21, 2048, 128);
    const want: Buffer[] = [];
    for (let k = 0; k < 21; k++) {
      const len = k === 20 ? 90 : 114;
      const d = Buffer.alloc(len);
      for (let x = 0; x < len; x++) d[x] = (k * 7 + x) & 0xff;
      assert.ok(tx.push(d, 0, len, LOOPBACK, b.port));
      tx.gsoSizes[k] = 0;
      want.push(d);
    }
    tx.gsoSizes[0] = 114;
    tx.trains[0] = 21;
    assert.equal(a.sendBatchGso(tx), 21);
    assert.equal(a.counters[IoCounter.txErrors], 0);
    assert.equal(a.counters[IoCounter.txSyscalls], 1);
    assert.equal(a.counters[IoCounter.txPackets], 21);
    assert.equal(a.gsoState[GsoState.gsoMessages], 1);
    assert.equal(a.gsoState[GsoState.gsoSegments], 21);
    const got = await receive(b, 21, true);
    assert.deepEqual(
      got.map((g) => g.length),
      want.map((w) => w.length),
    );
    assert.equal(sha(got), sha(want));
  });

  test('a member that is not exactly gso_size (or an empty last one) refuses the whole train: nothing sent', async (t) => {
    const { a, b } = pair(t);
    const tx = new PacketBatch(2, 70_000, 0, 64);
    sgTrains(tx, 1, 5, 1000, 1000, b.port);
    tx.tailLengths[2] = tx.tailLengths[2]! - 1; // a middle segment one byte short
    assert.equal(a.sendBatchGso(tx), 5);
    assert.equal(a.counters[IoCounter.txErrors], 1);
    assert.equal(a.counters[IoCounter.txPackets], 0);
    assert.equal(a.counters[IoCounter.txSyscalls], 0);
    assert.equal(a.counters[IoCounter.lastErrno], 22 /* EINVAL */);
    sgTrains(tx, 1, 5, 1000, 1000, b.port);
    tx.lengths[4] = 0;
    tx.tailLengths[4] = 0;
    assert.equal(a.sendBatchGso(tx), 5);
    assert.equal(a.counters[IoCounter.txErrors], 2);
    assert.equal(a.counters[IoCounter.txPackets], 0);
  });

  test('a train cut by end is refused whole; a resumed send from a member sends it alone', async (t) => {
    const { a, b } = pair(t);
    const tx = new PacketBatch(2, 70_000, 0, 64);
    const want = sgTrains(tx, 1, 6, 800, 500, b.port);
    const bn = loadBinding();
    assert.equal(bn.udpSend(a.fd, tx.memory, 0, 3, a.counters, a.gsoState), 3);
    assert.equal(a.counters[IoCounter.txErrors], 1);
    assert.equal(a.counters[IoCounter.txPackets], 0);
    // Members have trains[k] = 0: from member 3 on, each is one datagram.
    assert.equal(a.sendBatchGso(tx, 3), 6);
    const got = await receive(b, 3);
    assert.equal(sha(got), sha(want.slice(3)));
  });

  test('trains whose iovecs exceed one sendmmsg call (1024) go out over several calls, all byte-exact', async (t) => {
    const { a, b } = pair(t);
    assert.ok(b.enableGro());
    // 12 trains x 50 segments x 2 iovecs = 1200 iovecs.
    const tx = new PacketBatch(2, 12 * 50 * 600 + 4096, 0, 12 * 50);
    const want = sgTrains(tx, 12, 50, 300, 100, b.port);
    assert.equal(a.sendBatchGso(tx), 600);
    assert.equal(a.counters[IoCounter.txErrors], 0);
    assert.equal(a.gsoState[GsoState.gsoMessages], 12);
    assert.equal(a.gsoState[GsoState.gsoSegments], 600);
    assert.ok(a.counters[IoCounter.txSyscalls]! >= 2, 'more than one sendmmsg');
    const got = await receive(b, 600, true);
    assert.equal(got.length, 600);
    assert.equal(sha(got), sha(want));
  });

  test('when the kernel refuses GSO a scatter-gather train goes out as one datagram per member', async (t) => {
    const { a, b } = pair(t);
    const SO_NO_CHECK = 11;
    a.setOption(1 /* SOL_SOCKET */, SO_NO_CHECK, 1);
    const tx = new PacketBatch(2, 70_000, 0, 64);
    const want = sgTrains(tx, 2, 7, 900, 77, b.port);
    assert.equal(a.sendBatchGso(tx), 14);
    assert.equal(a.offloads().gsoRefused, 'EINVAL');
    assert.equal(a.counters[IoCounter.txPackets], 14);
    assert.equal(a.counters[IoCounter.txErrors], 0);
    const got = await receive(b, 14);
    assert.equal(sha(got), sha(want));
  });

  test('plain sends and TUN-style writes honour tails; a tail outside the buffer is a counted error', async (t) => {
    const { a, b } = pair(t);
    const tx = new PacketBatch(2, 70_000, 0, 64);
    const want = sgTrains(tx, 1, 3, 500, 500, b.port);
    tx.trains[0] = 0;
    assert.equal(a.sendBatch(tx), 3);
    const got = await receive(b, 3);
    assert.equal(sha(got), sha(want));
    tx.tailOffsets[1] = tx.buffer.length - 10;
    assert.equal(a.sendBatch(tx), 3);
    assert.equal(a.counters[IoCounter.txErrors], 1);
    assert.equal(a.counters[IoCounter.txPackets], 5);
  });
});
