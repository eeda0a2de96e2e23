/**
 * VXLAN Remote Checksum Offload (draft-herbert-vxlan-rco, Linux include/net/vxlan.h): the wire
 * fields, the sender's marking of partial inner checksums, the receiver's checks and drop reasons,
 * a sender -> receiver round trip that must end with a correct inner checksum, and TSO segments
 * left partial. Pure computation (plus the addon's csumCopy for TSO).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HEADROOM, VXLAN_ENCAP_SIZE } from '../../src/encap/constants';
import {
  Anomaly,
  DropReason,
  newAnomalyCounters,
  newDropCounters,
  sumCounters,
} from '../../src/encap/drop-reason';
import { makeVxlanConfig } from '../../src/encap/vxlan-config';
import { vxlanDecap } from '../../src/encap/vxlan-decap';
import { vxlanEncap } from '../../src/encap/vxlan-encap';
import { markRcoIfPartial, rcoStartFits } from '../../src/offload/vxlan-rco';
import { completePartialChecksum, isGso, TsoSegmenter } from '../../src/offload';
import { partialCsumStart } from '../../src/offload/partial-csum';
import { checksumFold, internetChecksum } from '../../src/wire/checksum';
import { IP_PROTO_TCP, IP_PROTO_UDP } from '../../src/wire/ipv4';
import { pseudoSumIpv4, pseudoSumIpv6 } from '../../src/wire/tcp';
import {
  VXLAN_MAX_RCO_START,
  setVxlanRco,
  vxlanHasRco,
  vxlanRcoOffset,
  vxlanRcoStart,
  vxlanReservedBitsSet,
  writeVxlanHeader,
} from '../../src/wire/vxlan';
import { MAC_A, MAC_B, SLOT } from './frames';
import { writeV4, writeV6 } from '../../src/testing/packets';

const RCO_A = makeVxlanConfig({ localMac: MAC_A, rco: true });
const RCO_B = makeVxlanConfig({ localMac: MAC_B, rco: true });
const PLAIN_B = makeVxlanConfig({ localMac: MAC_B });

/** l4Sum is the L4 checksum a complete packet must carry (computed from scratch). */
function l4Checksum(buf: Buffer, off: number, len: number, proto: number): number {
  const v4 = buf[off]! >>> 4 === 4;
  const l4 = v4 ? (buf[off]! & 0x0f) << 2 : 40;
  const field = off + l4 + (proto === IP_PROTO_TCP ? 16 : 6);
  const saved = buf.readUInt16BE(field);
  buf.writeUInt16BE(0, field);
  const pseudo = v4 ? pseudoSumIpv4(buf, off, proto, len - l4) : pseudoSumIpv6(buf, off, proto, len - l4);
  const c = internetChecksum(buf, off + l4, len - l4, pseudo);
  buf.writeUInt16BE(saved, field);
  return c;
}

/** makePartial writes the folded pseudo-header sum into the L4 checksum field, as a CHECKSUM_PARTIAL sender. */
function makePartial(buf: Buffer, off: number, len: number, proto: number): void {
  const v4 = buf[off]! >>> 4 === 4;
  const l4 = v4 ? (buf[off]! & 0x0f) << 2 : 40;
  const pseudo = v4 ? pseudoSumIpv4(buf, off, proto, len - l4) : pseudoSumIpv6(buf, off, proto, len - l4);
  buf.writeUInt16BE(checksumFold(pseudo), off + l4 + (proto === IP_PROTO_TCP ? 16 : 6));
}

