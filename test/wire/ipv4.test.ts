import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeIpv4,
  encodeIpv4,
  ipv4ChecksumValid,
  ipv4DecrementTtl,
  ipv4DontFragment,
  ipv4Dst,
  ipv4FragmentOffset,
  ipv4HeaderLength,
  ipv4Id,
  ipv4IsFragment,
  ipv4MoreFragments,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
  ipv4Ttl,
  IPV4_MIN_HEADER_SIZE,
  Ipv4Fields,
  isValidIpv4,
  setIpv4Dst,
  setIpv4Src,
  setIpv4Ttl,
  fillIpv4Checksum,
  ipVersion,
} from '../../src/wire/ipv4';
import { assertRoundTrip, at, hex } from './round-trip';

// 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73, DF, TTL 64.
const REAL = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');

function withTotal(bytes: Buffer, extra: number): Buffer {
  return Buffer.concat([bytes, Buffer.alloc(extra)]);
}

const validity: { name: string; pkt: Buffer; len?: number; ok: boolean }[] = [
  { name: 'real header + full payload', pkt: withTotal(REAL, 0x73 - 20), ok: true },
  { name: 'trailing padding allowed', pkt: withTotal(REAL, 0x73 - 20 + 6), ok: true },
  { name: 'total length beyond buffer', pkt: withTotal(REAL, 10), ok: false },
  { name: 'shorter than 20', pkt: REAL.subarray(0, 19), ok: false },
  { name: 'version 6 nibble', pkt: hex('6500 0014 0000 0000 4011 0000 0a000001 0a000002'), ok: false },
  { name: 'IHL 4', pkt: hex('4400 0014 0000 0000 4011 0000 0a000001 0a000002'), ok: false },
  { name: 'total length < IHL', pkt: hex('4500 0013 0000 0000 4011 0000 0a000001 0a000002 00'), ok: false },
  {
    name: 'IHL 6 beyond total length',
    pkt: hex('4600 0014 0000 0000 4011 0000 0a000001 0a000002 00000000'),
    ok: false,
  },
  { name: 'header only', pkt: hex('4500 0014 0000 0000 4011 0000 0a000001 0a000002'), ok: true },
  { name: 'len argument shorter than packet', pkt: withTotal(REAL, 0x73 - 20), len: 0x72, ok: false },
];
for (const c of validity) {
  test(`ipv4 isValid: ${c.name}`, () => {
    const b = at(c.pkt, 13);
    assert.equal(isValidIpv4(b, 13, c.len ?? c.pkt.length), c.ok);
  });
}

test('ipv4 accessors on a real header', () => {
  const b = at(REAL, 21);
  assert.equal(ipVersion(b, 21), 4);
  assert.equal(ipv4HeaderLength(b, 21), 20);
  assert.equal(ipv4TotalLength(b, 21), 0x73);
  assert.equal(ipv4Id(b, 21), 0);
  assert.equal(ipv4DontFragment(b, 21), true);
  assert.equal(ipv4MoreFragments(b, 21), false);
  assert.equal(ipv4FragmentOffset(b, 21), 0);
  assert.equal(ipv4IsFragment(b, 21), false);
  assert.equal(ipv4Ttl(b, 21), 64);
  assert.equal(ipv4Protocol(b, 21), 17);
  assert.equal(ipv4Src(b, 21), 0xc0a80001);
  assert.equal(ipv4Dst(b, 21), 0xc0a800c7);
  assert.ok(ipv4ChecksumValid(b, 21));
});

test('ipv4 setters write big-endian addresses and fillIpv4Checksum makes it valid again', () => {
  const b = at(REAL, 4);
  setIpv4Src(b, 4, 0xcb007101);
  setIpv4Dst(b, 4, 0xffffffff);
  setIpv4Ttl(b, 4, 1);
  assert.equal(b.subarray(4 + 12, 4 + 20).toString('hex'), 'cb007101ffffffff');
  assert.ok(!ipv4ChecksumValid(b, 4));
  fillIpv4Checksum(b, 4);
  assert.ok(ipv4ChecksumValid(b, 4));
});

test('ipv4DecrementTtl lowers TTL and keeps the checksum valid', () => {
  const b = at(REAL, 8);
  for (let ttl = 64; ttl > 1; ttl--) {
    assert.equal(ipv4DecrementTtl(b, 8), ttl - 1);
    assert.ok(ipv4ChecksumValid(b, 8), `checksum after TTL ${ttl - 1}`);
  }
});

test('ipv4 fragment flags', () => {
  const b = at(hex('4500 0014 0000 2000 4011 0000 0a000001 0a000002'), 0);
  assert.ok(ipv4MoreFragments(b, 0) && ipv4IsFragment(b, 0));
  const c = at(hex('4500 0014 0000 00b9 4011 0000 0a000001 0a000002'), 0);
  assert.equal(ipv4FragmentOffset(c, 0), 0xb9);
  assert.ok(ipv4IsFragment(c, 0) && !ipv4MoreFragments(c, 0));
});

const rt: { name: string; f: Ipv4Fields }[] = [
  {
    name: 'UDP with DF',
    f: {
      tos: 0,
      totalLength: 100,
      id: 7,
      df: true,
      mf: false,
      fragmentOffset: 0,
      ttl: 64,
      protocol: 17,
      src: 0xc0000201,
      dst: 0xc6336401,
    },
  },
  {
    name: 'fragment with ECN',
    f: {
      tos: 0xb9,
      totalLength: 1500,
      id: 0xffff,
      df: false,
      mf: true,
      fragmentOffset: 0x1fff,
      ttl: 1,
      protocol: 6,
      src: 0xffffffff,
      dst: 0,
    },
  },
];
for (const c of rt) {
  test(`ipv4 round trip: ${c.name}`, () => {
    const bytes = assertRoundTrip(IPV4_MIN_HEADER_SIZE, encodeIpv4, decodeIpv4, c.f);
    assert.ok(ipv4ChecksumValid(bytes, 0), 'encodeIpv4 fills a valid checksum');
  });
}
