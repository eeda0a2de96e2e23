/**
 * TSO's per-segment header checksums (src/offload/tso.ts, fixHeaders: header sums taken once per
 * super-packet, each segment adding its own lengths, ID, sequence number and flags) checked from
 * scratch on random super-packets: IPv4 with and without options and IPv6, TCP options, sequence
 * numbers and IPv4 IDs about to wrap, CWR/FIN/PSH, any bytes in the super-packet's own checksum
 * fields, segment sizes that leave a short tail. Both the scatter-gather and the copying
 * segmenter. Pure computation plus the addon's csumCopy.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TsoSegmenter } from '../../src/offload/tso';
import { internetChecksum } from '../../src/wire/checksum';
import {
  pseudoSumIpv4,
  pseudoSumIpv6,
  tcpFlags,
  tcpSeq,
  TCP_CWR,
  TCP_FIN,
  TCP_PSH,
} from '../../src/wire/tcp';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_SIZE,
  writeVnetHdr,
} from '../../src/wire/virtio-net-hdr';

const PREFIX = 22;
const SLOT = 256;

interface Shape {
  v6: boolean;
  ipOptWords: number;
  tcpOptWords: number;
  seq: number;
  id: number;
  flags: number;
  gso: number;
  payload: number;
  junk: number;
  seed: number;
}

/** superPacket builds [virtio_net_hdr | IP | TCP | payload] as a TSO TUN read would hand it over. */
function superPacket(s: Shape): { buf: Uint8Array; l4: number; hdrLen: number } {
  const ipLen = s.v6 ? 40 : 20 + 4 * s.ipOptWords;
  const tcpLen = 20 + 4 * s.tcpOptWords;
  const hdrLen = ipLen + tcpLen;
  const total = hdrLen + s.payload;
  const buf = new Uint8Array(VIRTIO_NET_HDR_SIZE + total);
  let x = s.seed >>> 0 || 1;
  for (let i = VIRTIO_NET_HDR_SIZE; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  const ip = VIRTIO_NET_HDR_SIZE;
  const dv = new DataView(buf.buffer);
  if (s.v6) {
    buf[ip] = 0x60 | (buf[ip]! & 0x0f);
    dv.setUint16(ip + 4, total - 40);
    buf[ip + 6] = 6;
  } else {
    buf[ip] = 0x40 | (ipLen >> 2);
    dv.setUint16(ip + 2, total);
    dv.setUint16(ip + 4, s.id);
    dv.setUint16(ip + 6, 0x4000);
    buf[ip + 9] = 6;
    dv.setUint16(ip + 10, s.junk); // the super-packet's own header checksum: anything
  }
  const th = ip + ipLen;
  dv.setUint32(th + 4, s.seq >>> 0);
  buf[th + 12] = (tcpLen / 4) << 4;
  buf[th + 13] = s.flags;
  dv.setUint16(th + 16, s.junk ^ 0x5a5a); // NEEDS_CSUM: normally the pseudo-header sum; anything
  const type = s.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  writeVnetHdr(buf, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, type, hdrLen, s.gso, ipLen, 16);
  return { buf, l4: ipLen, hdrLen };
}

/** checkSegment verifies one segment (contiguous IP packet) from scratch against its super-packet. */
function checkSegment(seg: Uint8Array, s: Shape, l4: number, i: number, n: number): void {
  const where = `segment ${i} of ${n}`;
  if (!s.v6) assert.equal(internetChecksum(seg, 0, l4), 0, `${where}: IPv4 header checksum`);
  const pseudo = s.v6 ? pseudoSumIpv6(seg, 0, 6, seg.length - l4) : pseudoSumIpv4(seg, 0, 6, seg.length - l4);
  assert.equal(internetChecksum(seg, l4, seg.length - l4, pseudo), 0, `${where}: TCP checksum`);
  const dv = new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
  if (s.v6) assert.equal(dv.getUint16(4), seg.length - 40, `${where}: payload length`);
  else {
    assert.equal(dv.getUint16(2), seg.length, `${where}: total length`);
    assert.equal(dv.getUint16(4), (s.id + i) & 0xffff, `${where}: ID`);
  }
  assert.equal(tcpSeq(seg, l4), (s.seq + i * s.gso) >>> 0, `${where}: sequence number`);
  let f = s.flags;
  if (i > 0) f &= ~TCP_CWR;
  if (i < n - 1) f &= ~(TCP_FIN | TCP_PSH);
  assert.equal(tcpFlags(seg, l4), f, `${where}: flags`);
}

const shape = fc.record({
  v6: fc.boolean(),
  ipOptWords: fc.integer({ min: 0, max: 10 }),
  tcpOptWords: fc.integer({ min: 0, max: 10 }),
  seq: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0xffff0000, max: 0xffffffff })),
  id: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xffc0, max: 0xffff })),
  flags: fc.constantFrom(0x10, 0x18, 0x19, 0x90, 0xd0, 0x58, 0x11),
  gso: fc.integer({ min: 1, max: 9000 }),
  payload: fc.integer({ min: 1, max: 60000 }),
  junk: fc.integer({ min: 0, max: 0xffff }),
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
});

describe('TSO per-segment header checksums', () => {
  test('scatter-gather: every segment valid from scratch (IPv4 header, TCP checksum, fields)', () => {
    const sg = new TsoSegmenter(512);
    fc.assert(
      fc.property(shape, (s) => {
        fc.pre(Math.ceil(s.payload / s.gso) <= 512);
        const { buf, l4, hdrLen } = superPacket(s);
        const hdrs = new Uint8Array(512 * SLOT);
        const n = sg.segmentHeaders(
          buf,
          0,
          VIRTIO_NET_HDR_SIZE,
          buf.length - VIRTIO_NET_HDR_SIZE,
          hdrs,
          0,
          SLOT,
          hdrs.length,
          PREFIX,
        );
        assert.equal(n, Math.ceil(s.payload / s.gso));
        for (let i = 0; i < n; i++) {
          const h = hdrs.subarray(i * SLOT + PREFIX, i * SLOT + PREFIX + hdrLen);
          const at = sg.payloadOffset(i);
          const seg = new Uint8Array(hdrLen + sg.payloadLength(i));
          seg.set(h, 0);
          seg.set(buf.subarray(at, at + sg.payloadLength(i)), hdrLen);
          checkSegment(seg, s, l4, i, n);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('copying segmenter: every segment valid from scratch', () => {
    const copy = new TsoSegmenter(512);
    fc.assert(
      fc.property(shape, (s) => {
        fc.pre(Math.ceil(s.payload / s.gso) <= 512);
        const { buf, l4 } = superPacket(s);
        const n0 = Math.ceil(s.payload / s.gso);
        const dst = new Uint8Array(buf.length + n0 * (PREFIX + 200) + 64);
        const n = copy.segment(
          buf,
          0,
          VIRTIO_NET_HDR_SIZE,
          buf.length - VIRTIO_NET_HDR_SIZE,
          dst,
          0,
          dst.length,
          PREFIX,
        );
        assert.equal(n, n0);
        for (let i = 0; i < n; i++) {
          const start = i * copy.stride + PREFIX;
          const len = i === n - 1 ? copy.lastLen : copy.stride - PREFIX;
          checkSegment(dst.subarray(start, start + len), s, l4, i, n);
        }
      }),
      { numRuns: 200 },
    );
  });
});