/** rcoFrame: a VXLAN frame (at the returned offset) of a partial TCP/UDP packet, RCO-marked by the sender. */
function rcoFrame(
  proto = IP_PROTO_TCP,
  v6 = false,
): { buf: Buffer; start: number; len: number; complete: number } {
  const buf = Buffer.alloc(SLOT);
  let len: number;
  if (v6) {
    len = writeV6(buf, HEADROOM, 1, 2, 40000, 53, 200);
    buf[HEADROOM + 6] = proto;
  } else len = writeV4(buf, HEADROOM, { proto, payload: 200 });
  const complete = l4Checksum(buf, HEADROOM, len, proto);
  makePartial(buf, HEADROOM, len, proto);
  const start = vxlanEncap(buf, HEADROOM, len, MAC_B, RCO_A);
  assert.equal(markRcoIfPartial(buf, start, HEADROOM, len), true);
  return { buf, start, len: HEADROOM + len - start, complete };
}

describe('RCO wire fields', () => {
  test('C flag is bit 21 of word 1 (byte 1, 0x20); byte 7 holds O (0x80) and start / 2', () => {
    const b = Buffer.alloc(8);
    writeVxlanHeader(b, 0, 0x123456);
    setVxlanRco(b, 0, 34, false);
    assert.equal(b.toString('hex'), '0820000012345611');
    assert.equal(vxlanHasRco(b, 0), true);
    assert.equal(vxlanRcoStart(b, 0), 34);
    assert.equal(vxlanRcoOffset(b, 0), 16);
    setVxlanRco(b, 0, 54, true);
    assert.equal(b[7], 0x80 | 27);
    assert.equal(vxlanRcoOffset(b, 0), 6);
    assert.equal(vxlanRcoStart(b, 0), 54);
    assert.equal(VXLAN_MAX_RCO_START, 254);
    assert.equal(vxlanReservedBitsSet(b, 0), true, 'plain RFC 7348: these are reserved bits');
    assert.equal(vxlanReservedBitsSet(b, 0, true), false, 'with RCO they are not');
    b[2] = 1;
    assert.equal(vxlanReservedBitsSet(b, 0, true), true);
  });

  test('rcoStartFits: inner Ethernet 14 + L4 offset must be <= 254', () => {
    assert.equal(rcoStartFits(20), true);
    assert.equal(rcoStartFits(240), true);
    assert.equal(rcoStartFits(241), false);
  });
});

describe('sender: markRcoIfPartial', () => {
  for (const [name, proto, v6, start, o] of [
    ['IPv4 TCP', IP_PROTO_TCP, false, 34, 16],
    ['IPv4 UDP', IP_PROTO_UDP, false, 34, 6],
    ['IPv6 TCP', IP_PROTO_TCP, true, 54, 16],
  ] as const) {
    test(`${name} with a partial checksum: RCO start ${start}, offset ${o}`, () => {
      const f = rcoFrame(proto, v6);
      assert.equal(vxlanRcoStart(f.buf, f.start), start);
      assert.equal(vxlanRcoOffset(f.buf, f.start), o);
    });
  }

  test('complete checksums and UDP checksum 0 are left alone', () => {
    const buf = Buffer.alloc(SLOT);
    const len = writeV4(buf, HEADROOM, { proto: IP_PROTO_TCP, payload: 100 });
    buf.writeUInt16BE(l4Checksum(buf, HEADROOM, len, IP_PROTO_TCP), HEADROOM + 36);
    const start = vxlanEncap(buf, HEADROOM, len, MAC_B, RCO_A);
    assert.equal(markRcoIfPartial(buf, start, HEADROOM, len), false);
    assert.equal(vxlanHasRco(buf, start), false);
    const u = Buffer.alloc(SLOT);
    const ulen = writeV4(u, HEADROOM, { proto: IP_PROTO_UDP, payload: 100 });
    u.writeUInt16BE(0, HEADROOM + 26);
    assert.equal(markRcoIfPartial(u, vxlanEncap(u, HEADROOM, ulen, MAC_B, RCO_A), HEADROOM, ulen), false);
  });
});

