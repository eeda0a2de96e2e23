/**
 * SrcPortPool (the send side of `--src-port flow`): port choice over the range (spread, queue
 * residue, taken ports skipped, none free is a ConfigError naming --src-port-range), and sending:
 * each descriptor leaves from its lane's port, in order within a lane, with the batch put in lane
 * order first. Binds 127.0.0.1 only, at a random base port so parallel runs rarely meet; a port
 * another process holds just moves a lane, which the assertions allow.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors';
import { BatchUdpSocket } from '../../src/io/batch-udp-socket';
import { IoCounter } from '../../src/io/counters';
import { PacketBatch } from '../../src/io/packet-batch';
import { SrcPortPool } from '../../src/io/src-port-pool';

const LOOPBACK = 0x7f000001;

function base(): number {
  return 20000 + Math.floor(Math.random() * 200) * 100;
}

describe('SrcPortPool port choice', () => {
  test('lanes start at evenly spaced ports of the range, each inside its own stretch', (t) => {
    const min = base();
    const pool = SrcPortPool.open({ local: '127.0.0.1', min, max: min + 99, size: 4 });
    t.after(() => pool.close());
    assert.equal(pool.size, 4);
    pool.ports.forEach((p, i) => {
      assert.ok(p >= min + 25 * i && p < min + 25 * (i + 1), `lane ${i}: ${p}`);
    });
    assert.equal(new Set(pool.ports).size, 4);
  });

  test('queue k of n only takes ports p with p mod n = k', (t) => {
    const min = base();
    for (const k of [0, 1, 2]) {
      const pool = SrcPortPool.open({ local: '127.0.0.1', min, max: min + 99, size: 5, queue: k, queues: 3 });
      t.after(() => pool.close());
      assert.equal(pool.size, 5);
      for (const p of pool.ports) assert.equal(p % 3, k, `queue ${k}: ${pool.ports}`);
    }
  });

  test('a taken port is skipped (the lane moves on); a range with no free port is a ConfigError', (t) => {
    const holder = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    t.after(() => holder.close());
    const p = holder.port;
    const pool = SrcPortPool.open({ local: '127.0.0.1', min: p, max: Math.min(p + 9, 65535), size: 1 });
    t.after(() => pool.close());
    assert.notEqual(pool.ports[0], p);
    assert.ok(pool.skipped >= 1);
    assert.throws(
      () => SrcPortPool.open({ local: '127.0.0.1', min: p, max: p }),
      (e: unknown) => e instanceof ConfigError && e.field === '--src-port-range',
    );
  });

  test('a small range gives a smaller pool', (t) => {
    const min = base();
    const pool = SrcPortPool.open({ local: '127.0.0.1', min, max: min + 2, size: 16 });
    t.after(() => pool.close());
    assert.ok(pool.size <= 3 && pool.size >= 1, String(pool.ports));
  });
});

describe('SrcPortPool sending', () => {
  test('each datagram leaves from its lane port; order within a lane is kept; the batch ends in lane order', async (t) => {
    const min = base();
    const pool = SrcPortPool.open({ local: '127.0.0.1', min, max: min + 99, size: 3 });
    const rx = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
    t.after(() => {
      pool.close();
      rx.close();
    });
    const lanes = [2, 0, 2, 1, 0, 2];
    const tx = new PacketBatch(8, 256);
    lanes.forEach((lane, i) => {
      tx.push(Buffer.from([i]), 0, 1, LOOPBACK, rx.port);
      tx.lanes[i] = lane;
    });
    assert.equal(pool.sendBatch(tx), lanes.length);
    assert.deepEqual([...tx.lanes.subarray(0, 6)], [0, 0, 1, 2, 2, 2]);
    assert.deepEqual(
      [...tx.offsets.subarray(0, 6)].map((o) => tx.buffer[o]),
      [1, 4, 3, 0, 2, 5],
    );
    const got = PacketBatch.forPacketSize(8, 64);
    const seen: Array<[number, number]> = [];
    const deadline = Date.now() + 2000;
    while (seen.length < lanes.length && Date.now() < deadline) {
      const n = rx.recvBatch(got);
      for (let k = 0; k < n; k++) seen.push([got.buffer[got.offsets[k]!]!, got.ports[k]!]);
      if (n === 0) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(seen.length, lanes.length);
    for (const [i, port] of seen) assert.equal(port, pool.ports[lanes[i]!], `datagram ${i}`);
    // Within one lane (one socket) the kernel keeps order.
    const lane2 = seen.filter(([i]) => lanes[i] === 2).map(([i]) => i);
    assert.deepEqual(lane2, [0, 2, 5]);
    assert.equal(pool.counters[IoCounter.txPackets], lanes.length, 'one shared counter array');
  });
});
