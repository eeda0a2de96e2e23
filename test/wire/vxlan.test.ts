import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeVxlan,
  encodeVxlan,
  isValidVxlan,
  setVxlanVni,
  vxlanFlags,
  vxlanHasVni,
  vxlanReservedBitsSet,
  vxlanVni,
  VXLAN_HEADER_SIZE,
  writeVxlanHeader,
} from '../../src/wire/vxlan';
import { assertRoundTrip, at, hex } from './round-trip';

const cases: { name: string; bytes: string; valid: boolean; vni: number; reserved: boolean }[] = [
  { name: 'RFC 7348 sender format, VNI 1', bytes: '08000000 00000100', valid: true, vni: 1, reserved: false },
  { name: 'max VNI', bytes: '08000000 ffffff00', valid: true, vni: 0xffffff, reserved: false },
  { name: 'I bit clear', bytes: '00000000 00000100', valid: false, vni: 1, reserved: false },
  { name: 'GBP-style flag bits', bytes: '88000000 00000100', valid: true, vni: 1, reserved: true },
  { name: 'reserved 24 bits set', bytes: '08000100 00000100', valid: true, vni: 1, reserved: true },
  { name: 'trailing reserved byte set', bytes: '08000000 000001ff', valid: true, vni: 1, reserved: true },
  { name: 'only reserved flag bits', bytes: 'f7000000 00000100', valid: false, vni: 1, reserved: true },
];
for (const c of cases) {
  test(`vxlan: ${c.name}`, () => {
    const b = at(hex(c.bytes), 7);
    assert.equal(isValidVxlan(b, 7, 8), c.valid);
    assert.equal(vxlanHasVni(b, 7), c.valid);
    assert.equal(vxlanVni(b, 7), c.vni);
    assert.equal(vxlanReservedBitsSet(b, 7), c.reserved);
  });
}

test('vxlan isValid: 7 bytes is too short', () => {
  assert.equal(isValidVxlan(at(hex('08000000 000001')), 11, 7), false);
});

test('vxlan writeVxlanHeader writes exactly the RFC 7348 sender format', () => {
  const b = Buffer.alloc(20, 0xff);
  writeVxlanHeader(b, 5, 0x123456);
  assert.equal(b.subarray(5, 13).toString('hex'), '0800000012345600');
  assert.equal(vxlanFlags(b, 5), 0x08);
  setVxlanVni(b, 5, 42);
  assert.equal(vxlanVni(b, 5), 42);
  assert.equal(b[4], 0xff);
  assert.equal(b[13], 0xff);
});

test('vxlan round trip', () => {
  const bytes = assertRoundTrip(VXLAN_HEADER_SIZE, encodeVxlan, decodeVxlan, { flags: 0x08, vni: 0xabcdef });
  assert.equal(bytes.toString('hex'), '08000000abcdef00');
});
