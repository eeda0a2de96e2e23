/** PacketBatch geometry and helpers (no native code involved). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADROOM, PacketBatch } from '../../src/io/packet-batch';

describe('PacketBatch', () => {
  test('allocates capacity slots of slotSize (rounded to 64) with HEADROOM in front', () => {
    const b = new PacketBatch(8, 1600);
    assert.equal(HEADROOM, 128);
    assert.equal(b.capacity, 8);
    assert.equal(b.slotSize, 1600);
    assert.equal(b.buffer.length, 8 * 1600);
    assert.equal(b.headroom, HEADROOM);
    assert.equal(b.maxPacket, 1600 - HEADROOM);
    assert.equal(b.dataOffset(3), 3 * 1600 + HEADROOM);
    assert.equal(new PacketBatch(1, 1500).slotSize, 1536);
    for (const a of [b.offsets, b.lengths, b.addrs, b.ports]) assert.equal(a.length, 8);
    assert.equal(b.count, 0);
  });

  test('forPacketSize fits packets of the given size behind the headroom', () => {
    const b = PacketBatch.forPacketSize(4, 9000);
    assert.ok(b.maxPacket >= 9000);
    assert.equal(b.headroom, HEADROOM);
  });

  test('push copies into the next slot and fills the descriptor; refuses when full or too big', () => {
    const b = new PacketBatch(2, 256);
    const src = Buffer.from([9, 1, 2, 3, 9]);
    assert.ok(b.push(src, 1, 3, 0x0a000001, 8472));
    assert.equal(b.count, 1);
    assert.equal(b.offsets[0], HEADROOM);
    assert.equal(b.lengths[0], 3);
    assert.equal(b.addrs[0], 0x0a000001);
    assert.equal(b.ports[0], 8472);
    assert.deepEqual([...b.packet(0)], [1, 2, 3]);
    assert.equal(b.push(Buffer.alloc(200), 0, 200), false, 'larger than maxPacket');
    assert.ok(b.push(src, 0, 5));
    assert.equal(b.push(src, 0, 1), false, 'full');
    b.reset();
    assert.equal(b.count, 0);
  });

  test('gather and packetEnd follow heads, tails and trains; push clears a stale tail', () => {
    const b = new PacketBatch(2, 256, 0, 8);
    b.buffer.set([1, 2, 3, 4, 5, 6, 7, 8, 9], 0);
    b.offsets.set([0, 3, 6]);
    b.lengths.set([2, 1, 1]);
    b.tailOffsets.set([7, 0, 8]);
    b.tailLengths.set([2, 0, 1]);
    b.trains.set([3, 0, 0]);
    assert.equal(b.packetEnd(0), 3);
    assert.equal(b.packetEnd(1), 2);
    assert.deepEqual([...b.gather(0)], [1, 2, 8, 9, 4, 7, 9]);
    assert.deepEqual([...b.gather(0, false)], [1, 2, 8, 9]);
    b.count = 0;
    b.push(Buffer.from([42]), 0, 1);
    assert.equal(b.tailLengths[0], 0);
    assert.equal(b.trains[0], 0);
    assert.deepEqual([...b.gather(0)], [42]);
  });

  test('rejects impossible geometry', () => {
    assert.throws(() => new PacketBatch(0), RangeError);
    assert.throws(() => new PacketBatch(1, 128, 128), RangeError);
  });
});
