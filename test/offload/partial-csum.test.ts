/**
 * Partial inner checksums (src/offload/partial-csum.ts): recognition from headers alone, software
 * completion, the NEEDS_CSUM virtio header, and the coalescer's handling of partial segments. The
 * packets are built here with partial checksums exactly as the kernel writes them
 * (`~csum_tcpudp_magic`, i.e. the folded pseudo-header sum) for TCP and UDP over IPv4 and IPv6.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeVnetHdr,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
} from '../../src/wire/virtio-net-hdr';
import {
  l4CsumOffset,
  partialCsumStart,
  PartialCsumCompleter,
  TcpCoalescer,
  writePartialVnetHdr,
} from '../../src/offload';
import { internetChecksum } from '../../src/wire/checksum';

import {
  L4_KINDS as KINDS,
  l4KindName as name,
  l4ChecksumValid as l4Valid,
  writeL4Packet as writePacket,
  type L4Kind as Kind,
} from '../../src/testing/packets';
import { coalesceBatch } from '../../src/testing/coalesce-batch';

describe('recognition', () => {
  for (const k of KINDS) {
    test(`${name(k)}: partial is recognised, complete is not, and the header says where`, () => {
      const buf = Buffer.alloc(4000);
      for (const payload of [0, 1, 7, 1000, 1400]) {
        const len = writePacket(buf, 100, k, { payload, partial: true, seed: payload + 3 });
        const l4 = k.v6 ? 40 : 20;
        assert.equal(partialCsumStart(buf, 100, len), l4, `partial, payload ${payload}`);
        assert.equal(l4CsumOffset(buf, 100), k.proto === 6 ? 16 : 6);
        // Ethernet padding after the packet does not change the verdict.
        assert.equal(partialCsumStart(buf, 100, len + 6), l4);
        writePacket(buf, 100, k, { payload, partial: false, seed: payload + 3 });
        assert.ok(l4Valid(buf, 100, len));
        assert.equal(partialCsumStart(buf, 100, len), 0, `complete, payload ${payload}`);
      }
    });
  }

  test('not recognised: fragments, UDP checksum 0, other protocols, IPv6 extension headers, short packets', () => {
    const buf = Buffer.alloc(2000);
    const v4tcp = KINDS[0]!;
    let len = writePacket(buf, 0, v4tcp, { payload: 100, partial: true });
    buf[6] = 0x20; // MF
    assert.equal(partialCsumStart(buf, 0, len), 0);
    len = writePacket(buf, 0, v4tcp, { payload: 100, partial: true });
    buf[7] = 0x10; // fragment offset
    assert.equal(partialCsumStart(buf, 0, len), 0);
    len = writePacket(buf, 0, KINDS[1]!, { payload: 100, partial: false });
    buf.writeUInt16BE(0, 26);
    assert.equal(partialCsumStart(buf, 0, len), 0, 'IPv4 UDP without checksum');
    len = writePacket(buf, 0, v4tcp, { payload: 100, partial: true });
    buf[9] = 1; // ICMP
    assert.equal(partialCsumStart(buf, 0, len), 0);
    len = writePacket(buf, 0, KINDS[2]!, { payload: 100, partial: true });
    buf[6] = 0; // hop-by-hop options header first
    assert.equal(partialCsumStart(buf, 0, len), 0);
    len = writePacket(buf, 0, v4tcp, { payload: 100, partial: true });
    assert.equal(partialCsumStart(buf, 0, len - 1), 0, 'IP length beyond the frame');
    assert.equal(partialCsumStart(buf, 0, 19), 0);
    buf[0] = 0x75;
    assert.equal(partialCsumStart(buf, 0, len), 0, 'version 7');
  });

  test('a complete but wrong checksum is not mistaken for a partial one', () => {
    const buf = Buffer.alloc(2000);
    for (const k of KINDS) {
      const len = writePacket(buf, 0, k, { payload: 500, partial: false });
      buf[len - 3]! ^= 0x5a; // corrupted in flight
      assert.ok(!l4Valid(buf, 0, len));
      assert.equal(partialCsumStart(buf, 0, len), 0, name(k));
    }
  });
});

describe('completion in software (TUN without virtio headers)', () => {
  test('every kind gets a valid checksum, many packets in one batch; complete ones are not touched', () => {
    const buf = Buffer.alloc(200_000);
    const c = new PartialCsumCompleter(64);
    const pkts: Array<[number, number, boolean]> = [];
    let off = 64;
    for (let i = 0; i < 40; i++) {
      const k = KINDS[i % 4]!;
      const partial = i % 3 !== 0;
      const len = writePacket(buf, off, k, { payload: (i * 97) % 1400, partial, seed: i });
      pkts.push([off, len, partial]);
      off += len + 64;
    }
    const before = Buffer.from(buf);
    let planned = 0;
    for (const [o, l] of pkts) {
      const l4 = partialCsumStart(buf, o, l);
      if (l4 > 0) (assert.ok(c.add(buf, o, l4)), planned++);
    }
    assert.equal(planned, pkts.filter((p) => p[2]).length);
    assert.equal(c.pending, planned);
    c.finish(buf);
    assert.equal(c.pending, 0);
    for (const [o, l, partial] of pkts) {
      assert.ok(l4Valid(buf, o, l), `packet at ${o}`);
      if (!partial) assert.deepEqual(buf.subarray(o, o + l), before.subarray(o, o + l));
    }
  });

  test('a complete checksum that happens to equal the pseudo-header sum is rewritten to itself', () => {
    // Search payloads for one whose complete checksum equals the folded pseudo-header sum.
    const buf = Buffer.alloc(400);
    const k = KINDS[0]!;
    let found = -1;
    for (let seed = 1; seed < 400_000 && found < 0; seed++) {
      const len = writePacket(buf, 0, k, { payload: 40, partial: false, seed });
      if (partialCsumStart(buf, 0, len) > 0) found = seed;
    }
    assert.ok(found > 0, 'such a packet exists');
    const len = writePacket(buf, 0, k, { payload: 40, partial: false, seed: found });
    const before = Buffer.from(buf.subarray(0, len));
    const c = new PartialCsumCompleter(1);
    assert.ok(c.add(buf, 0, partialCsumStart(buf, 0, len)));
    c.finish(buf);
    assert.deepEqual(buf.subarray(0, len), before);
    assert.ok(l4Valid(buf, 0, len));
  });

  test('a full plan leaves further packets alone', () => {
    const buf = Buffer.alloc(4000);
    const c = new PartialCsumCompleter(1);
    const a = writePacket(buf, 0, KINDS[0]!, { payload: 10, partial: true });
    writePacket(buf, 1000, KINDS[0]!, { payload: 10, partial: true });
    assert.ok(c.add(buf, 0, 20));
    assert.ok(!c.add(buf, 1000, 20));
    c.finish(buf);
    assert.ok(l4Valid(buf, 0, a));
  });
});

describe('NEEDS_CSUM virtio header (TUN with IFF_VNET_HDR)', () => {
  for (const k of KINDS) {
    test(`${name(k)}: csum_start, csum_offset and hdr_len; what the kernel computes is valid`, () => {
      const buf = Buffer.alloc(3000);
      const len = writePacket(buf, 10, k, { payload: 1000, partial: true });
      const l4 = partialCsumStart(buf, 10, len);
      writePartialVnetHdr(buf, 0, 10, l4, 1450);
      const h = decodeVnetHdr(buf, 0);
      assert.equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
      assert.equal(h.gsoType, VIRTIO_NET_HDR_GSO_NONE);
      assert.equal(h.csumStart, l4);
      assert.equal(h.csumOffset, k.proto === 6 ? 16 : 6);
      assert.equal(h.hdrLen, l4 + (k.proto === 6 ? 32 : 8));
      // The kernel (skb_checksum_help) sums from csum_start to the end and stores the complement.
      const c = internetChecksum(buf, 10 + l4, len - l4, 0);
      buf.writeUInt16BE(c, 10 + l4 + h.csumOffset);
      assert.ok(l4Valid(buf, 10, len));
    });
  }

  test('a TCP packet longer than the MTU (a TSO packet from veth) is marked GSO with an MTU-sized segment', () => {
    const buf = Buffer.alloc(70_000);
    for (const k of [KINDS[0]!, KINDS[2]!]) {
      const len = writePacket(buf, 10, k, { payload: 30_000, partial: true });
      const l4 = partialCsumStart(buf, 10, len);
      assert.ok(l4 > 0);
      writePartialVnetHdr(buf, 0, 10, l4, 1450);
      const h = decodeVnetHdr(buf, 0);
      assert.equal(h.gsoType, k.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
      assert.equal(h.hdrLen, l4 + 32);
      assert.equal(h.gsoSize, 1450 - l4 - 32);
      assert.equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    }
    const len = writePacket(buf, 10, KINDS[1]!, { payload: 30_000, partial: true });
    writePartialVnetHdr(buf, 0, 10, partialCsumStart(buf, 10, len), 1450);
    assert.equal(decodeVnetHdr(buf, 0).gsoType, VIRTIO_NET_HDR_GSO_NONE, 'UDP is never made GSO');
  });
});

describe('coalescer with partial segments', () => {
  function run(k: Kind, partial: (i: number) => boolean, corrupt = -1, payload = 1000) {
    const buf = Buffer.alloc(400_000);
    const c = new TcpCoalescer(64, 1450);
    const segs: Array<[number, number]> = [];
    for (let i = 0; i < 6; i++) {
      const off = 64 + i * (payload + 1000);
      const len = writePacket(buf, off, k, {
        payload,
        partial: partial(i),
        seq: 1000 + i * payload,
        seed: i,
      });
      if (i === corrupt) buf[off + len - 5]! ^= 0xff;
      segs.push([off, len]);
    }
    const { n, offs, lens, writes } = coalesceBatch(c, buf, segs);
    assert.equal(writes.length, c.outputs);
    return { buf, c, n, offs, lens, segs, writes };
  }

  for (const k of [KINDS[0]!, KINDS[2]!]) {
    test(`${name(k)}: all partial -> one super-packet, no checksum failure, counted`, () => {
      const r = run(k, () => true);
      assert.equal(r.writes.length, 1);
      assert.equal(r.n, 6, 'one train of six descriptors');
      assert.equal(r.c.stats.badChecksum, 0);
      assert.equal(r.c.stats.partialCsum, 6);
      assert.equal(r.c.outSegs[0], 6);
      assert.equal(
        r.c.outBytes[0],
        r.segs.reduce((a, s) => a + s[1], 0),
      );
      const w = r.writes[0]!;
      const h = decodeVnetHdr(w, 0);
      assert.equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
      // The kernel's completion of the seeded super-packet is valid.
      const len = w.length - 10;
      w.writeUInt16BE(internetChecksum(w, 10 + h.csumStart, len - h.csumStart, 0), 10 + h.csumStart + 16);
      assert.ok(l4Valid(w, 10, len));
    });

    test(`${name(k)}: unsegmented TSO packets (longer than the TUN MTU) are not merged; each keeps an MTU-sized gso_size`, () => {
      // Over veth a kernel sender's TSO packet arrives whole; a merged super-packet would carry the
      // first one's whole payload as its segment size, too big for a pod behind an MTU-1450 link.
      const r = run(k, () => true, -1, 10_000);
      assert.equal(r.writes.length, 6, 'written one by one');
      for (let w = 0; w < 6; w++) {
        const h = decodeVnetHdr(r.buf, r.offs[w]!);
        assert.equal(h.gsoType, k.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
        assert.ok(h.gsoSize > 0 && h.hdrLen + h.gsoSize <= 1450, `gso_size ${h.gsoSize} fits the MTU`);
      }
    });

    test(`${name(k)}: mixed partial and complete segments merge; a corrupt complete one drops only itself`, () => {
      const mixed = run(k, (i) => i % 2 === 0);
      assert.equal(mixed.writes.length, 1);
      assert.equal(mixed.c.outSegs[0], 6);
      assert.equal(mixed.c.stats.partialCsum, 3);
      assert.equal(mixed.c.stats.badChecksum, 0);
      const bad = run(k, (i) => i % 2 === 0, 3);
      assert.equal(bad.c.stats.badChecksum, 1);
      assert.equal(bad.c.dropped, 1);
      assert.equal(bad.n, 5, 'the other five go out one by one');
      assert.equal(bad.writes.length, 5);
      for (let w = 0; w < 5; w++) {
        const seg = bad.segs[w < 3 ? w : w + 1]!;
        assert.equal(bad.offs[w], seg[0] - 10);
        const h = decodeVnetHdr(bad.buf, bad.offs[w]!);
        const wasPartial = (w < 3 ? w : w + 1) % 2 === 0;
        assert.equal(h.flags, wasPartial ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0);
      }
    });
  }

  test('a single partial packet gets a NEEDS_CSUM header; a complete one a zero header', () => {
    const buf = Buffer.alloc(10_000);
    const c = new TcpCoalescer(8);
    const a = writePacket(buf, 64, KINDS[1]!, { payload: 300, partial: true });
    const b = writePacket(buf, 3000, KINDS[1]!, { payload: 300, partial: false });
    c.begin(buf);
    c.add(64, a);
    c.add(3000, b);
    const offs = new Uint32Array(8);
    const lens = new Uint32Array(8);
    const trains = new Uint16Array(8).fill(7);
    assert.equal(c.finish(offs, lens, trains), 2);
    assert.deepEqual([...trains.subarray(0, 2)], [0, 0]);
    assert.equal(decodeVnetHdr(buf, offs[0]!).flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert.equal(decodeVnetHdr(buf, offs[0]!).csumOffset, 6);
    assert.deepEqual(buf.subarray(offs[1]!, offs[1]! + 10), Buffer.alloc(10));
    assert.equal(c.stats.partialCsum, 1);
  });
});
