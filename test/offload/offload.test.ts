/**
 * Offloads against packets the kernel produced (test/fixtures/offload/kernel-vnet-tcp.bin, see its
 * README): virtio-net header parsing, partial checksum completion, TSO segmentation of real
 * super-packets (IPv4 and IPv6, short tails, FIN/PSH on the last segment), and coalescing the
 * segments back into byte-identical super-packets (what the TUN's writev gathers). Pure computation plus the addon's csumCopy.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  completePartialChecksum,
  finishVnetPacket,
  isGso,
  SegmentError,
  segmentsPerTrain,
  TcpCoalescer,
  TsoSegmenter,
  csumCopyJs,
} from '../../src/offload';
import {
  decodeVnetHdr,
  encodeVnetHdr,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_SIZE,
} from '../../src/wire/virtio-net-hdr';
import { pseudoSumIpv4, pseudoSumIpv6, tcpSeq } from '../../src/wire/tcp';
import { checksumAdd, checksumFold, internetChecksum } from '../../src/wire/checksum';
import { tunWrites } from '../../src/testing/packets';

const FIXTURE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'offload', 'kernel-vnet-tcp.bin');
const MTU = 1450;
const PREFIX = 22;

/** Record is one kernel read: virtio header + IP packet. */
function records(): Buffer[] {
  const b = readFileSync(FIXTURE);
  const out: Buffer[] = [];
  for (let o = 0; o < b.length;) {
    const len = b.readUInt32LE(o);
    out.push(b.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  return out;
}

function l4Of(p: Buffer, off: number): number {
  return p[off]! >>> 4 === 4 ? (p[off]! & 0x0f) << 2 : 40;
}

/** tcpValid verifies the TCP checksum of the IP packet at buf[off..off+len) from scratch. */
function tcpValid(buf: Uint8Array, off: number, len: number): boolean {
  const l4 = l4Of(buf as Buffer, off);
  const pseudo = l4 === 20 ? pseudoSumIpv4(buf, off, 6, len - l4) : pseudoSumIpv6(buf, off, 6, len - l4);
  return internetChecksum(buf, off + l4, len - l4, pseudo) === 0;
}

const recs = records();
const gsoRecs = recs.filter((r) => isGso(r, 0));

describe('kernel fixture', () => {
  test('holds IPv4 and IPv6 TSO super-packets and NEEDS_CSUM plain packets', () => {
    assert.ok(recs.length >= 40);
    assert.ok(gsoRecs.some((r) => r[1] === VIRTIO_NET_HDR_GSO_TCPV4));
    assert.ok(gsoRecs.some((r) => r[1] === VIRTIO_NET_HDR_GSO_TCPV6));
    assert.ok(recs.some((r) => !isGso(r, 0) && (r[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0));
  });
});

describe('virtio-net header', () => {
  test('decodes a kernel TSO4 header (little-endian fields) and round-trips', () => {
    const r = gsoRecs.find((x) => x[1] === VIRTIO_NET_HDR_GSO_TCPV4)!;
    const h = decodeVnetHdr(r, 0);
    assert.deepEqual(h, {
      flags: 1,
      gsoType: 1,
      hdrLen: 52,
      gsoSize: MTU - 52,
      csumStart: 20,
      csumOffset: 16,
    });
    const b = Buffer.alloc(12, 0xee);
    assert.equal(encodeVnetHdr(b, 1, h), VIRTIO_NET_HDR_SIZE);
    assert.deepEqual(b.subarray(1, 11), r.subarray(0, 10));
    assert.equal(b[11], 0xee);
  });
});

describe('partial checksum completion (no GSO)', () => {
  test('every kernel NEEDS_CSUM plain packet gets a valid TCP checksum', () => {
    let n = 0;
    for (const r of recs) {
      if (isGso(r, 0) || (r[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) continue;
      const p = Buffer.from(r);
      assert.equal(tcpValid(p, 10, p.length - 10), false, 'kernel left only the pseudo-header sum');
      assert.ok(finishVnetPacket(p, 0, 10, p.length - 10));
      assert.ok(tcpValid(p, 10, p.length - 10));
      n++;
    }
    assert.ok(n >= 20);
  });

  test('packets without NEEDS_CSUM are left alone; impossible offsets are refused', () => {
    const plain = recs.find((r) => r[0] === 0)!;
    const p = Buffer.from(plain);
    assert.ok(finishVnetPacket(p, 0, 10, p.length - 10));
    assert.deepEqual(p, plain);
    assert.equal(completePartialChecksum(p, 10, 30, 20, 16), false);
  });
});

describe('TSO segmentation of kernel super-packets', () => {
  test('segments are MTU-sized with fixed lengths, IDs, sequence numbers, flags and checksums', () => {
    const seg = new TsoSegmenter();
    const dst = Buffer.alloc(200_000);
    for (const r of gsoRecs) {
      const src = Buffer.from(r);
      const pl = src.length - 10;
      const n = seg.segment(src, 0, 10, pl, dst, 100, dst.length, PREFIX);
      const h = decodeVnetHdr(r, 0);
      const l4 = h.csumStart;
      const hdr = l4 + ((src[10 + l4 + 12]! >>> 4) << 2);
      const payload = pl - hdr;
      assert.equal(n, Math.ceil(payload / h.gsoSize));
      assert.equal(seg.headerLen, hdr);
      assert.equal(seg.stride, PREFIX + hdr + h.gsoSize);
      const v4 = src[10]! >>> 4 === 4;
      const seq0 = tcpSeq(src, 10 + l4);
      const id0 = src.readUInt16BE(14);
      const origFlags = src[10 + l4 + 13]!;
      let rebuilt = 0;
      for (let i = 0; i < n; i++) {
        const at = 100 + i * seg.stride + PREFIX;
        const segPayload = i < n - 1 ? h.gsoSize : payload - (n - 1) * h.gsoSize;
        const len = hdr + segPayload;
        if (i === n - 1) assert.equal(seg.lastLen, len);
        assert.ok(len <= MTU, 'fits the TUN MTU');
        if (v4) {
          assert.equal(dst.readUInt16BE(at + 2), len);
          assert.equal(dst.readUInt16BE(at + 4), (id0 + i) & 0xffff);
          assert.equal(internetChecksum(dst, at, 20), 0, 'IPv4 header checksum');
        } else {
          assert.equal(dst.readUInt16BE(at + 4), len - 40);
        }
        assert.equal(tcpSeq(dst, at + l4), (seq0 + i * h.gsoSize) >>> 0);
        const f = dst[at + l4 + 13]!;
        const want = i < n - 1 ? origFlags & ~0x09 : origFlags;
        assert.equal(f, i > 0 ? want & ~0x80 : want, `flags of segment ${i}`);
        assert.ok(tcpValid(dst, at, len), `TCP checksum of segment ${i}`);
        assert.deepEqual(
          dst.subarray(at + hdr, at + len),
          src.subarray(10 + hdr + rebuilt, 10 + hdr + rebuilt + segPayload),
        );
        rebuilt += segPayload;
      }
      assert.equal(rebuilt, payload);
    }
    assert.ok(gsoRecs.length >= 10);
  });

  test('FIN and PSH stay on the last segment only; the tail is shorter', () => {
    const fin = gsoRecs.find((r) => (r[10 + decodeVnetHdr(r, 0).csumStart + 13]! & 0x01) !== 0)!;
    assert.ok(fin, 'fixture has a super-packet carrying FIN');
    const seg = new TsoSegmenter();
    const dst = Buffer.alloc(100_000);
    const n = seg.segment(Buffer.from(fin), 0, 10, fin.length - 10, dst, 0, dst.length, 0);
    const l4 = decodeVnetHdr(fin, 0).csumStart;
    for (let i = 0; i < n; i++) {
      const f = dst[i * seg.stride + l4 + 13]!;
      assert.equal((f & 0x09) !== 0, i === n - 1);
    }
    assert.ok(seg.lastLen < seg.stride);
  });

  test('a single-segment super-packet, CWR only on the first, and the refusals', () => {
    const r = Buffer.from(gsoRecs.find((x) => x[1] === VIRTIO_NET_HDR_GSO_TCPV4)!);
    const seg = new TsoSegmenter();
    const dst = Buffer.alloc(100_000);
    // Pretend gso_size covers everything: one segment, identical to the input with a full checksum.
    const whole = Buffer.from(r);
    whole.writeUInt16LE(whole.length - 10 - 52, 4);
    assert.equal(seg.segment(whole, 0, 10, whole.length - 10, dst, 0, dst.length, 0), 1);
    assert.ok(tcpValid(dst, 0, whole.length - 10));
    // CWR set on the super-packet: first segment only.
    const cwr = Buffer.from(r);
    cwr[10 + 20 + 13] = cwr[10 + 20 + 13]! | 0x80;
    const n = seg.segment(cwr, 0, 10, cwr.length - 10, dst, 0, dst.length, 0);
    assert.ok(n > 1);
    assert.equal(dst[20 + 13]! & 0x80, 0x80);
    assert.equal(dst[seg.stride + 20 + 13]! & 0x80, 0);
    // Refusals: UDP_L4, no room, inconsistent csum_start.
    const udp = Buffer.from(r);
    udp[1] = VIRTIO_NET_HDR_GSO_UDP_L4;
    assert.equal(seg.segment(udp, 0, 10, udp.length - 10, dst, 0, dst.length, 0), SegmentError.unsupported);
    assert.equal(seg.segment(r, 0, 10, r.length - 10, dst, 0, 2000, 0), SegmentError.noRoom);
    const bad = Buffer.from(r);
    bad.writeUInt16LE(24, 6);
    assert.equal(seg.segment(bad, 0, 10, bad.length - 10, dst, 0, dst.length, 0), SegmentError.malformed);
  });

  test('scatter-gather segmentation (headers + payload slices, no copy) equals the copying segmenter byte for byte', () => {
    const copy = new TsoSegmenter();
    const sg = new TsoSegmenter();
    const SLOT = 256;
    for (const r of gsoRecs) {
      for (const cap of [0, 1000]) {
        const src = Buffer.from(r);
        const before = Buffer.from(src);
        const pl = src.length - 10;
        const dst = Buffer.alloc(200_000);
        const n = copy.segment(src, 0, 10, pl, dst, 0, dst.length, PREFIX, cap);
        const hdrs = Buffer.alloc(n * SLOT + 64);
        assert.equal(sg.segmentHeaders(src, 0, 10, pl, hdrs, 64, SLOT, hdrs.length, PREFIX, cap), n);
        assert.deepEqual(src, before, 'the super-packet is only read');
        assert.equal(sg.headerLen, copy.headerLen);
        let payload = 0;
        for (let i = 0; i < n; i++) {
          const want = dst.subarray(
            i * copy.stride + PREFIX,
            i * copy.stride + PREFIX + (i < n - 1 ? copy.stride - PREFIX : copy.lastLen),
          );
          const h = hdrs.subarray(64 + i * SLOT + PREFIX, 64 + i * SLOT + PREFIX + sg.headerLen);
          const tail = src.subarray(sg.payloadOffset(i), sg.payloadOffset(i) + sg.payloadLength(i));
          assert.deepEqual(Buffer.concat([h, tail]), want, `segment ${i} of ${n}`);
          payload += sg.payloadLength(i);
        }
        assert.equal(payload, pl - sg.headerLen, 'the slices cover the payload exactly once');
      }
    }
  });

  test('scatter-gather segmentation refuses headers that do not fit their slot or slots past the end', () => {
    const sg = new TsoSegmenter();
    const r = Buffer.from(gsoRecs[0]!);
    const hdrs = Buffer.alloc(100_000);
    assert.equal(
      sg.segmentHeaders(r, 0, 10, r.length - 10, hdrs, 0, 60, hdrs.length, PREFIX),
      SegmentError.noRoom,
    );
    assert.equal(sg.segmentHeaders(r, 0, 10, r.length - 10, hdrs, 0, 256, 300, PREFIX), SegmentError.noRoom);
  });

  test('segmentsPerTrain respects 64 segments and 65507 bytes', () => {
    assert.equal(segmentsPerTrain(1472), 44);
    assert.equal(segmentsPerTrain(9000), 7);
    assert.equal(segmentsPerTrain(500), 64);
  });
});

describe('TCP coalescing', () => {
  /** segmentInto segments `r` with PREFIX bytes in front of each segment; returns [offsets, lengths]. */
  function segmentInto(r: Buffer, dst: Buffer, at: number): Array<[number, number]> {
    const seg = new TsoSegmenter();
    const n = seg.segment(Buffer.from(r), 0, 10, r.length - 10, dst, at, at + 100_000, PREFIX);
    assert.ok(n > 0);
    const out: Array<[number, number]> = [];
    for (let i = 0; i < n; i++)
      out.push([at + i * seg.stride + PREFIX, i < n - 1 ? seg.stride - PREFIX : seg.lastLen]);
    return out;
  }

  const hasFin = (r: Buffer): boolean => (r[10 + decodeVnetHdr(r, 0).csumStart + 13]! & 0x01) !== 0;

  /**
   * coalesce runs one batch of `pkts` (in that order) through a gathering coalescer; `writes` is
   * what the TUN receives (each train's descriptors concatenated, as the addon's writev does) and
   * `heads` the first descriptor of each write.
   */
  function coalesce(buf: Buffer, pkts: Array<[number, number]>, max = 128) {
    const c = new TcpCoalescer(max);
    c.begin(buf);
    for (const [o, l] of pkts) assert.ok(c.add(o, l));
    const offs = new Uint32Array(max);
    const lens = new Uint32Array(max);
    const trains = new Uint16Array(max).fill(7);
    const n = c.finish(offs, lens, trains);
    const writes = tunWrites(buf, offs, lens, trains, n);
    assert.equal(writes.length, c.outputs, 'outputs counts the TUN writes described');
    const heads: number[] = [];
    for (let k = 0; k < n; k += trains[k]! >= 2 ? trains[k]! : 1) heads.push(k);
    return { c, n, offs, lens, trains, writes, heads };
  }

  test('segment -> coalesce describes every kernel super-packet byte for byte as one writev train (IPv4 and IPv6)', () => {
    const noFin = gsoRecs.filter((x) => !hasFin(x));
    assert.ok(noFin.length >= 10, `${noFin.length} super-packets without FIN`);
    for (const r of noFin) {
      const buf = Buffer.alloc(300_000);
      const pkts = segmentInto(r, buf, 64);
      const received = Buffer.from(buf);
      const { c, n, trains, writes } = coalesce(buf, pkts);
      assert.equal(c.outputs, 1, 'one super-packet');
      assert.equal(n, pkts.length, 'a descriptor per segment');
      assert.equal(trains[0], pkts.length);
      for (let k = 1; k < n; k++) assert.equal(trains[k], 0);
      assert.equal(c.outSegs[0], pkts.length);
      assert.equal(
        c.outBytes[0],
        pkts.reduce((s, [, l]) => s + l, 0),
      );
      const out = writes[0]!;
      assert.equal(out.length, r.length);
      const h = decodeVnetHdr(out, 0);
      const k = decodeVnetHdr(r, 0);
      assert.deepEqual({ ...h, hdrLen: 0 }, { ...k, hdrLen: 0, gsoType: k.gsoType & 0x7f });
      assert.deepEqual(out.subarray(10), r.subarray(10), 'IP packet identical, incl. the pseudo-header seed');
      // Only the first segment's headers and the 10 bytes before it were written.
      const [o0] = pkts[0]!;
      for (const [o, l] of pkts.slice(1))
        assert.deepEqual(buf.subarray(o, o + l), received.subarray(o, o + l));
      assert.deepEqual(buf.subarray(0, o0 - 10), received.subarray(0, o0 - 10));
    }
    assert.ok(gsoRecs.length >= 10);
  });

  test('sequence numbers across 2^31 and 2^32: TSO cuts and the coalescer merges back byte for byte', () => {
    const v4 = gsoRecs.find((x) => x[1] === VIRTIO_NET_HDR_GSO_TCPV4 && !hasFin(x) && x.length > 10_000)!;
    const v6 = gsoRecs.find((x) => x[1] === VIRTIO_NET_HDR_GSO_TCPV6 && !hasFin(x) && x.length > 10_000)!;
    for (const orig of [v4, v6]) {
      for (const seq0 of [0x7fffffff - 3000, 0xffffffff - 3000]) {
        const r = Buffer.from(orig);
        const th = 10 + decodeVnetHdr(r, 0).csumStart;
        r.writeUInt32BE(seq0, th + 4); // the pseudo-header seed in the checksum field does not cover it
        const buf = Buffer.alloc(300_000);
        const pkts = segmentInto(r, buf, 64);
        const gso = decodeVnetHdr(r, 0).gsoSize;
        pkts.forEach(([o], i) => {
          assert.equal(tcpSeq(buf, o + th - 10), (seq0 + i * gso) % 2 ** 32, `segment ${i}`);
          assert.ok(tcpValid(buf, o, pkts[i]![1]), `segment ${i} checksum`);
        });
        const { c, writes } = coalesce(buf, pkts);
        assert.equal(c.outputs, 1, 'one super-packet across the wrap');
        assert.deepEqual(writes[0]!.subarray(10), r.subarray(10));
      }
    }
  });

  test('RCO: segments cut with partial checksums (--vxlan-rco sender) coalesce back into the same super-packet', () => {
    const noFin = gsoRecs.filter((x) => !hasFin(x));
    for (const r of noFin) {
      const buf = Buffer.alloc(300_000);
      const seg = new TsoSegmenter();
      seg.partialChecksums = true;
      const n = seg.segment(Buffer.from(r), 0, 10, r.length - 10, buf, 64, 200_000, PREFIX);
      assert.ok(n > 1);
      const pkts: Array<[number, number]> = [];
      for (let i = 0; i < n; i++)
        pkts.push([64 + i * seg.stride + PREFIX, i < n - 1 ? seg.stride - PREFIX : seg.lastLen]);
      const l4 = decodeVnetHdr(r, 0).csumStart;
      for (const [o, l] of pkts) {
        const pseudo = l4 === 20 ? pseudoSumIpv4(buf, o, 6, l - l4) : pseudoSumIpv6(buf, o, 6, l - l4);
        assert.equal(
          buf.readUInt16BE(o + l4 + 16),
          checksumFold(pseudo),
          'the segment leaves its checksum partial',
        );
      }
      const { c, writes } = coalesce(buf, pkts);
      assert.equal(c.outputs, 1, 'partial segments merge like complete ones');
      assert.equal(c.stats.partialCsum, n, 'every merged segment counted as partial');
      assert.equal(c.stats.badChecksum, 0);
      const h = decodeVnetHdr(writes[0]!, 0);
      const k = decodeVnetHdr(r, 0);
      assert.deepEqual({ ...h, hdrLen: 0 }, { ...k, hdrLen: 0, gsoType: k.gsoType & 0x7f });
      assert.deepEqual(writes[0]!.subarray(10), r.subarray(10));
    }
  });

  test('a segment whose checksum is wrong is dropped alone; the rest go out one by one, untouched', () => {
    const r = gsoRecs.find((x) => !hasFin(x))!;
    const buf = Buffer.alloc(300_000);
    const pkts = segmentInto(r, buf, 64);
    const [bo, bl] = pkts[3]!;
    buf[bo + 60] = buf[bo + 60]! ^ 0xff; // payload byte of segment 3
    const received = Buffer.from(buf);
    const { c, n, offs, lens, trains, writes } = coalesce(buf, pkts);
    assert.equal(c.dropped, 1);
    assert.equal(c.droppedBytes, bl);
    assert.equal(c.stats.badChecksum, 1);
    assert.equal(n, pkts.length - 1);
    assert.equal(c.outputs, pkts.length - 1);
    for (let k = 0; k < n; k++) assert.equal(trains[k], 0);
    const good = pkts.filter((_, i) => i !== 3);
    for (let k = 0; k < n; k++) {
      const [o, l] = good[k]!;
      assert.equal(offs[k], o - 10);
      assert.equal(lens[k], l + 10);
      assert.deepEqual(writes[k]!.subarray(0, 10), Buffer.alloc(10), 'complete checksum: zero header');
      assert.deepEqual(writes[k]!.subarray(10), received.subarray(o, o + l), 'untouched');
      assert.ok(tcpValid(writes[k]!, 10, l));
    }
  });

  test('a super-packet ending in FIN comes back as the merged data plus the FIN segment, in order', () => {
    const r = gsoRecs.find(hasFin)!;
    const buf = Buffer.alloc(300_000);
    const pkts = segmentInto(r, buf, 64);
    const { writes } = coalesce(buf, pkts);
    assert.equal(writes.length, 2);
    assert.equal(writes[1]!.length, pkts[pkts.length - 1]![1] + 10);
    assert.equal(writes[1]![10 + decodeVnetHdr(r, 0).csumStart + 13]! & 0x01, 0x01);
    const l4 = decodeVnetHdr(r, 0).csumStart;
    const hdr = l4 + ((r[10 + l4 + 12]! >>> 4) << 2);
    assert.equal(
      writes[0]!.length + writes[1]!.length,
      2 * 10 + hdr + (r.length - 10),
      'every payload byte, headers twice',
    );
  });

  test('interleaved flows, gaps, PSH, non-TCP and bad checksums', () => {
    const v4 = gsoRecs.find((x) => x[1] === VIRTIO_NET_HDR_GSO_TCPV4 && x.length > 10_000)!;
    const v6 = gsoRecs.find((x) => x[1] === VIRTIO_NET_HDR_GSO_TCPV6 && x.length > 10_000)!;
    const buf = Buffer.alloc(600_000);
    const a = segmentInto(v4, buf, 64);
    const b = segmentInto(v6, buf, 110_000);
    assert.ok(a.length >= 6 && b.length >= 6);
    // A non-TCP packet (ICMPv6 from the fixture) with room in front.
    const icmp = recs.find((r) => r[0] === 0)!;
    icmp.copy(buf, 220_010, 10);
    // Interleave: a0 b0 a1 b1 a2 [icmp] a4 (gap: a3 missing) a5 b2; corrupt b2's payload.
    buf[b[2]![0] + 100] ^= 0xff;
    const order: Array<[number, number]> = [
      a[0]!,
      b[0]!,
      a[1]!,
      b[1]!,
      a[2]!,
      [220_020, icmp.length - 10],
      a[4]!,
      a[5]!,
      b[2]!,
    ];
    const { c, offs, lens, writes, heads } = coalesce(buf, order);
    // Outputs: a0+a1+a2; b0, b1 alone (b2 is corrupt: only it is dropped, its run goes out
    // segment by segment); icmp; a4+a5.
    assert.equal(writes.length, 5);
    assert.equal(c.stats.badChecksum, 1);
    assert.equal(c.dropped, 1);
    assert.equal(c.droppedBytes, b[2]![1]);
    assert.deepEqual(
      heads.map((k) => c.outSegs[k]),
      [3, 1, 1, 1, 2],
    );
    assert.equal(writes[0]!.length, 10 + a[0]![1] + 2 * (a[1]![1] - 52), 'a0..a2 merged');
    assert.equal(writes[0]![1], VIRTIO_NET_HDR_GSO_TCPV4);
    for (const [k, [o, l]] of [
      [1, b[0]!],
      [2, b[1]!],
    ] as const) {
      assert.equal(offs[heads[k]!], o - 10, `b${k - 1} in place`);
      assert.equal(lens[heads[k]!], l + 10);
      assert.deepEqual(writes[k]!.subarray(0, 10), Buffer.alloc(10), 'complete checksum: zero header');
      assert.ok(tcpValid(buf, o, l));
    }
    assert.equal(writes[3]!.length, icmp.length, 'ICMPv6 passes with a zero virtio header');
    assert.deepEqual(writes[3]!.subarray(0, 10), Buffer.alloc(10));
    assert.equal(
      tcpSeq(writes[4]!, 10 + 20),
      tcpSeq(buf, a[4]![0] + 20),
      'a4 starts a new super-packet after the gap',
    );
    assert.equal(writes[4]!.length, 10 + a[4]![1] + (a[5]![1] - 52));
  });

  test('a PSH segment ends its super-packet; a FIN closes the flow', () => {
    const v4 = gsoRecs.find((x) => x[1] === VIRTIO_NET_HDR_GSO_TCPV4 && x.length > 10_000)!;
    const buf = Buffer.alloc(300_000);
    const a = segmentInto(v4, buf, 64);
    // a1 gets PSH (fix its checksum incrementally by recomputing); a2 must start a new output.
    const [o1, l1] = a[1]!;
    buf[o1 + 20 + 13] = 0x18;
    buf.writeUInt16BE(0, o1 + 20 + 16);
    buf.writeUInt16BE(
      internetChecksum(buf, o1 + 20, l1 - 20, pseudoSumIpv4(buf, o1, 6, l1 - 20)),
      o1 + 20 + 16,
    );
    const { writes } = coalesce(buf, a.slice(0, 4), 64);
    assert.equal(writes.length, 2);
    assert.equal(writes[0]![10 + 20 + 13]! & 0x08, 0x08, 'merged header carries PSH');
    assert.equal(writes[0]!.length, 10 + a[0]![1] + (l1 - 52));
    // Output 1 (a2 + a3) is valid once the kernel completes the seeded checksum.
    const w = writes[1]!;
    const len = w.length - 10;
    const seed = w.readUInt16BE(10 + 36);
    assert.equal(seed, checksumFold(pseudoSumIpv4(w, 10, 6, len - 20)));
    assert.ok(completePartialChecksum(w, 10, len, 20, 16), 'what the kernel does with NEEDS_CSUM');
    assert.ok(tcpValid(w, 10, len));
  });

  test('csumCopyJs matches the native plan semantics', () => {
    const src = Buffer.from([1, 2, 3, 4, 5]);
    const dst = Buffer.alloc(8);
    const sums = new Uint32Array(2);
    csumCopyJs(src, dst, new Uint32Array([0, 2, 5, 4, 0xffffffff, 3]), 2, sums);
    assert.deepEqual([...dst], [0, 0, 1, 2, 3, 4, 5, 0]);
    assert.equal(sums[0], checksumFold(checksumAdd(src, 0, 5, 0)));
    assert.equal(sums[1], 0xffffffff);
  });
});
