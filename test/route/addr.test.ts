import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bufferToMac,
  ipv4ToU32,
  ipv6ToBuffer,
  ipv6ToString,
  macToBuffer,
  parseCidr,
  ipv4Mask,
  tryIpv4ToU32,
  tryParseIpv6,
  u32ToIpv4,
} from '../../src/net/addr';
import { ConfigError } from '../../src/errors';

test('ipv4ToU32 / u32ToIpv4 round trip, host order', () => {
  const cases: [string, number][] = [
    ['0.0.0.0', 0],
    ['192.0.2.1', 0xc0000201],
    ['10.244.1.0', 0x0af40100],
    ['255.255.255.255', 0xffffffff],
  ];
  for (const [s, v] of cases) {
    assert.equal(ipv4ToU32(s), v, s);
    assert.equal(u32ToIpv4(v), s, s);
    assert.equal(u32ToIpv4(v | 0), s, `${s} as int32`);
  }
});

test('ipv4ToU32 rejects bad input with a ConfigError naming the input', () => {
  for (const s of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', 'a.b.c.d']) {
    assert.throws(
      () => ipv4ToU32(s, 'Network'),
      (e: unknown) =>
        e instanceof ConfigError && e.field === 'Network' && e.message.includes(JSON.stringify(s)),
      s,
    );
  }
});

test('ipv4Mask covers /0 and /32', () => {
  assert.equal(ipv4Mask(0), 0);
  assert.equal(ipv4Mask(1), 0x80000000);
  assert.equal(ipv4Mask(24), 0xffffff00);
  assert.equal(ipv4Mask(32), 0xffffffff);
});

test('parseCidr: table of valid prefixes', () => {
  const cases: { in: string; family: 4 | 6; text: string; len: number; hostBits: boolean }[] = [
    { in: '10.244.1.0/24', family: 4, text: '10.244.1.0/24', len: 24, hostBits: false },
    { in: '10.244.1.7/24', family: 4, text: '10.244.1.0/24', len: 24, hostBits: true },
    { in: '0.0.0.0/0', family: 4, text: '0.0.0.0/0', len: 0, hostBits: false },
    { in: '1.2.3.4/0', family: 4, text: '0.0.0.0/0', len: 0, hostBits: true },
    { in: '203.0.113.9/32', family: 4, text: '203.0.113.9/32', len: 32, hostBits: false },
    { in: 'fd00:1::/64', family: 6, text: 'fd00:1::/64', len: 64, hostBits: false },
    { in: 'FD00:0001:0:0:0:0:0:0/64', family: 6, text: 'fd00:1::/64', len: 64, hostBits: false },
    { in: 'fd00:1::1/64', family: 6, text: 'fd00:1::/64', len: 64, hostBits: true },
    { in: '::/0', family: 6, text: '::/0', len: 0, hostBits: false },
    { in: '2001:db8::1/128', family: 6, text: '2001:db8::1/128', len: 128, hostBits: false },
    { in: '::ffff:192.0.2.1/128', family: 6, text: '::ffff:c000:201/128', len: 128, hostBits: false },
    { in: '2001:db8:0:0:1:0:0:1/127', family: 6, text: '2001:db8:0:0:1::/127', len: 127, hostBits: true },
  ];
  for (const c of cases) {
    const r = parseCidr(c.in);
    assert.equal(r.family, c.family, c.in);
    assert.equal(r.text, c.text, c.in);
    assert.equal(r.prefixLen, c.len, c.in);
    assert.equal(r.hostBitsSet, c.hostBits, c.in);
    if (r.family === 4) {
      assert.equal(r.network, ipv4ToU32(c.text.split('/')[0]!), c.in);
      assert.equal(r.bytes.readUInt32BE(0), r.network, c.in);
    } else {
      assert.equal(r.bytes.length, 16);
      assert.equal(r.words[0], r.bytes.readUInt32BE(0), c.in);
      assert.equal(r.words[3], r.bytes.readUInt32BE(12), c.in);
    }
  }
});

test('parseCidr: bad input throws ConfigError naming field and input', () => {
  const bad = [
    '',
    '10.244.1.0',
    '10.244.1.0/',
    '10.244.1.0/33',
    '10.244.1.0/-1',
    '10.244.1.0/024',
    '10.244.1/24',
    '10.244.1.0/24/1',
    'fd00::/129',
    'fd00:::1/64',
    '1:2:3:4:5:6:7:8:9/64',
    'fd00::1::2/64',
    'fd00::g/64',
    'fe80::1%eth0/64',
    '/24',
  ];
  for (const s of bad) {
    assert.throws(
      () => parseCidr(s, 'Network'),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.code === 'WEFT_ERR_CONFIG' &&
        e.field === 'Network' &&
        e.message.includes(JSON.stringify(s)),
      s,
    );
  }
});

test('IPv6 text <-> bytes follows RFC 5952', () => {
  const cases: [string, string][] = [
    ['2001:db8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
  ];
  for (const [input, want] of cases) {
    assert.equal(ipv6ToString(ipv6ToBuffer(input)), want, input);
  }
  const at = Buffer.alloc(20);
  ipv6ToBuffer('fd00::5').copy(at, 3);
  assert.equal(ipv6ToString(at, 3), 'fd00::5');
});

test('tryParseIpv6: RFC 4291 text forms, an embedded dotted quad, and what is not an address', () => {
  const hex = (t: string): string | null => {
    const b = new Uint8Array(16);
    return tryParseIpv6(t, b) ? Buffer.from(b).toString('hex') : null;
  };
  assert.equal(hex('fd00:244::'), 'fd000244' + '0'.repeat(24));
  assert.equal(hex('::1'), '0'.repeat(30) + '01');
  assert.equal(hex('::'), '0'.repeat(32));
  assert.equal(hex('1:2:3:4:5:6:7:8'), '00010002000300040005000600070008');
  assert.equal(hex('::ffff:192.0.2.1'), '00000000000000000000ffffc0000201');
  for (const bad of [
    '1:2:3:4:5:6:7',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    'fd00:244::/64',
    '1:2:3:4:5:6:7::8',
    'g::',
  ])
    assert.equal(hex(bad), null, bad);
});

test('tryIpv4ToU32 refuses what is not a dotted quad', () => {
  assert.equal(tryIpv4ToU32('255.255.255.255'), 0xffffffff);
  for (const bad of ['10.244.7', '10.244.7.256', '1.2.3.x', '1..2.3', '1.2.3.-1'])
    assert.equal(tryIpv4ToU32(bad), -1, bad);
});

test('macToBuffer / bufferToMac', () => {
  const b = macToBuffer('0A:1b:2c:3d:4e:5F');
  assert.deepEqual([...b], [0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f]);
  assert.equal(bufferToMac(b), '0a:1b:2c:3d:4e:5f');
  assert.deepEqual([...macToBuffer('aa-bb-cc-dd-ee-ff')], [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
  const big = Buffer.alloc(10);
  b.copy(big, 2);
  assert.equal(bufferToMac(big, 2), '0a:1b:2c:3d:4e:5f');
  for (const s of ['', '0a:1b:2c:3d:4e', '0a:1b:2c:3d:4e:5f:00', 'zz:1b:2c:3d:4e:5f', '0a1b2c3d4e5f']) {
    assert.throws(
      () => macToBuffer(s, 'VtepMAC'),
      (e: unknown) => e instanceof ConfigError && e.field === 'VtepMAC',
      s,
    );
  }
});
