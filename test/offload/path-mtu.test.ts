/**
 * Path MTU below the sender's segment size (an underlay MTU drop under a running node): the TSO
 * segmenter cuts kernel super-packets into segments no longer than the cap, with valid checksums
 * and the payload intact; the underlay MTU watch reports changes and names the MTUs. Pure
 * computation (plus the addon's csumCopy) and a fake MTU reader.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isGso, TsoSegmenter } from '../../src/offload/tso';
import { pseudoSumIpv4, pseudoSumIpv6, tcpSeq } from '../../src/wire/tcp';
import { decodeVnetHdr } from '../../src/wire/virtio-net-hdr';
import { internetChecksum } from '../../src/wire/checksum';
import { UnderlayMtuWatch, describeMtuChange } from '../../src/dataplane/underlay-mtu';

const FIXTURE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'offload', 'kernel-vnet-tcp.bin');

function gsoRecords(): Buffer[] {
  const b = readFileSync(FIXTURE);
  const out: Buffer[] = [];
  for (let o = 0; o < b.length;) {
    const len = b.readUInt32LE(o);
    const r = b.subarray(o + 4, o + 4 + len);
    if (isGso(r, 0)) out.push(r);
    o += 4 + len;
  }
  return out;
}

describe('TSO segmentation capped at a path MTU', () => {
  test('every segment fits the cap, sequence numbers follow the smaller size, payload is intact', () => {
    const cap = 1350;
    const seg = new TsoSegmenter();
    const dst = Buffer.alloc(300_000);
    let capped = 0;
    const recs = gsoRecords();
    assert.ok(recs.length >= 10);
    for (const r of recs) {
      const src = Buffer.from(r);
      const pl = src.length - 10;
      const h = decodeVnetHdr(r, 0);
      const l4 = h.csumStart;
      const hdr = l4 + ((src[10 + l4 + 12]! >>> 4) << 2);
      const before = seg.clamped;
      const n = seg.segment(src, 0, 10, pl, dst, 64, dst.length, 22, cap);
      assert.ok(n > 0);
      const size = Math.min(h.gsoSize, cap - hdr);
      if (hdr + h.gsoSize > cap) {
        capped++;
        assert.equal(seg.clamped, before + 1);
      } else assert.equal(seg.clamped, before);
      assert.equal(seg.gsoSize, size);
      assert.equal(n, Math.ceil((pl - hdr) / size));
      const seq0 = tcpSeq(src, 10 + l4);
      let rebuilt = 0;
      for (let i = 0; i < n; i++) {
        const at = 64 + i * seg.stride + 22;
        const len = i < n - 1 ? hdr + size : seg.lastLen;
        assert.ok(len <= cap, `segment ${i} is ${len} bytes, over ${cap}`);
        assert.equal(tcpSeq(dst, at + l4), (seq0 + i * size) >>> 0);
        const pseudo = l4 === 20 ? pseudoSumIpv4(dst, at, 6, len - l4) : pseudoSumIpv6(dst, at, 6, len - l4);
        assert.equal(internetChecksum(dst, at + l4, len - l4, pseudo), 0, `TCP checksum of segment ${i}`);
        if (l4 === 20) assert.equal(internetChecksum(dst, at, 20), 0, 'IPv4 header checksum');
        assert.deepEqual(
          dst.subarray(at + hdr, at + len),
          src.subarray(10 + hdr + rebuilt, 10 + hdr + rebuilt + (len - hdr)),
        );
        rebuilt += len - hdr;
      }
      assert.equal(rebuilt, pl - hdr);
    }
    assert.ok(capped > 0, 'the fixture has super-packets whose segments exceed 1350 bytes');
  });

  test('no cap (0) or a cap above the segments changes nothing', () => {
    const r = Buffer.from(gsoRecords()[0]!);
    const a = new TsoSegmenter();
    const b = new TsoSegmenter();
    const da = Buffer.alloc(100_000);
    const db = Buffer.alloc(100_000);
    const na = a.segment(Buffer.from(r), 0, 10, r.length - 10, da, 0, da.length, 22);
    const nb = b.segment(Buffer.from(r), 0, 10, r.length - 10, db, 0, db.length, 22, 9000);
    assert.equal(na, nb);
    assert.deepEqual(da, db);
    assert.equal(b.clamped, 0);
  });
});

describe('underlay MTU watch', () => {
  test('reports a change once, with the old and new MTU; read errors are skipped', () => {
    let mtu = 1500;
    let fail = false;
    const seen: Array<[number, number]> = [];
    let ticks = 0;
    const w = new UnderlayMtuWatch({
      read: () => {
        if (fail) throw new Error('ENODEV');
        return mtu;
      },
      initial: 1500,
      onChange: (o, n) => seen.push([o, n]),
      onTick: () => ticks++,
    });
    assert.equal(w.check(), 1500);
    mtu = 1400;
    assert.equal(w.check(), 1400);
    assert.equal(w.check(), 1400);
    fail = true;
    assert.equal(w.check(), 1400);
    fail = false;
    mtu = 1500;
    w.check();
    assert.deepEqual(seen, [
      [1500, 1400],
      [1400, 1500],
    ]);
    assert.equal(ticks, 4, 'a failed read skips the tick');
  });

  test('the operator line names the interface, both MTUs, the path MTU and what happens', () => {
    const down = describeMtuChange('eth0', 1500, 1400, 1450, 50);
    assert.match(down, /eth0: 1500 -> 1400/);
    assert.match(down, /path MTU 1350/);
    assert.match(down, /below the TUN MTU 1450/);
    assert.match(down, /fragmentation-needed/);
    const up = describeMtuChange('eth0', 1400, 1500, 1450, 50);
    assert.match(up, /path MTU 1450 .*carries the TUN MTU 1450 unfragmented/);
  });
});
