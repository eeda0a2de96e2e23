/**
 * The TCP coalescer and a complete TCP checksum that happens to equal the segment's pseudo-header
 * sum (1 in 65,536 segments), built on purpose. Nothing on the wire tells it from a partial one,
 * so it is treated as one: merged without a sum pass and counted in `partialCsum`, in a
 * super-packet that goes to the TUN with NEEDS_CSUM. The receiving kernel computes the super-packet's
 * checksum over the same bytes, so the payload the receiving TCP gets is the sent payload; the
 * bytes between the nodes are protected by the outer UDP checksum (docs/performance.md, "Which
 * check protects each byte"). Unit test: no kernel objects.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpCoalescer } from '../../src/offload';
import { L4_KINDS, l4ChecksumValid, l4KindName, writeL4Packet, type L4Kind } from '../../src/testing/packets';
import { coalesceBatch } from '../../src/testing/coalesce-batch';
import { checksumFold, internetChecksum } from '../../src/wire/checksum';
import { pseudoSumIpv4, pseudoSumIpv6 } from '../../src/wire/tcp';
import { decodeVnetHdr, VIRTIO_NET_HDR_F_NEEDS_CSUM } from '../../src/wire/virtio-net-hdr';

const PAYLOAD = 1000;
const TCP_HDR = 32; // writeL4Packet's TCP header: 20 bytes and 12 of options

/** looksPartial: the TCP checksum field holds the folded pseudo-header sum. */
function looksPartial(buf: Buffer, off: number, len: number, k: L4Kind): boolean {
  const l4 = k.v6 ? 40 : 20;
  const pseudo = k.v6 ? pseudoSumIpv6(buf, off, 6, len - l4) : pseudoSumIpv4(buf, off, 6, len - l4);
  return buf.readUInt16BE(off + l4 + 16) === checksumFold(pseudo);
}

/**
 * makeLookalike rewrites the last two payload bytes of the complete TCP segment at buf[off] (and
 * its checksum) until the checksum equals the pseudo-header sum; the segment stays valid.
 */
function makeLookalike(buf: Buffer, off: number, len: number, k: L4Kind): void {
  const l4 = k.v6 ? 40 : 20;
  const pseudo = k.v6 ? pseudoSumIpv6(buf, off, 6, len - l4) : pseudoSumIpv4(buf, off, 6, len - l4);
  for (let w = 0; w < 0x10000; w++) {
    buf.writeUInt16BE(w, off + len - 2);
    buf.writeUInt16BE(0, off + l4 + 16);
    buf.writeUInt16BE(internetChecksum(buf, off + l4, len - l4, pseudo), off + l4 + 16);
    if (looksPartial(buf, off, len, k)) return;
  }
  assert.fail('no payload word gives a checksum equal to the pseudo-header sum');
}

/** segments writes six in-order complete segments of one flow; `lookalike` is made one. */
function segments(k: L4Kind, lookalike: number, corrupt = false) {
  const buf = Buffer.alloc(200_000);
  const segs: Array<[number, number]> = [];
  for (let i = 0; i < 6; i++) {
    const off = 64 + i * (PAYLOAD + 1000);
    const len = writeL4Packet(buf, off, k, {
      payload: PAYLOAD,
      partial: false,
      seq: 1000 + i * PAYLOAD,
      seed: i,
    });
    if (i === lookalike) {
      makeLookalike(buf, off, len, k);
      assert.ok(l4ChecksumValid(buf, off, len), 'the lookalike is a valid complete segment');
      if (corrupt) buf[off + len - 100]! ^= 0x5a;
    } else {
      assert.ok(!looksPartial(buf, off, len, k), `segment ${i} reads as complete`);
    }
    segs.push([off, len]);
  }
  return { buf, segs };
}

function coalesce(buf: Buffer, segs: Array<[number, number]>) {
  const c = new TcpCoalescer(64, 1450);
  return { c, writes: coalesceBatch(c, buf, segs).writes };
}

/** payloadOf is the TCP payload of the IP packet p (at `at`). */
function payloadOf(p: Buffer, at: number, k: L4Kind): Buffer {
  const l4 = k.v6 ? 40 : 20;
  const len = k.v6 ? 40 + p.readUInt16BE(at + 4) : p.readUInt16BE(at + 2);
  return p.subarray(at + l4 + TCP_HDR, at + len);
}

describe('TCP coalescing: a complete checksum equal to its pseudo-header sum', () => {
  for (const k of L4_KINDS.filter((x) => x.proto === 6)) {
    for (const at of [0, 3, 5]) {
      test(`${l4KindName(k)}, segment ${at} of 6: merged, counted partial, NEEDS_CSUM, the kernel's checksum valid over the sent bytes`, () => {
        const { buf, segs } = segments(k, at);
        const want = Buffer.concat(segs.map(([o]) => Buffer.from(payloadOf(buf, o, k))));
        const r = coalesce(buf, segs);
        assert.equal(r.writes.length, 1, 'one super-packet');
        assert.equal(r.c.stats.partialCsum, 1, 'the lookalike counts as partial, the others not');
        assert.equal(r.c.stats.badChecksum, 0);
        const w = r.writes[0]!;
        const h = decodeVnetHdr(w, 0);
        assert.equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
        assert.ok(payloadOf(w, 10, k).equals(want), 'the super-packet carries the sent payload, in order');
        // What the kernel does with NEEDS_CSUM: sum from csum_start, write at csum_offset.
        const len = w.length - 10;
        w.writeUInt16BE(
          internetChecksum(w, 10 + h.csumStart, len - h.csumStart, 0),
          10 + h.csumStart + h.csumOffset,
        );
        assert.ok(l4ChecksumValid(w, 10, len), 'completed checksum valid');
      });
    }
  }

  test('what it costs: a corrupted payload behind such a field is not caught by weft (the outer UDP checksum is its check)', () => {
    const k = L4_KINDS[0]!;
    const { buf, segs } = segments(k, 2, true);
    assert.ok(looksPartial(buf, segs[2]![0], segs[2]![1], k), 'the field is untouched');
    const r = coalesce(buf, segs);
    assert.equal(r.c.stats.badChecksum, 0);
    assert.equal(r.writes.length, 1);
    // An ordinary complete segment with the same corruption is dropped.
    const plain = segments(k, -1);
    plain.buf[plain.segs[2]![0] + plain.segs[2]![1] - 100]! ^= 0x5a;
    const r2 = coalesce(plain.buf, plain.segs);
    assert.equal(r2.c.stats.badChecksum, 1);
  });
});
