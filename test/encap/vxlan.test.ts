import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADROOM, VXLAN_ENCAP_SIZE } from '../../src/encap/constants';
import {
  Anomaly,
  DropReason,
  newAnomalyCounters,
  newDropCounters,
  sumCounters,
  type DropReasonName,
} from '../../src/encap/drop-reason';
import { ipPacketLength } from '../../src/wire/ip';
import { makeVxlanConfig } from '../../src/encap/vxlan-config';
import { vxlanDecap } from '../../src/encap/vxlan-decap';
import { vxlanEncap } from '../../src/encap/vxlan-encap';
import { ConfigError } from '../../src/errors';
import { CFG_A, CFG_B, MAC_A, MAC_B, SLOT } from './frames';
import { writeV4, writeV6 } from '../../src/testing/packets';

test('vxlanEncap writes RFC 7348 header + inner Ethernet in front, returns off - 22', () => {
  const buf = Buffer.alloc(SLOT, 0xcc);
  const len = writeV4(buf, HEADROOM);
  const before = Buffer.from(buf.subarray(HEADROOM, HEADROOM + len));
  const start = vxlanEncap(buf, HEADROOM, len, MAC_B, CFG_A);
  assert.equal(start, HEADROOM - 22);
  assert.equal(
    buf.subarray(start, HEADROOM).toString('hex'),
    '0800000000000100' + '0a0000000002' + '0a0000000001' + '0800',
  );
  assert.deepEqual(buf.subarray(HEADROOM, HEADROOM + len), before, 'inner packet untouched');
  assert.equal(buf[start - 1], 0xcc, 'nothing written before start');
});

test('vxlanEncap picks EtherType 0x86DD for IPv6 and uses the configured VNI', () => {
  const buf = Buffer.alloc(SLOT);
  const len = writeV6(buf, HEADROOM);
  const cfg = makeVxlanConfig({ localMac: MAC_A, vni: 0xabcdef });
  const start = vxlanEncap(buf, HEADROOM, len, MAC_B, cfg);
  assert.equal(buf.readUInt16BE(start + 20), 0x86dd);
  assert.equal(buf.subarray(start + 4, start + 7).toString('hex'), 'abcdef');
});

const roundTrips = [
  { name: 'IPv4 UDP', write: (b: Buffer) => writeV4(b, HEADROOM) },
  { name: 'IPv4 minimal header-only', write: (b: Buffer) => writeV4(b, HEADROOM, { payload: 0 }) },
  { name: 'IPv4 1450 bytes', write: (b: Buffer) => writeV4(b, HEADROOM, { payload: 1430 }) },
  { name: 'IPv6 UDP', write: (b: Buffer) => writeV6(b, HEADROOM) },
];
for (const c of roundTrips) {
  test(`vxlan encap/decap round trip: ${c.name}`, () => {
    const buf = Buffer.alloc(SLOT);
    const len = c.write(buf);
    const inner = Buffer.from(buf.subarray(HEADROOM, HEADROOM + len));
    const start = vxlanEncap(buf, HEADROOM, len, MAC_B, CFG_A);
    const drops = newDropCounters();
    const anomalies = newAnomalyCounters();
    const payloadLen = HEADROOM + len - start;
    const ret = vxlanDecap(buf, start, payloadLen, CFG_B, drops, anomalies);
    assert.equal(ret, HEADROOM);
    assert.equal(payloadLen - (ret - start), len, 'contract: inner length = len - (ret - off)');
    assert.deepEqual(buf.subarray(ret, ret + len), inner);
    assert.equal(sumCounters(drops), 0);
    assert.equal(sumCounters(anomalies), 0);
  });
}

/** A valid VXLAN payload from A to B (VNI 1) at offset 64, plus a mutation hook. */
function frame(mutate: (b: Buffer, start: number) => number | void): {
  buf: Buffer;
  start: number;
  len: number;
} {
  const buf = Buffer.alloc(SLOT);
  const ipLen = writeV4(buf, HEADROOM);
  const start = vxlanEncap(buf, HEADROOM, ipLen, MAC_B, CFG_A);
  let len = ipLen + VXLAN_ENCAP_SIZE;
  const r = mutate(buf, start);
  if (typeof r === 'number') len = r;
  return { buf, start, len };
}

