import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADROOM } from '../../src/encap/constants';
import { DropReason, newDropCounters, sumCounters, type DropReasonName } from '../../src/encap/drop-reason';
import { flannelUdpDecap, flannelUdpEncap } from '../../src/encap/flannel-udp';
import { ipv4ChecksumValid, ipv4Ttl } from '../../src/wire/ipv4';
import { SLOT } from './frames';
import { writeV4, writeV6 } from '../../src/testing/packets';

test('flannelUdpEncap decrements TTL with a valid incremental checksum and returns off', () => {
  const buf = Buffer.alloc(SLOT);
  const len = writeV4(buf, HEADROOM, { ttl: 64 });
  const drops = newDropCounters();
  assert.equal(flannelUdpEncap(buf, HEADROOM, len, drops), HEADROOM);
  assert.equal(ipv4Ttl(buf, HEADROOM), 63);
  assert.ok(ipv4ChecksumValid(buf, HEADROOM));
  // ...and the receiver (flannel decrements on receive too) sees a valid packet.
  assert.equal(flannelUdpDecap(buf, HEADROOM, len, drops, true), HEADROOM);
  assert.equal(ipv4Ttl(buf, HEADROOM), 62);
  assert.ok(ipv4ChecksumValid(buf, HEADROOM));
  assert.equal(sumCounters(drops), 0);
});

test('flannelUdpEncap decrements the IPv6 hop limit', () => {
  const buf = Buffer.alloc(SLOT);
  const len = writeV6(buf, HEADROOM);
  assert.equal(flannelUdpEncap(buf, HEADROOM, len, newDropCounters()), HEADROOM);
  assert.equal(buf[HEADROOM + 7], 63);
});

test('flannelUdpDecap without decrementTtl leaves the packet untouched', () => {
  const buf = Buffer.alloc(SLOT);
  const len = writeV4(buf, HEADROOM, { ttl: 1 });
  const copy = Buffer.from(buf);
  assert.equal(flannelUdpDecap(buf, HEADROOM, len, newDropCounters()), HEADROOM);
  assert.deepEqual(buf, copy);
});

type Case = {
  name: string;
  reason: DropReasonName;
  build: (b: Buffer) => number;
  dir: 'encap' | 'decap' | 'both';
  mtu?: number;
};
const cases: Case[] = [
  { name: '19 bytes', reason: 'tooShort', build: (b) => (writeV4(b, HEADROOM), 19), dir: 'both' },
  { name: 'empty', reason: 'tooShort', build: () => 0, dir: 'both' },
  { name: 'version 5', reason: 'badIpVersion', build: (b) => ((b[HEADROOM] = 0x55), 40), dir: 'both' },
  { name: 'version 0', reason: 'badIpVersion', build: (b) => ((b[HEADROOM] = 0x05), 40), dir: 'both' },
  {
    name: 'IHL 3',
    reason: 'badInnerIp',
    build: (b) => {
      const n = writeV4(b, HEADROOM);
      b[HEADROOM] = 0x43;
      return n;
    },
    dir: 'both',
  },
  {
    name: 'total length > datagram',
    reason: 'badInnerIp',
    build: (b) => writeV4(b, HEADROOM) - 1,
    dir: 'both',
  },
  {
    name: 'IPv6 payload length lies',
    reason: 'badInnerIp',
    build: (b) => writeV6(b, HEADROOM) - 1,
    dir: 'both',
  },
  {
    name: 'IPv6 shorter than 40',
    reason: 'badInnerIp',
    build: (b) => (writeV6(b, HEADROOM), 39),
    dir: 'both',
  },
  { name: 'TTL 1', reason: 'ttlExpired', build: (b) => writeV4(b, HEADROOM, { ttl: 1 }), dir: 'encap' },
  { name: 'TTL 0', reason: 'ttlExpired', build: (b) => writeV4(b, HEADROOM, { ttl: 0 }), dir: 'encap' },
  {
    name: 'hop limit 1',
    reason: 'ttlExpired',
    build: (b) => writeV6(b, HEADROOM, 1, 2, 1, 2, 8, 1),
    dir: 'encap',
  },
  {
    name: 'DF packet over MTU',
    reason: 'tooBig',
    build: (b) => writeV4(b, HEADROOM, { payload: 1480 }),
    dir: 'encap',
    mtu: 1472,
  },
  {
    name: 'IPv6 over MTU',
    reason: 'tooBig',
    build: (b) => writeV6(b, HEADROOM, 1, 2, 1, 2, 1460),
    dir: 'encap',
    mtu: 1472,
  },
];
for (const c of cases) {
  for (const dir of c.dir === 'both' ? (['encap', 'decap'] as const) : ([c.dir] as const)) {
    test(`flannel-UDP ${dir} drops ${c.name} as ${c.reason}, counted once, packet unmodified`, () => {
      const buf = Buffer.alloc(SLOT);
      const len = c.build(buf);
      const copy = Buffer.from(buf);
      const drops = newDropCounters();
      const r =
        dir === 'encap'
          ? flannelUdpEncap(buf, HEADROOM, len, drops, c.mtu)
          : flannelUdpDecap(buf, HEADROOM, len, drops, true);
      assert.equal(r, -1);
      assert.equal(drops[DropReason[c.reason]], 1);
      assert.equal(sumCounters(drops), 1);
      assert.deepEqual(buf, copy);
    });
  }
}

test('flannelUdpDecap with decrementTtl drops TTL 1 as ttlExpired', () => {
  const buf = Buffer.alloc(SLOT);
  const len = writeV4(buf, HEADROOM, { ttl: 1 });
  const drops = newDropCounters();
  assert.equal(flannelUdpDecap(buf, HEADROOM, len, drops, true), -1);
  assert.equal(drops[DropReason.ttlExpired], 1);
});

test('flannelUdpEncap lets an oversize packet without DF through (the kernel fragments it)', () => {
  const buf = Buffer.alloc(SLOT);
  const len = writeV4(buf, HEADROOM, { payload: 1480, df: false });
  const drops = newDropCounters();
  assert.equal(flannelUdpEncap(buf, HEADROOM, len, drops, 1472), HEADROOM);
  assert.equal(sumCounters(drops), 0);
});
