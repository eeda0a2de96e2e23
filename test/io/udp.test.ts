/**
 * PacketIo over loopback: the same tests for `--io batch` (BatchUdpSocket, recvmmsg/sendmmsg
 * through the addon) and `--io dgram` (DgramUdpSocket over node:dgram). Binds 127.0.0.1 only.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { IO_MODES, openPacketIo, PacketIo } from '../../src/io/packet-io';
import { PacketBatch } from '../../src/io/packet-batch';
import { IoCounter } from '../../src/io/counters';
import { SystemError } from '../../src/errors';

const LOOPBACK = 0x7f000001;

/** receive collects `want` datagrams (copies, with source) through onReadable + recvBatch. */
function receive(
  io: PacketIo,
  batch: PacketBatch,
  want: number,
  timeoutMs = 3000,
): Promise<Array<{ data: Buffer; addr: number; port: number }>> {
  return new Promise((resolve, reject) => {
    const got: Array<{ data: Buffer; addr: number; port: number }> = [];
    const timer = setTimeout(() => {
      io.onReadable(null);
      reject(new Error(`received ${got.length} of ${want} datagrams`));
    }, timeoutMs);
    io.onReadable(() => {
      let n: number;
      while ((n = io.recvBatch(batch)) > 0) {
        for (let i = 0; i < n; i++) {
          got.push({ data: Buffer.from(batch.packet(i)), addr: batch.addrs[i]!, port: batch.ports[i]! });
        }
      }
      if (got.length >= want) {
        clearTimeout(timer);
        io.onReadable(null);
        resolve(got);
      }
    });
  });
}

function payload(i: number): Buffer {
  const b = Buffer.alloc(64 + i);
  b.writeUInt32BE(i, 0);
  for (let k = 4; k < b.length; k++) b[k] = (i * 7 + k) & 0xff;
  return b;
}

function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > until) reject(new Error('condition not met in time'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

for (const mode of IO_MODES) {
  describe(`PacketIo (${mode})`, () => {
    test('64 packets sent in one sendBatch arrive through recvBatch with source address, port and bytes', async (t) => {
      const a = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      const b = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      t.after(() => {
        a.close();
        b.close();
      });
      assert.equal(a.mode, mode);
      assert.ok(b.port > 0, 'port 0 binds an ephemeral port');
      assert.equal(b.address, '127.0.0.1');

      const tx = new PacketBatch(64);
      for (let i = 0; i < 64; i++) assert.ok(tx.push(payload(i), 0, 64 + i, LOOPBACK, b.port));
      const rx = new PacketBatch(64);
      const receiving = receive(b, rx, 64);
      assert.equal(a.sendBatch(tx), 64);
      const got = await receiving;

      assert.equal(got.length, 64);
      got.sort((x, y) => x.data.readUInt32BE(0) - y.data.readUInt32BE(0));
      for (let i = 0; i < 64; i++) {
        assert.deepEqual(got[i]!.data, payload(i), `packet ${i} bytes`);
        assert.equal(got[i]!.addr, LOOPBACK, `packet ${i} source address`);
        assert.equal(got[i]!.port, a.port, `packet ${i} source port`);
      }
      const bytes = got.reduce((s, g) => s + g.data.length, 0);
      await waitFor(() => a.counters[IoCounter.txPackets] === 64);
      assert.equal(a.counters[IoCounter.txBytes], bytes);
      assert.equal(a.counters[IoCounter.txErrors], 0);
      assert.equal(b.counters[IoCounter.rxPackets], 64);
      assert.equal(b.counters[IoCounter.rxBytes], bytes);
      assert.ok(b.counters[IoCounter.rxSyscalls]! >= 1);
    });

    test('received packets land at the slot headroom, leaving room to encapsulate in place', async (t) => {
      const a = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      const b = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      t.after(() => {
        a.close();
        b.close();
      });
      const tx = new PacketBatch(4);
      for (let i = 0; i < 4; i++) tx.push(payload(i), 0, 64 + i, LOOPBACK, b.port);
      const rx = new PacketBatch(8);
      const receiving = receive(b, rx, 4);
      a.sendBatch(tx);
      await receiving;
      for (let i = 0; i < rx.count; i++) assert.equal(rx.offsets[i]! % rx.slotSize, rx.headroom);
    });

    test('a packet the kernel refuses (port 0) is counted and skipped; the rest are delivered; nothing throws', async (t) => {
      const a = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      const b = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      t.after(() => {
        a.close();
        b.close();
      });
      const tx = new PacketBatch(8);
      for (let i = 0; i < 8; i++) tx.push(payload(i), 0, 64 + i, LOOPBACK, i === 3 || i === 0 ? 0 : b.port);
      const receiving = receive(b, new PacketBatch(8), 6);
      assert.equal(a.sendBatch(tx), 8, 'every packet was attempted');
      const got = await receiving;
      assert.deepEqual(
        got.map((g) => g.data.readUInt32BE(0)).sort((x, y) => x - y),
        [1, 2, 4, 5, 6, 7],
      );
      await waitFor(() => a.counters[IoCounter.txPackets] === 6);
      assert.equal(a.counters[IoCounter.txErrors], 2);
    });

    test('sending to a port with no listener does not throw and counts as sent', async (t) => {
      const a = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      const closed = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      const deadPort = closed.port;
      closed.close();
      t.after(() => a.close());
      const tx = new PacketBatch(4);
      for (let i = 0; i < 4; i++) tx.push(payload(i), 0, 64, LOOPBACK, deadPort);
      assert.equal(a.sendBatch(tx), 4);
      await waitFor(() => a.counters[IoCounter.txPackets] === 4);
      // A second batch after the ICMP port-unreachable replies still goes out.
      assert.equal(a.sendBatch(tx), 4);
      await waitFor(() => a.counters[IoCounter.txPackets] === 8);
    });

    test('recvBatch with nothing queued returns 0', async (t) => {
      const a = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      t.after(() => a.close());
      const rx = new PacketBatch(4);
      assert.equal(a.recvBatch(rx), 0);
      assert.equal(rx.count, 0);
    });

    test('binding a port in use without reuseAddr fails with SystemError EADDRINUSE', async (t) => {
      const a = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      t.after(() => a.close());
      await assert.rejects(openPacketIo(mode, { address: '127.0.0.1', port: a.port }), (err: unknown) => {
        assert.ok(err instanceof SystemError);
        assert.equal(err.errno, 'EADDRINUSE');
        assert.equal(err.syscall, 'bind');
        return true;
      });
    });

    test('onceWritable fires once', async (t) => {
      const a = await openPacketIo(mode, { address: '127.0.0.1', port: 0 });
      t.after(() => a.close());
      let fired = 0;
      await new Promise<void>((resolve) => {
        a.onceWritable(() => {
          fired++;
          setTimeout(resolve, 50);
        });
      });
      assert.equal(fired, 1);
    });
  });
}
