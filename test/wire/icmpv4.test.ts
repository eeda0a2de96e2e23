import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeIcmpv4,
  encodeIcmpv4,
  icmpv4Checksum,
  icmpv4Code,
  icmpv4EchoId,
  icmpv4EchoSeq,
  icmpv4IsError,
  icmpv4NextHopMtu,
  icmpv4Type,
  ICMPV4_CODE_FRAG_NEEDED,
  ICMPV4_CODE_NET_UNREACHABLE,
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  isValidIcmpv4,
  setIcmpv4EchoSeq,
  setIcmpv4NextHopMtu,
  fillIcmpv4Checksum,
} from '../../src/wire/icmpv4';
import { assertRoundTrip, at, hex } from './round-trip';

// An echo request as Linux ping sends it (id 0x1234, seq 1, 8 payload bytes); checksum 0xd9ba was
// computed independently.
const ECHO = hex('0800 0000 1234 0001 0001020304050607');

test('icmpv4 echo request: checksum fill, accessors, validity', () => {
  const b = at(ECHO, 5);
  fillIcmpv4Checksum(b, 5, ECHO.length);
  assert.ok(isValidIcmpv4(b, 5, ECHO.length));
  assert.equal(icmpv4Type(b, 5), ICMPV4_ECHO_REQUEST);
  assert.equal(icmpv4Code(b, 5), 0);
  assert.equal(icmpv4EchoId(b, 5), 0x1234);
  assert.equal(icmpv4EchoSeq(b, 5), 1);
  assert.equal(icmpv4Checksum(b, 5), 0xd9ba);
  setIcmpv4EchoSeq(b, 5, 2);
  assert.ok(!isValidIcmpv4(b, 5, ECHO.length), 'a changed field breaks the checksum');
});

const validity: { name: string; bytes: Buffer; ok: boolean }[] = [
  { name: 'too short', bytes: hex('0800f7ff 0000'), ok: false },
  { name: 'header only, correct checksum', bytes: hex('0800f7ff 00000000'), ok: true },
  { name: 'header only, wrong checksum', bytes: hex('0800f7fe 00000000'), ok: false },
];
for (const c of validity) {
  test(`icmpv4 isValid: ${c.name}`, () => {
    assert.equal(isValidIcmpv4(at(c.bytes, 2), 2, c.bytes.length), c.ok);
  });
}

test('icmpv4 next-hop MTU (RFC 1191 §4)', () => {
  const b = Buffer.alloc(16, 0xee);
  setIcmpv4NextHopMtu(b, 4, 1450);
  assert.equal(icmpv4NextHopMtu(b, 4), 1450);
  assert.equal(b.subarray(8, 12).toString('hex'), '000005aa', 'unused half zeroed, MTU big-endian');
});

test('icmpv4IsError classifies error vs query types', () => {
  assert.ok(icmpv4IsError(ICMPV4_DEST_UNREACHABLE));
  assert.ok(icmpv4IsError(11));
  assert.ok(!icmpv4IsError(ICMPV4_ECHO_REQUEST));
  assert.ok(!icmpv4IsError(ICMPV4_ECHO_REPLY));
});

const rt = [
  { name: 'echo reply', f: { type: ICMPV4_ECHO_REPLY, code: 0, rest: 0x12340001, data: hex('cafebabe') } },
  {
    name: 'net unreachable',
    f: { type: 3, code: ICMPV4_CODE_NET_UNREACHABLE, rest: 0, data: Buffer.alloc(28, 0x45) },
  },
  {
    name: 'frag needed',
    f: { type: 3, code: ICMPV4_CODE_FRAG_NEEDED, rest: 1450, data: Buffer.alloc(28, 1) },
  },
  { name: 'odd data length', f: { type: 8, code: 0, rest: 0xffffffff, data: hex('01') } },
];
for (const c of rt) {
  test(`icmpv4 round trip: ${c.name}`, () => {
    const bytes = assertRoundTrip(8 + c.f.data.length, encodeIcmpv4, decodeIcmpv4, c.f);
    assert.ok(isValidIcmpv4(bytes, 0, bytes.length));
  });
}
