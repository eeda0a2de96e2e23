import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  arpOp,
  arpSpa,
  arpTpa,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ARP_SIZE,
  decodeArp,
  encodeArp,
  isValidArp,
} from '../../src/wire/arp';
import { assertRoundTrip, at, hex } from './round-trip';

// who-has 10.244.1.0 tell 10.244.0.0, from 0a:00:00:00:00:01.
const REQ = hex('0001 0800 06 04 0001 0a0000000001 0af40000 000000000000 0af40100');

const validity: { name: string; bytes: Buffer; ok: boolean }[] = [
  { name: 'request', bytes: REQ, ok: true },
  { name: 'too short', bytes: REQ.subarray(0, 27), ok: false },
  { name: 'hardware type 6', bytes: Buffer.concat([hex('0006'), REQ.subarray(2)]), ok: false },
  { name: 'protocol IPv6', bytes: Buffer.concat([hex('000186dd'), REQ.subarray(4)]), ok: false },
  {
    name: 'operation 3 (RARP)',
    bytes: Buffer.concat([REQ.subarray(0, 6), hex('0003'), REQ.subarray(8)]),
    ok: false,
  },
];
for (const c of validity) {
  test(`arp isValid: ${c.name}`, () => {
    assert.equal(isValidArp(at(c.bytes, 3), 3, c.bytes.length), c.ok);
  });
}

test('arp accessors', () => {
  const b = at(REQ, 3);
  assert.equal(arpOp(b, 3), ARP_OP_REQUEST);
  assert.equal(arpSpa(b, 3), 0x0af40000);
  assert.equal(arpTpa(b, 3), 0x0af40100);
});

test('arp round trip', () => {
  const bytes = assertRoundTrip(ARP_SIZE, encodeArp, decodeArp, decodeArp(REQ, 0));
  assert.deepEqual(bytes, REQ);
  assertRoundTrip(ARP_SIZE, encodeArp, decodeArp, {
    op: ARP_OP_REPLY,
    sha: hex('020000000002'),
    spa: 0xffffffff,
    tha: hex('0a0000000001'),
    tpa: 0,
  });
});
