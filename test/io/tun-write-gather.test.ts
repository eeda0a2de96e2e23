/**
 * tunWrite's gathering (one writev per packet: head + tail, or a train of descriptors), checked
 * on a regular file so that the bytes of each write can be read back: the concatenation, the
 * per-descriptor status, a train cut by `end`, and a train over IOV_MAX refused whole. No root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBinding } from '../../src/io/binding';
import { IoCounter, newIoCounters } from '../../src/io/counters';
import { PacketBatch } from '../../src/io/packet-batch';

function withFile(t: { after(fn: () => void): void }): { fd: number; read: () => Buffer } {
  const path = join(tmpdir(), `weft-writev-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(path, 'w+');
  t.after(() => {
    closeSync(fd);
    unlinkSync(path);
  });
  return { fd, read: () => readFileSync(path) };
}

test('a train of descriptors is one writev of their heads and tails, in order; status marks every member', (t) => {
  const { fd, read } = withFile(t);
  const b = loadBinding();
  const batch = new PacketBatch(4, 4096, 0, 16);
  const buf = batch.buffer;
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 31) & 0xff;
  // Packet 0: one descriptor with a tail. Packet 1: a train of 3 (the middle one with a tail).
  const set = (k: number, o: number, l: number, to = 0, tl = 0, train = 0): void => {
    batch.offsets[k] = o;
    batch.lengths[k] = l;
    batch.tailOffsets[k] = to;
    batch.tailLengths[k] = tl;
    batch.trains[k] = train;
  };
  set(0, 100, 10, 5000, 20);
  set(1, 200, 30, 0, 0, 3);
  set(2, 9000, 40, 300, 7);
  set(3, 12000, 50);
  const c = newIoCounters();
  const status = new Uint8Array(16);
  assert.equal(b.tunWrite(fd, batch.memory, 0, 4, c, status), 2);
  const want = Buffer.concat([
    buf.subarray(100, 110),
    buf.subarray(5000, 5020),
    buf.subarray(200, 230),
    buf.subarray(9000, 9040),
    buf.subarray(300, 307),
    buf.subarray(12000, 12050),
  ]);
  assert.deepEqual(read(), want);
  assert.deepEqual([...status.subarray(0, 4)], [1, 1, 1, 1]);
  assert.equal(c[IoCounter.txPackets], 2);
  assert.equal(c[IoCounter.txSyscalls], 2);
  assert.equal(c[IoCounter.txBytes], want.length);
});

test('a train cut by end, over IOV_MAX, or with a member outside the buffer is refused whole', (t) => {
  const { fd, read } = withFile(t);
  const b = loadBinding();
  const batch = new PacketBatch(2, 4096, 0, 1200);
  for (let k = 0; k < 1200; k++) {
    batch.offsets[k] = k;
    batch.lengths[k] = 1;
    batch.tailOffsets[k] = 4000;
    batch.tailLengths[k] = 1;
    batch.trains[k] = 0;
  }
  const c = newIoCounters();
  const status = new Uint8Array(1200).fill(9);
  batch.trains[0] = 4;
  assert.equal(b.tunWrite(fd, batch.memory, 0, 2, c, status), 0, 'cut by end');
  assert.deepEqual([...status.subarray(0, 2)], [0, 0]);
  batch.trains[0] = 600; // 1200 iovecs
  assert.equal(b.tunWrite(fd, batch.memory, 0, 600, c, status), 0, 'over IOV_MAX');
  batch.trains[0] = 3;
  batch.tailOffsets[1] = batch.buffer.length;
  assert.equal(b.tunWrite(fd, batch.memory, 0, 3, c, status), 0, 'member outside the buffer');
  assert.equal(c[IoCounter.txErrors], 3);
  assert.equal(c[IoCounter.txSyscalls], 0);
  assert.equal(read().length, 0, 'nothing written');
  batch.trains[0] = 512; // 1024 iovecs: the limit itself goes out
  batch.tailOffsets[1] = 4000;
  assert.equal(b.tunWrite(fd, batch.memory, 0, 512, c, status), 1);
  assert.equal(read().length, 1024);
});
