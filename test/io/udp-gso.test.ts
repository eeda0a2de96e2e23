/**
 * UDP GSO send / GRO receive through the addon, on loopback: a GSO train arrives as
 * separate datagrams at a plain socket and as one split train at a UDP_GRO socket; a kernel
 * refusal falls back to plain datagrams and is reported; csumCopy sums and copies.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchUdpSocket } from '../../src/io/batch-udp-socket';
import { PacketBatch } from '../../src/io/packet-batch';
import { IoCounter } from '../../src/io/counters';
import { GsoState } from '../../src/io/gso-state';
import { loadBinding } from '../../src/io/binding';
import fc from 'fast-check';
import { checksumAdd, checksumFold } from '../../src/wire/checksum';

const LOOPBACK = 0x7f000001;

function waitReadable(s: BatchUdpSocket): Promise<void> {
  return new Promise((resolve) => {
    s.onReadable(() => {
      s.onReadable(null);
      resolve();
    });
  });
}

/** train fills one descriptor with `total` bytes whose segment j is filled with byte j + 1. */
function train(tx: PacketBatch, total: number, seg: number, port: number): void {
  const at = tx.dataOffset(0);
  for (let i = 0; i < total; i++) tx.buffer[at + i] = Math.floor(i / seg) + 1;
  tx.offsets[0] = at;
  tx.lengths[0] = total;
  tx.addrs[0] = LOOPBACK;
  tx.ports[0] = port;
  tx.gsoSizes[0] = seg;
  tx.count = 1;
}

async function collect(s: BatchUdpSocket, rx: PacketBatch, want: number, gro: boolean): Promise<number[]> {
  const lens: number[] = [];
  while (lens.length < want) {
    await waitReadable(s);
    const n = gro ? s.recvBatchGro(rx) : s.recvBatch(rx);
    for (let k = 0; k < n; k++) {
      const off = rx.offsets[k]!;
      const len = rx.lengths[k]!;
      // Every segment carries one fill byte: its index + 1.
      for (let i = 0; i < len; i++)
        assert.equal(rx.buffer[off + i], lens.length + 1, `segment ${lens.length}`);
      lens.push(len);
    }
  }
  return lens;
}

