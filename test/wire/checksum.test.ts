import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checksumAdd, checksumFold, checksumUpdate16, internetChecksum } from '../../src/wire/checksum';
import { fillIpv4Checksum, ipv4Checksum, ipv4ComputeChecksum, ipv4UpdateWord } from '../../src/wire/ipv4';
import { at, hex, mulberry32 } from './round-trip';

const cases: { name: string; bytes: string; sum: number; checksum: number }[] = [
  // RFC 1071 §3 worked example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
  { name: 'RFC 1071 example', bytes: '0001 f203 f4f5 f6f7', sum: 0xddf2, checksum: 0x220d },
  { name: 'empty', bytes: '', sum: 0, checksum: 0xffff },
  { name: 'odd length pads on the right', bytes: '01', sum: 0x0100, checksum: 0xfeff },
  { name: 'end-around carry', bytes: 'ffff 0001', sum: 0x0001, checksum: 0xfffe },
  { name: 'all ones stays negative zero', bytes: 'ffff ffff', sum: 0xffff, checksum: 0x0000 },
  // A real IPv4 header (the widely used 192.168.0.1 -> 192.168.0.199 example) verifies to 0.
  {
    name: 'real IPv4 header verifies to zero',
    bytes: '4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7',
    sum: 0xffff,
    checksum: 0,
  },
];

for (const c of cases) {
  test(`checksum: ${c.name}`, () => {
    const b = at(hex(c.bytes), 5);
    const len = hex(c.bytes).length;
    assert.equal(checksumFold(checksumAdd(b, 5, len, 0)), c.sum);
    assert.equal(internetChecksum(b, 5, len), c.checksum);
  });
}

test('checksum: a real IPv4 header gets its known checksum b861', () => {
  const b = at(hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7'), 3);
  assert.equal(ipv4ComputeChecksum(b, 3), 0xb861);
  fillIpv4Checksum(b, 3);
  assert.equal(ipv4Checksum(b, 3), 0xb861);
});

test('checksum: chained ranges equal one range', () => {
  const b = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
  const partial = checksumAdd(b, 10, 10, checksumAdd(b, 0, 10, 0));
  assert.equal(checksumFold(partial), checksumFold(checksumAdd(b, 0, 20, 0)));
});

test('checksum: RFC 1624 incremental update equals full recompute over 20,000 random headers', () => {
  const rnd = mulberry32(1624);
  const buf = Buffer.alloc(80);
  for (let n = 0; n < 20000; n++) {
    const off = (rnd() * 20) | 0;
    const ihl = 5 + ((rnd() * 11) | 0);
    for (let i = 0; i < ihl * 4; i++) buf[off + i] = (rnd() * 256) | 0;
    buf[off] = 0x40 | ihl;
    fillIpv4Checksum(buf, off);
    // Change one random 16-bit word other than the checksum word.
    let w = ((rnd() * ihl * 2) | 0) * 2;
    if (w === 10) w = 8;
    let newWord = (rnd() * 65536) | 0;
    // Word 0 holds IHL; keep it so both computations cover the same header length.
    if (w === 0) newWord = (buf[off] << 8) | (newWord & 0xff);
    ipv4UpdateWord(buf, off, w, newWord);
    assert.equal(ipv4Checksum(buf, off), ipv4ComputeChecksum(buf, off), `header ${n}, word ${w}`);
  }
});

test('checksum: RFC 1624 §4 example (HC 0xdd2f, m 0x5555 -> 0x3285) gives 0x0000', () => {
  // RFC 1624 §4: "a 16-bit field is changed from 0x5555 to 0x3285": eqn. 3 yields 0x0000.
  assert.equal(checksumUpdate16(0xdd2f, 0x5555, 0x3285), 0x0000);
});

test('checksumFold: the same fold as by division, from 0 to 2^53 and at the 2^16 and 2^32 edges', () => {
  // The definition: add the high half to the low 16 bits until it fits, the high half by division.
  const byDivision = (sum: number): number => {
    while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
    return sum;
  };
  const edges = [
    0,
    1,
    0xfffe,
    0xffff,
    0x10000,
    0x1fffe,
    0xfffeffff,
    0xffff0000,
    0xffffffff,
    2 ** 32,
    2 ** 32 + 1,
  ];
  const sums = [...edges, ...edges.map((e) => e + 0xffff), 2 ** 48 - 1, 2 ** 53 - 1];
  const rnd = mulberry32(7);
  for (let i = 0; i < 20000; i++) {
    const bits = 1 + Math.floor(rnd() * 53);
    sums.push(Math.floor(rnd() * 2 ** bits));
  }
  for (const s of sums) assert.equal(checksumFold(s), byDivision(s), `sum ${s}`);
});
