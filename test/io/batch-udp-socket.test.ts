/**
 * BatchUdpSocket specifics beyond the shared PacketIo tests: truncation, bad descriptors,
 * socket options (the UDP_SEGMENT / UDP_GRO hooks), address errors, and the addon's counter
 * layout. Binds 127.0.0.1 only. Buffer sizes forced above the sysctl cap need root: see
 * batch-udp-socket.netns.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchUdpSocket, udpConstants } from '../../src/io/batch-udp-socket';
import { PacketBatch } from '../../src/io/packet-batch';
import { IO_COUNTER_COUNT, IO_COUNTER_NAMES, IoCounter } from '../../src/io/counters';
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
  test('the counter layout matches the addon', () => {
    const b = loadBinding();
    assert.deepEqual([...b.counterNames], [...IO_COUNTER_NAMES]);
    assert.equal(IO_COUNTER_NAMES.length, IO_COUNTER_COUNT);
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
    assert.throws(
      () =>
        b.udpRecv(
          a.fd,
          batch.buffer,
          batch.offsets,
          batch.lengths,
          batch.addrs,
          batch.ports,
          8,
          batch.slotSize,
          batch.headroom,
          a.counters,
        ),
      TypeError,
    );
  });
});
