/**
 * native/src/uring.cc: TUN reads and writes batched through io_uring, on fds that behave like a
 * TUN queue without needing one: a non-blocking UDP socket (one datagram per read, like one
 * packet per TUN read) and a non-blocking FIFO (a write is refused with EAGAIN once it is full).
 * Edge cases: an empty queue (EAGAIN), short reads (every packet shorter than its slot), a packet
 * longer than its slot (truncated, dropped, order kept), more packets than the ring has entries
 * (several io_uring_enter calls), writes refused when full, bad descriptors, a closed ring.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBinding, type NativeUring } from '../../src/io/binding';
import { IoCounter, newIoCounters } from '../../src/io/counters';
import { PacketBatch } from '../../src/io/packet-batch';
import { parseTunIo } from '../../src/io/tun-io';
import { ConfigError } from '../../src/errors';

const b = loadBinding();
const ringOf = (entries: number): NativeUring => b.uringOpen!(entries);

function udpFd(): { fd: number; port: number } {
  const r = b.udpOpen('127.0.0.1', 0, false, false, 1 << 20, 0);
  return { fd: r.fd, port: r.port };
}

async function sendAll(port: number, packets: Buffer[]): Promise<void> {
  const s = dgram.createSocket('udp4');
  for (const p of packets)
    await new Promise<void>((res, rej) => s.send(p, port, '127.0.0.1', (e) => (e ? rej(e) : res())));
  s.close();
  // Loopback delivery is synchronous in send(); a short pause covers a busy machine anyway.
  await new Promise((r) => setTimeout(r, 20));
}

function read(
  ring: NativeUring,
  fd: number,
  batch: PacketBatch,
  counters: Float64Array,
  max = batch.capacity,
): number {
  const n = b.uringTunRead!(ring, fd, batch.memory, 0, max, counters);
  batch.count = n;
  return n;
}

const packet = (i: number, len: number): Buffer => Buffer.alloc(len, i & 0xff);

test('an empty queue reads 0 packets in one io_uring_enter and counts one EAGAIN', () => {
  const ring = ringOf(16);
  const { fd } = udpFd();
  try {
    assert.equal(b.uringProbe!(ring, fd), 0, 'a socket reads without blocking through the ring');
    const c = newIoCounters();
    const batch = PacketBatch.forPacketSize(16, 1500);
    assert.equal(read(ring, fd, batch, c), 0);
    assert.equal(c[IoCounter.rxSyscalls], 1);
    assert.equal(c[IoCounter.rxEagain], 1);
    assert.equal(c[IoCounter.rxErrors], 0);
  } finally {
    b.closeFd(fd);
    b.uringClose!(ring);
  }
});

test('short reads, a too-long packet dropped in order, and more packets than ring entries', async () => {
  const ring = ringOf(4); // fewer entries than packets: several enters per call
  const { fd, port } = udpFd();
  try {
    const c = newIoCounters();
    const batch = PacketBatch.forPacketSize(32, 200);
    const cap = batch.maxPacket;
    const sent = [packet(1, 60), packet(2, cap), packet(3, cap + 1), packet(4, 1), packet(5, 150)];
    for (let i = 6; i <= 20; i++) sent.push(packet(i, 10 + i));
    await sendAll(port, sent);
    const n = read(ring, fd, batch, c);
    const want = sent.filter((p) => p.length <= cap);
    assert.equal(n, want.length, 'every packet but the one a byte too long for its slot');
    for (let k = 0; k < n; k++) assert.deepEqual(batch.packet(k), want[k], `packet ${k} in arrival order`);
    assert.equal(c[IoCounter.rxTruncated], 1);
    assert.equal(c[IoCounter.rxPackets], want.length);
    assert.equal(
      c[IoCounter.rxBytes],
      want.reduce((s, p) => s + p.length, 0),
    );
    assert.ok(
      c[IoCounter.rxSyscalls]! >= 2 && c[IoCounter.rxSyscalls]! < n,
      `enters: ${c[IoCounter.rxSyscalls]}`,
    );
    // Descriptors point into the packets' own slots (no copy), slot order = arrival order.
    for (let k = 1; k < n; k++) assert.ok(batch.offsets[k]! > batch.offsets[k - 1]!);
    assert.equal(read(ring, fd, batch, c), 0, 'drained');
  } finally {
    b.closeFd(fd);
    b.uringClose!(ring);
  }
});

test('a read stops at `max` slots and leaves the rest queued for the next call', async () => {
  const ring = ringOf(64);
  const { fd, port } = udpFd();
  try {
    const c = newIoCounters();
    const batch = PacketBatch.forPacketSize(8, 100);
    const sent = Array.from({ length: 12 }, (_, i) => packet(i, 40 + i));
    await sendAll(port, sent);
    assert.equal(read(ring, fd, batch, c, 5), 5);
    assert.deepEqual(batch.packet(4), sent[4]);
    assert.equal(read(ring, fd, batch, c), 7);
    assert.deepEqual(batch.packet(0), sent[5]);
    assert.deepEqual(batch.packet(6), sent[11]);
  } finally {
    b.closeFd(fd);
    b.uringClose!(ring);
  }
});

test('writes: batched, refused with EAGAIN when the queue is full (status per packet), bad descriptors counted', async () => {
  // A child's stdin nobody reads (libuv makes it a socketpair): it takes what fits its buffer,
  // then says EAGAIN.
  const child = spawn('sleep', ['30'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
  const ring = ringOf(8);
  try {
    assert.equal(b.uringProbe!(ring, fd), 0);
    const c = newIoCounters();
    // 100 packets of 4 KiB (400 KiB): the first ones fit, the rest are refused.
    const batch = new PacketBatch(100, 4096 + 64, 64);
    for (let i = 0; i < 100; i++) batch.push(packet(i, 4096), 0, 4096);
    const status = new Uint8Array(101);
    const w = b.uringTunWrite!(ring, fd, batch.memory, 0, 100, c, status);
    assert.ok(w > 0 && w < 100, `${w} written`);
    assert.equal(c[IoCounter.txPackets], w);
    assert.equal(c[IoCounter.txBytes], w * 4096);
    assert.equal(c[IoCounter.txEagain], 100 - w);
    assert.equal(c[IoCounter.txSyscalls], Math.ceil(100 / 8), 'one enter per ring of 8');
    for (let i = 0; i < 100; i++) assert.equal(status[i], i < w ? 1 : 0, `status ${i}`);
    // A descriptor outside the buffer is a counted error, not a crash; the others are attempted.
    batch.offsets[1] = batch.buffer.length;
    const e0 = c[IoCounter.txErrors]!;
    const a0 = c[IoCounter.txEagain]!;
    assert.equal(b.uringTunWrite!(ring, fd, batch.memory, 0, 3, c, status), 0);
    assert.equal(c[IoCounter.txErrors]! - e0, 1);
    assert.equal(c[IoCounter.txEagain]! - a0, 2, 'still full');
  } finally {
    child.kill('SIGKILL');
    b.uringClose!(ring);
  }
});

test('a file that cannot do non-blocking I/O through io_uring is refused by the probe (the caller falls back)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-uring-'));
  const fifo = path.join(dir, 'q');
  execFileSync('mkfifo', [fifo]);
  const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const ring = ringOf(4);
  try {
    // A named FIFO has no FMODE_NOWAIT: RWF_NOWAIT is refused rather than a read that could block.
    assert.equal(b.errnoName(b.uringProbe!(ring, fd)), 'EOPNOTSUPP');
  } finally {
    fs.closeSync(fd);
    b.uringClose!(ring);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bad arguments and a closed ring throw a TypeError, never crash', () => {
  const ring = ringOf(4);
  const c = newIoCounters();
  const batch = PacketBatch.forPacketSize(4, 100);
  assert.throws(() => b.uringOpen!(0), /uringOpen/);
  assert.throws(() => read(ring, 0, batch, c, 5), /geometry/);
  b.uringClose!(ring);
  b.uringClose!(ring); // idempotent
  assert.throws(() => read(ring, 0, batch, c), /uringTunRead/);
});

test('WEFT_TUN_IO: unset or io_uring asks for the ring, readv is the read()/write() loop, anything else names the variable', () => {
  assert.equal(parseTunIo(undefined), 'io_uring');
  assert.equal(parseTunIo(''), 'io_uring');
  assert.equal(parseTunIo('readv'), 'readv');
  assert.equal(parseTunIo(' io_uring '), 'io_uring');
  assert.throws(
    () => parseTunIo('uring'),
    (e: unknown) =>
      e instanceof ConfigError && e.field === 'WEFT_TUN_IO' && /io_uring or readv/.test(e.message),
  );
});
