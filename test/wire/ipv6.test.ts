import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeIpv6,
  encodeIpv6,
  ipv6FlowLabel,
  ipv6HopLimit,
  ipv6NextHeader,
  ipv6PacketLength,
  ipv6PayloadLength,
  ipv6TrafficClass,
  IPV6_HEADER_SIZE,
  isValidIpv6,
  setIpv6HopLimit,
} from '../../src/wire/ipv6';
import { assertRoundTrip, at, hex } from './round-trip';

// fd00::1 -> fd00::2, UDP, payload 8, hop limit 64, traffic class 0xb8, flow label 0x12345.
const HDR = hex('6b81 2345 0008 1140 fd000000000000000000000000000001 fd000000000000000000000000000002');

const validity: { name: string; pkt: Buffer; ok: boolean }[] = [
  { name: 'header + payload', pkt: Buffer.concat([HDR, Buffer.alloc(8)]), ok: true },
  { name: 'padding allowed', pkt: Buffer.concat([HDR, Buffer.alloc(12)]), ok: true },
  { name: 'payload length lies', pkt: Buffer.concat([HDR, Buffer.alloc(7)]), ok: false },
  { name: 'shorter than 40', pkt: HDR.subarray(0, 39), ok: false },
  { name: 'version 4 nibble', pkt: Buffer.concat([hex('4b'), HDR.subarray(1), Buffer.alloc(8)]), ok: false },
];
for (const c of validity) {
  test(`ipv6 isValid: ${c.name}`, () => {
    assert.equal(isValidIpv6(at(c.pkt, 6), 6, c.pkt.length), c.ok);
  });
}

test('ipv6 accessors', () => {
  const b = at(HDR, 3);
  assert.equal(ipv6TrafficClass(b, 3), 0xb8);
  assert.equal(ipv6FlowLabel(b, 3), 0x12345);
  assert.equal(ipv6PayloadLength(b, 3), 8);
  assert.equal(ipv6PacketLength(b, 3), 48);
  assert.equal(ipv6NextHeader(b, 3), 17);
  assert.equal(ipv6HopLimit(b, 3), 64);
  setIpv6HopLimit(b, 3, 63);
  assert.equal(b[3 + 7], 63);
});

test('ipv6 round trip', () => {
  const bytes = assertRoundTrip(IPV6_HEADER_SIZE, encodeIpv6, decodeIpv6, decodeIpv6(HDR, 0));
  assert.deepEqual(bytes, HDR);
});

test('ipv6 round trip: extreme values', () => {
  assertRoundTrip(IPV6_HEADER_SIZE, encodeIpv6, decodeIpv6, {
    trafficClass: 0xff,
    flowLabel: 0xfffff,
    payloadLength: 0xffff,
    nextHeader: 58,
    hopLimit: 255,
    src: Buffer.alloc(16, 0xff),
    dst: Buffer.alloc(16, 0),
  });
});