const dropCases: { name: string; reason: DropReasonName; mutate: (b: Buffer, s: number) => number | void }[] =
  [
    { name: 'empty payload', reason: 'tooShort', mutate: () => 0 },
    { name: '21 bytes (VXLAN + 13)', reason: 'tooShort', mutate: () => 21 },
    { name: 'I flag clear', reason: 'badVxlanFlags', mutate: (b, s) => void (b[s] = 0x00) },
    { name: 'only reserved flags', reason: 'badVxlanFlags', mutate: (b, s) => void (b[s] = 0x80) },
    { name: 'VNI 2', reason: 'badVni', mutate: (b, s) => void (b[s + 6] = 2) },
    { name: 'VNI high byte', reason: 'badVni', mutate: (b, s) => void (b[s + 4] = 1) },
    {
      name: 'inner dst = some other MAC',
      reason: 'badInnerDstMac',
      mutate: (b, s) => void (b[s + 8 + 5] ^= 0x10),
    },
    {
      name: 'inner dst broadcast',
      reason: 'badInnerDstMac',
      mutate: (b, s) => void b.fill(0xff, s + 8, s + 14),
    },
    {
      name: 'inner src = our own MAC (loop)',
      reason: 'ownInnerSrcMac',
      mutate: (b, s) => void MAC_B.copy(b, s + 14),
    },
    { name: 'ARP EtherType', reason: 'badEthertype', mutate: (b, s) => void b.writeUInt16BE(0x0806, s + 20) },
    {
      name: '802.1Q tagged (RFC 7348 §6.1)',
      reason: 'badEthertype',
      mutate: (b, s) => void b.writeUInt16BE(0x8100, s + 20),
    },
    { name: 'IPv4 EtherType, IPv6 packet', reason: 'badInnerIp', mutate: (b, s) => void (b[s + 22] = 0x65) },
    {
      name: 'IPv6 EtherType, IPv4 packet',
      reason: 'badInnerIp',
      mutate: (b, s) => void b.writeUInt16BE(0x86dd, s + 20),
    },
    { name: 'IHL 4', reason: 'badInnerIp', mutate: (b, s) => void (b[s + 22] = 0x44) },
    {
      name: 'total length beyond frame',
      reason: 'badInnerIp',
      mutate: (b, s) => void b.writeUInt16BE(53, s + 22 + 2),
    },
    { name: 'inner truncated to 19 bytes', reason: 'badInnerIp', mutate: () => 22 + 19 },
    {
      name: 'total length < header length',
      reason: 'badInnerIp',
      mutate: (b, s) => void b.writeUInt16BE(19, s + 22 + 2),
    },
  ];
for (const c of dropCases) {
  test(`vxlanDecap drops ${c.name} as ${c.reason}, counted exactly once`, () => {
    const { buf, start, len } = frame(c.mutate);
    const drops = newDropCounters();
    const anomalies = newAnomalyCounters();
    assert.equal(vxlanDecap(buf, start, len, CFG_B, drops, anomalies), -1);
    assert.equal(drops[DropReason[c.reason]], 1);
    assert.equal(sumCounters(drops), 1, 'no other drop counted');
    assert.equal(sumCounters(anomalies), 0, 'dropped frames count no anomaly');
  });
}

test('vxlanDecap: every drop reason a decap can produce has a case above', () => {
  const covered = new Set(dropCases.map((c) => c.reason));
  for (const r of [
    'tooShort',
    'badVxlanFlags',
    'badVni',
    'badInnerDstMac',
    'ownInnerSrcMac',
    'badEthertype',
    'badInnerIp',
  ] as const) {
    assert.ok(covered.has(r), r);
  }
});

test('vxlanDecap accepts reserved bits (RFC 7348 §5) and counts the anomaly once', () => {
  for (const [pos, v] of [
    [0, 0x88],
    [1, 1],
    [3, 0x80],
    [7, 0xff],
  ] as const) {
    const { buf, start, len } = frame((b, s) => void (b[s + pos] = v));
    const drops = newDropCounters();
    const anomalies = newAnomalyCounters();
    assert.equal(vxlanDecap(buf, start, len, CFG_B, drops, anomalies), start + 22, `byte ${pos}`);
    assert.equal(anomalies[Anomaly.vxlanReservedBitsSet], 1);
    assert.equal(sumCounters(drops), 0);
  }
});

test('vxlanDecap tolerates Ethernet padding after the IP packet; ipPacketLength gives the IP length', () => {
  const buf = Buffer.alloc(SLOT);
  const ipLen = writeV4(buf, HEADROOM, { payload: 8 }); // 28 bytes: a 42-byte frame pads to 60
  const start = vxlanEncap(buf, HEADROOM, ipLen, MAC_B, CFG_A);
  const padded = 22 + 46;
  const drops = newDropCounters();
  const anomalies = newAnomalyCounters();
  const ret = vxlanDecap(buf, start, padded, CFG_B, drops, anomalies);
  assert.equal(ret, HEADROOM);
  assert.equal(ipPacketLength(buf, ret), 28);
  assert.equal(anomalies[Anomaly.innerPadding], 1);
  assert.equal(sumCounters(drops), 0);
  // IPv6 padding too.
  const len6 = writeV6(buf, HEADROOM, 1, 2, 1, 2, 0);
  const s6 = vxlanEncap(buf, HEADROOM, len6, MAC_B, CFG_A);
  assert.equal(vxlanDecap(buf, s6, 22 + len6 + 6, CFG_B, drops, anomalies), HEADROOM);
  assert.equal(ipPacketLength(buf, HEADROOM), 40);
});

test('makeVxlanConfig validates VNI, MAC and port range', () => {
  assert.throws(() => makeVxlanConfig({ localMac: MAC_A, vni: 1 << 24 }), ConfigError);
  assert.throws(() => makeVxlanConfig({ localMac: MAC_A, vni: -1 }), ConfigError);
  assert.throws(() => makeVxlanConfig({ localMac: Buffer.alloc(5) }), ConfigError);
  assert.throws(() => makeVxlanConfig({ localMac: Buffer.from('010000000001', 'hex') }), /unicast/);
  assert.throws(
    () => makeVxlanConfig({ localMac: MAC_A, srcPortMin: 60000, srcPortMax: 50000 }),
    ConfigError,
  );
  const c = makeVxlanConfig({ localMac: MAC_A });
  assert.deepEqual([c.vni, c.srcPortMin, c.srcPortMax], [1, 49152, 65535]);
});
