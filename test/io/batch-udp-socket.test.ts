/**
 * BatchUdpSocket specifics beyond the shared PacketIo tests: truncation, bad descriptors,
 * socket options (the UDP_SEGMENT / UDP_GRO hooks), address errors, and the addon's counter
 * layout. Binds 127.0.0.1 only. Buffer sizes forced above the sysctl cap need root: see
 * batch-udp-socket.netns.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchUdpSocket, udpConstants } from '../../src/io/batch-udp-socket';
import { BATCH_HEADER_BYTES, BatchHeader, PacketBatch } from '../../src/io/packet-batch';
import { IO_COUNTER_COUNT, IO_COUNTER_NAMES, IoCounter } from '../../src/io/counters';
import { GSO_STATE_COUNT, GSO_STATE_NAMES, GsoState } from '../../src/io/gso-state';
import { loadBinding } from '../../src/io/binding';
import { SystemError } from '../../src/errors';

const LOOPBACK = 0x7f000001;

function drainOnce(s: BatchUdpSocket, batch: PacketBatch): Promise<number> {
  return new Promise((resolve) => {
    s.onReadable(() => {
      s.onReadable(null);
      resolve(s.recvBatch(batch));
    });
  });
}

describe('BatchUdpSocket', () => {
  test('a datagram larger than its slot is dropped and counted as truncated; the next one is delivered', async (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    const b = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    t.after(() => {
      a.close();
      b.close();
    });
    const tx = new PacketBatch(2, 4096);
    tx.push(Buffer.alloc(1000, 1), 0, 1000, LOOPBACK, b.port);
    tx.push(Buffer.alloc(100, 2), 0, 100, LOOPBACK, b.port);
    assert.equal(a.sendBatch(tx), 2);
    const rx = PacketBatch.forPacketSize(4, 512);
    const n = await drainOnce(b, rx);
    assert.equal(n, 1);
    assert.equal(rx.lengths[0], 100);
    assert.equal(rx.buffer[rx.offsets[0]!], 2);
    assert.equal(b.counters[IoCounter.rxTruncated], 1);
    assert.equal(b.counters[IoCounter.rxPackets], 1);
  });

  test('a send descriptor outside the buffer is counted in txErrors, not sent, not thrown', (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    t.after(() => a.close());
    const tx = new PacketBatch(2, 256);
    tx.push(Buffer.alloc(10), 0, 10, LOOPBACK, 9);
    tx.offsets[1] = tx.buffer.length - 4;
    tx.lengths[1] = 64;
    tx.addrs[1] = LOOPBACK;
    tx.ports[1] = 9;
    tx.count = 2;
    assert.equal(a.sendBatch(tx), 2);
    assert.equal(a.counters[IoCounter.txPackets], 1);
    assert.equal(a.counters[IoCounter.txErrors], 1);
    assert.equal(a.counters[IoCounter.lastErrno], 22, 'EINVAL');
  });

  test('sendBatch resumes from a start index', (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    t.after(() => a.close());
    const tx = new PacketBatch(4, 256);
    for (let i = 0; i < 4; i++) tx.push(Buffer.alloc(10), 0, 10, LOOPBACK, 9);
    assert.equal(a.sendBatch(tx, 3), 4);
    assert.equal(a.counters[IoCounter.txPackets], 1);
  });

  test('UDP_GRO and UDP_SEGMENT can be set and read back (the offload paths set them)', (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    t.after(() => a.close());
    const k = udpConstants();
    a.setOption(k.SOL_UDP, k.UDP_SEGMENT, 1400);
    assert.equal(a.getOption(k.SOL_UDP, k.UDP_SEGMENT), 1400);
    a.setOption(k.SOL_UDP, k.UDP_GRO, 1);
    assert.equal(a.getOption(k.SOL_UDP, k.UDP_GRO), 1);
    assert.throws(
      () => a.setOption(k.SOL_UDP, 9999, 1),
      (err: unknown) =>
        err instanceof SystemError && err.errno === 'ENOPROTOOPT' && err.syscall === 'setsockopt',
    );
  });

  test('two sockets with reuseAddr share a port', (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0, reuseAddr: true });
    const b = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: a.port, reuseAddr: true });
    t.after(() => {
      a.close();
      b.close();
    });
    assert.equal(b.port, a.port);
  });

  test('a bad address fails with EINVAL from inet_pton, an unowned one with EADDRNOTAVAIL from bind', () => {
    assert.throws(
      () => BatchUdpSocket.bindSync({ address: '300.1.2.3', port: 0 }),
      (err: unknown) => err instanceof SystemError && err.errno === 'EINVAL' && err.syscall === 'inet_pton',
    );
    assert.throws(
      () => BatchUdpSocket.bindSync({ address: '192.0.2.77', port: 0 }),
      (err: unknown) => err instanceof SystemError && err.errno === 'EADDRNOTAVAIL' && err.syscall === 'bind',
    );
  });

  test('close is idempotent and stops the poll handle before closing the fd', (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    a.onReadable(() => {});
    a.close();
    a.close();
    t.diagnostic(`closed fd ${a.fd}`);
    // The fd number is free again: the next socket may reuse it without a stale poll handle firing.
    const b = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    b.close();
    assert.ok(b.fd >= 0);
  });
});

describe('native binding', () => {
  test("the counter layouts are the addon's: every declared slot has the index the addon gives it", () => {
    const b = loadBinding();
    assert.equal(b.ioCounterNames.length, IO_COUNTER_COUNT);
    for (const name of IO_COUNTER_NAMES) assert.equal(b.ioCounterNames[IoCounter[name]], name);
    assert.equal(b.gsoStateNames.length, GSO_STATE_COUNT);
    for (const name of GSO_STATE_NAMES) assert.equal(b.gsoStateNames[GsoState[name]], name);
  });

  test('errnoName maps errno numbers to names', () => {
    const b = loadBinding();
    assert.equal(b.errnoName(98), 'EADDRINUSE');
    assert.equal(b.errnoName(11), 'EAGAIN');
  });

  test('batch calls reject a geometry that does not fit the buffer instead of touching memory', (t) => {
    const a = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    t.after(() => a.close());
    const b = loadBinding();
    const batch = new PacketBatch(4, 256);
    const m = batch.memory;
    // Slots [0, 8) of a 4-slot buffer.
    assert.throws(() => b.udpRecv(a.fd, m, 0, 8, a.counters), TypeError);
    assert.throws(() => b.tunRead(a.fd, m, 0, 8, a.counters), TypeError);
    // A range past the descriptor arrays, or reversed.
    assert.throws(() => b.udpSend(a.fd, m, 0, 5, a.counters), TypeError);
    assert.throws(() => b.udpSend(a.fd, m, 3, 2, a.counters), TypeError);
    assert.throws(() => b.udpSend(a.fd, m, 0, 1, a.counters, new Float64Array(2)), TypeError);
    // Not a batch's memory: no header, or a header whose regions leave the memory.
    assert.throws(() => b.udpSend(a.fd, new Uint8Array(4096), 0, 0, a.counters), TypeError);
    const h = new Uint32Array(m.buffer, m.length - BATCH_HEADER_BYTES, BATCH_HEADER_BYTES / 4);
    const saved = h[BatchHeader.descriptors]!;
    h[BatchHeader.descriptors] = 0x40000000;
    assert.throws(() => b.udpSend(a.fd, m, 0, 0, a.counters), TypeError);
    h[BatchHeader.descriptors] = saved;
    const slots = h[BatchHeader.slotsBytes]!;
    h[BatchHeader.slotsBytes] = m.length;
    assert.throws(() => b.udpSend(a.fd, m, 0, 0, a.counters), TypeError);
    h[BatchHeader.slotsBytes] = slots;
    assert.equal(b.udpSend(a.fd, m, 0, 0, a.counters), 0);
  });
});