describe('receiver: vxlanDecap with RCO', () => {
  test('without rco the frame is dropped as vxlanRcoDisabled (the kernel without remcsumrx drops it too)', () => {
    const f = rcoFrame();
    const drops = newDropCounters();
    const an = newAnomalyCounters();
    assert.equal(vxlanDecap(f.buf, f.start, f.len, PLAIN_B, drops, an), -1);
    assert.equal(drops[DropReason.vxlanRcoDisabled], 1);
    assert.equal(sumCounters(drops), 1);
  });

  test('with rco the frame is accepted, not counted as reserved bits, and completing the field gives the right checksum', () => {
    for (const [proto, v6] of [
      [IP_PROTO_TCP, false],
      [IP_PROTO_UDP, false],
      [IP_PROTO_TCP, true],
    ] as const) {
      const f = rcoFrame(proto, v6);
      const drops = newDropCounters();
      const an = newAnomalyCounters();
      const inner = vxlanDecap(f.buf, f.start, f.len, RCO_B, drops, an);
      assert.equal(inner, f.start + VXLAN_ENCAP_SIZE);
      assert.equal(sumCounters(drops), 0);
      assert.equal(an[Anomaly.vxlanReservedBitsSet], 0);
      // What the receiver's partial-checksum path does: recognise, then sum from start into the field.
      const innerLen = f.len - VXLAN_ENCAP_SIZE;
      const l4 = partialCsumStart(f.buf, inner, innerLen);
      assert.equal(l4, vxlanRcoStart(f.buf, f.start) - 14);
      assert.ok(completePartialChecksum(f.buf, inner, innerLen, l4, vxlanRcoOffset(f.buf, f.start)));
      assert.equal(f.buf.readUInt16BE(inner + l4 + vxlanRcoOffset(f.buf, f.start)), f.complete);
    }
  });

  test('fields that do not name the inner checksum are dropped as badVxlanRco', () => {
    const cases: Array<[string, (b: Buffer, s: number) => void]> = [
      ['start not at the L4 header', (b, s) => void (b[s + 7] = (b[s + 7]! & 0x80) | 18)],
      ['UDP offset on a TCP packet', (b, s) => void (b[s + 7] = b[s + 7]! | 0x80)],
      ['start 0', (b, s) => void (b[s + 7] = 0)],
    ];
    for (const [name, mutate] of cases) {
      const f = rcoFrame();
      mutate(f.buf, f.start);
      const drops = newDropCounters();
      assert.equal(vxlanDecap(f.buf, f.start, f.len, RCO_B, drops, newAnomalyCounters()), -1, name);
      assert.equal(drops[DropReason.badVxlanRco], 1, name);
    }
  });
});

describe('TSO with partialChecksums (RCO sender)', () => {
  const FIXTURE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'offload', 'kernel-vnet-tcp.bin');
  const recs: Buffer[] = [];
  const raw = readFileSync(FIXTURE);
  for (let o = 0; o < raw.length;) {
    const len = raw.readUInt32LE(o);
    recs.push(raw.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  test('every segment carries the folded pseudo-header sum, and completing it equals the full segmenter checksum', () => {
    const part = new TsoSegmenter();
    part.partialChecksums = true;
    const full = new TsoSegmenter();
    const gso = recs.filter((r) => isGso(r, 0));
    assert.ok(gso.length > 0);
    for (const r of gso) {
      const a = Buffer.alloc(200_000);
      const b = Buffer.alloc(200_000);
      const n = part.segment(Buffer.from(r), 0, 10, r.length - 10, a, 100, a.length, 22);
      assert.equal(full.segment(Buffer.from(r), 0, 10, r.length - 10, b, 100, b.length, 22), n);
      for (let i = 0; i < n; i++) {
        const at = 100 + i * part.stride + 22;
        const len = i === n - 1 ? part.lastLen : part.stride - 22;
        const l4 = partialCsumStart(a, at, len);
        assert.ok(l4 === 20 || l4 === 40, `segment ${i} is partial`);
        assert.ok(completePartialChecksum(a, at, len, l4, 16));
        assert.deepEqual(a.subarray(at, at + len), b.subarray(at, at + len), `segment ${i} after completion`);
      }
    }
  });
});