describe('UDP GSO / GRO', () => {
  test('a GSO train of 10 x 1000 + 500 bytes arrives as 11 datagrams at a plain socket', async (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    const b = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0, recvBufferSize: 1 << 20 });
    t.after(() => {
      a.close();
      b.close();
    });
    assert.ok(a.gsoSupported(), 'UDP_SEGMENT supported on this kernel');
    const tx = PacketBatch.forPacketSize(1, 65535);
    train(tx, 10500, 1000, b.port);
    assert.equal(a.sendBatchGso(tx), 1);
    assert.equal(a.gsoState[GsoState.gsoMessages], 1);
    assert.equal(a.gsoState[GsoState.gsoSegments], 11);
    assert.equal(a.counters[IoCounter.txPackets], 11);
    assert.equal(a.counters[IoCounter.txSyscalls], 1);
    const lens = await collect(b, PacketBatch.forPacketSize(16, 2048), 11, false);
    assert.deepEqual(lens, [...Array(10).fill(1000), 500]);
    assert.deepEqual(a.offloads(), { gso: true, gro: false, gsoRefused: null });
  });

  test('a UDP_GRO socket receives the train coalesced and recvBatchGro splits it per segment', async (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    const b = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0, recvBufferSize: 1 << 20 });
    t.after(() => {
      a.close();
      b.close();
    });
    assert.ok(b.enableGro());
    const tx = PacketBatch.forPacketSize(1, 65535);
    train(tx, 20 * 1400 + 7, 1400, b.port);
    assert.equal(a.sendBatchGso(tx), 1);
    const rx = new PacketBatch(4, 65536 + 128, 128, 4 * 64);
    const lens = await collect(b, rx, 21, true);
    assert.deepEqual(lens, [...Array(20).fill(1400), 7]);
    assert.equal(b.gsoState[GsoState.groMessages], 1, 'loopback keeps the GSO skb whole for a GRO socket');
    assert.equal(b.gsoState[GsoState.groSegments], 21);
    assert.equal(rx.gsoSizes[0], 1400);
    assert.equal(b.counters[IoCounter.rxPackets], 21);
    assert.equal(b.offloads().gro, true);
  });

  test('trains over 64 segments are split into plain datagrams, not refused', async (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    const b = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0, recvBufferSize: 1 << 20 });
    t.after(() => {
      a.close();
      b.close();
    });
    const tx = PacketBatch.forPacketSize(1, 65535);
    train(tx, 70 * 100, 100, b.port);
    assert.equal(a.sendBatchGso(tx), 1);
    assert.equal(a.gsoState[GsoState.gsoSplitMessages], 1);
    assert.equal(a.counters[IoCounter.txPackets], 70);
    const lens = await collect(b, PacketBatch.forPacketSize(128, 256), 70, false);
    assert.equal(lens.length, 70);
    assert.equal(a.offloads().gso, true, 'a split for size is not a refusal');
  });

  test('when the kernel refuses GSO (SO_NO_CHECK: EINVAL) it falls back to plain datagrams and reports it', async (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    const b = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0, recvBufferSize: 1 << 20 });
    t.after(() => {
      a.close();
      b.close();
    });
    const SO_NO_CHECK = 11;
    a.setOption(1 /* SOL_SOCKET */, SO_NO_CHECK, 1);
    const tx = PacketBatch.forPacketSize(1, 65535);
    train(tx, 5 * 1000, 1000, b.port);
    assert.equal(a.sendBatchGso(tx), 1);
    assert.deepEqual(a.offloads(), { gso: false, gro: false, gsoRefused: 'EINVAL' });
    assert.equal(a.counters[IoCounter.txPackets], 5);
    assert.equal(a.counters[IoCounter.txErrors], 0);
    assert.equal(a.gsoSupported(), false);
    const lens = await collect(b, PacketBatch.forPacketSize(8, 2048), 5, false);
    assert.deepEqual(lens, [1000, 1000, 1000, 1000, 1000]);
  });

  test('csumCopy copies and returns the folded RFC 1071 sum; sum-only and out-of-range entries', () => {
    const b = loadBinding();
    const src = Buffer.alloc(3001);
    for (let i = 0; i < src.length; i++) src[i] = (i * 7919) & 0xff;
    const dst = Buffer.alloc(4000);
    const plan = new Uint32Array([1, 100, 2999, 0, 0xffffffff, 3001, 5, 3990, 20]);
    const sums = new Uint32Array(3);
    b.csumCopy(src, dst, plan, 3, sums);
    assert.equal(sums[0], checksumFold(checksumAdd(src, 1, 2999, 0)));
    assert.deepEqual(dst.subarray(100, 100 + 2999), src.subarray(1, 3000));
    assert.equal(sums[1], checksumFold(checksumAdd(src, 0, 3001, 0)));
    assert.equal(sums[2], 0xffffffff);
    assert.equal(dst[3990], 0, 'nothing copied out of range');
  });

  test('csumCopy equals the RFC 1071 reference and memmove for any length, alignment and overlap', () => {
    const b = loadBinding();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 9000 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        (bytes, a, c, l, same) => {
          const src = Buffer.from(bytes);
          const so = a % src.length;
          const len = l % (src.length - so + 1);
          // Same buffer: the ranges may overlap either way, as in a coalescing move.
          const dst = same ? src : Buffer.alloc(src.length + 64);
          const d = c % (dst.length - len + 1);
          const want = Buffer.from(src.subarray(so, so + len));
          const wantSum = checksumFold(checksumAdd(src, so, len, 0));
          const sums = new Uint32Array(1);
          b.csumCopy(src, dst, new Uint32Array([so, d, len]), 1, sums);
          assert.equal(sums[0], wantSum, `sum of ${len} bytes at ${so}`);
          assert.deepEqual(dst.subarray(d, d + len), want, `copy of ${len} bytes ${so} -> ${d}`);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
