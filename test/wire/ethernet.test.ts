import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeEthernet,
  encodeEthernet,
  ethDstEquals,
  ethEtherType,
  ethSrcEquals,
  ETH_HEADER_SIZE,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  isValidEthernet,
  setEthDst,
  setEthEtherType,
  setEthSrc,
} from '../../src/wire/ethernet';
import { assertRoundTrip, at, hex } from './round-trip';

const A = hex('0a0000000001');
const B = hex('0a0000000002');

const valid: { name: string; len: number; ok: boolean }[] = [
  { name: 'empty', len: 0, ok: false },
  { name: 'one short', len: 13, ok: false },
  { name: 'exact header', len: 14, ok: true },
  { name: 'header + payload', len: 60, ok: true },
];
for (const c of valid) {
  test(`ethernet isValid: ${c.name}`, () => {
    const b = Buffer.alloc(100);
    assert.equal(isValidEthernet(b, 3, c.len), c.ok);
  });
}

test('ethernet isValid: a length running past the buffer is invalid', () => {
  assert.equal(isValidEthernet(Buffer.alloc(20), 10, 14), false);
});

const rt: { name: string; f: { dst: Buffer; src: Buffer; etherType: number } }[] = [
  { name: 'IPv4', f: { dst: A, src: B, etherType: ETHERTYPE_IPV4 } },
  { name: 'IPv6', f: { dst: B, src: A, etherType: ETHERTYPE_IPV6 } },
  { name: 'broadcast ARP', f: { dst: hex('ffffffffffff'), src: A, etherType: 0x0806 } },
];
for (const c of rt) {
  test(`ethernet round trip: ${c.name}`, () => {
    assertRoundTrip(ETH_HEADER_SIZE, encodeEthernet, decodeEthernet, c.f);
  });
}

test('ethernet accessors read and write the RFC fields in place', () => {
  const b = at(hex('0a0000000001 0a0000000002 0800 45'), 9);
  assert.equal(ethEtherType(b, 9), 0x0800);
  assert.ok(ethDstEquals(b, 9, A));
  assert.ok(ethSrcEquals(b, 9, B));
  assert.ok(!ethDstEquals(b, 9, B));
  setEthDst(b, 9, B);
  setEthSrc(b, 9, A);
  setEthEtherType(b, 9, 0x86dd);
  assert.equal(b.subarray(9, 23).toString('hex'), '0a00000000020a000000000186dd');
});
