import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeUdp,
  encodeUdp,
  isValidUdp,
  setUdpChecksum,
  udpChecksum,
  udpChecksumIpv4,
  udpChecksumIpv6,
  udpChecksumValidIpv4,
  udpDstPort,
  udpLength,
  udpSrcPort,
  UDP_HEADER_SIZE,
} from '../../src/wire/udp';
import { assertRoundTrip, at, hex } from './round-trip';

// 1234 -> 8472, "hello"; checksums computed independently (Python, RFC 768 / RFC 8200 §8.1).
const DGRAM = hex('04d2 2118 000d 0000 68656c6c6f');
const SRC4 = 0xc0000201; // 192.0.2.1
const DST4 = 0xc6336402; // 198.51.100.2
const V6 = hex('fd000000000000000000000000000001 fd000000000000000000000000000002');

test('udp checksum over the IPv4 pseudo-header matches a known vector', () => {
  const b = at(DGRAM, 9);
  assert.equal(udpChecksumIpv4(b, 9, DGRAM.length, SRC4, DST4), 0xa9e0);
  setUdpChecksum(b, 9, 0xa9e0);
  assert.ok(udpChecksumValidIpv4(b, 9, DGRAM.length, SRC4, DST4));
  b[9 + 8] ^= 1;
  assert.ok(!udpChecksumValidIpv4(b, 9, DGRAM.length, SRC4, DST4), 'a corrupted payload fails');
});

test('udp checksum zero means none over IPv4 and is accepted', () => {
  assert.ok(udpChecksumValidIpv4(at(DGRAM, 0), 0, DGRAM.length, SRC4, DST4 ^ 1));
});

test('udp checksum over the IPv6 pseudo-header matches a known vector', () => {
  const b = at(DGRAM, 2);
  const a = at(V6, 5);
  assert.equal(udpChecksumIpv6(b, 2, DGRAM.length, a, 5, 21), 0x9c13);
});

test('udp checksum: a computed zero is sent as 0xffff', () => {
  // Choose the payload word so the sum is all ones: complement of the checksum of the rest.
  const b = Buffer.from(hex('04d2 2118 000a 0000 0000'));
  const c = udpChecksumIpv4(b, 0, 10, SRC4, DST4);
  b.writeUInt16BE(c === 0xffff ? 0 : c, 8); // the payload word absorbs the checksum
  assert.equal(udpChecksumIpv4(b, 0, 10, SRC4, DST4), 0xffff);
});

const validity: { name: string; bytes: Buffer; len?: number; ok: boolean }[] = [
  { name: 'datagram', bytes: DGRAM, ok: true },
  { name: 'header only (length 8)', bytes: hex('0001 0002 0008 0000'), ok: true },
  { name: 'length 7', bytes: hex('0001 0002 0007 0000'), ok: false },
  { name: 'length beyond buffer', bytes: hex('0001 0002 0010 0000 00'), ok: false },
  { name: 'too short', bytes: hex('0001 0002 0008 00'), ok: false },
  { name: 'IP padding after datagram', bytes: hex('0001 0002 0008 0000 0000'), ok: true },
];
for (const c of validity) {
  test(`udp isValid: ${c.name}`, () => {
    assert.equal(isValidUdp(at(c.bytes, 3), 3, c.len ?? c.bytes.length), c.ok);
  });
}

test('udp accessors', () => {
  const b = at(DGRAM, 1);
  assert.equal(udpSrcPort(b, 1), 1234);
  assert.equal(udpDstPort(b, 1), 8472);
  assert.equal(udpLength(b, 1), 13);
  assert.equal(udpChecksum(b, 1), 0);
});

test('udp round trip', () => {
  assertRoundTrip(UDP_HEADER_SIZE, encodeUdp, decodeUdp, {
    srcPort: 65535,
    dstPort: 4789,
    length: 58,
    checksum: 0xbeef,
  });
});
