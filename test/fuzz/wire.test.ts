/**
 * Fuzz every wire-format edge check and decoder with random bytes at random offsets and lengths:
 * no exceptions, and whenever `isValid...` says yes, the accessors' view of the header stays within
 * the given length (so trusting them after validation is safe).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { flowSourcePort } from '../../src/encap/flow-hash';
import { decodeArp, isValidArp } from '../../src/wire/arp';
import { decodeEthernet, isValidEthernet } from '../../src/wire/ethernet';
import { decodeIcmpv4, isValidIcmpv4 } from '../../src/wire/icmpv4';
import { decodeIpv4, ipv4HeaderLength, ipv4TotalLength, isValidIpv4 } from '../../src/wire/ipv4';
import { decodeIpv6, ipv6PacketLength, isValidIpv6 } from '../../src/wire/ipv6';
import { decodeUdp, isValidUdp, udpLength } from '../../src/wire/udp';
import { decodeVxlan, isValidVxlan } from '../../src/wire/vxlan';

let inputs = 0;
let valid = 0;

test('fuzz wire decoders: random bytes at random offsets never throw; valid implies in bounds', () => {
  const buf = Buffer.alloc(512);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 96 }),
      fc.integer({ min: 0, max: 200 }),
      fc.constantFrom(0x45, 0x46, 0x60, -1),
      fc.boolean(),
      (bytes, off, first, fixLengths) => {
        buf.set(bytes, off);
        if (first >= 0 && bytes.length > 0) buf[off] = first;
        const len = bytes.length;
        // Half the inputs get plausible length fields so validators also say yes sometimes:
        // IPv4 Total Length at 2, and IPv6 Payload Length / UDP Length at 4.
        if (fixLengths && len >= 6) {
          buf.writeUInt16BE(len - (bytes[1] & 3), off + 2);
          buf.writeUInt16BE(first === 0x60 ? Math.max(0, len - 40) : len - (bytes[1] & 3), off + 4);
        }
        // Every validator on the same input, then the matching decoder when it says yes.
        for (let rep = 0; rep < 3; rep++) {
          const l = rep === 0 ? len : rep === 1 ? len >> 1 : Math.max(0, len - 1);
          inputs += 8;
          if (isValidIpv4(buf, off, l)) {
            valid++;
            assert.ok(
              ipv4HeaderLength(buf, off) <= ipv4TotalLength(buf, off) && ipv4TotalLength(buf, off) <= l,
            );
            decodeIpv4(buf, off);
          }
          if (isValidIpv6(buf, off, l)) {
            valid++;
            assert.ok(ipv6PacketLength(buf, off) <= l);
            decodeIpv6(buf, off);
          }
          if (isValidUdp(buf, off, l)) {
            valid++;
            assert.ok(udpLength(buf, off) <= l);
            decodeUdp(buf, off);
          }
          if (isValidVxlan(buf, off, l)) decodeVxlan(buf, off);
          if (isValidEthernet(buf, off, l)) decodeEthernet(buf, off);
          if (isValidIcmpv4(buf, off, l)) decodeIcmpv4(buf, off, l);
          if (isValidArp(buf, off, l)) decodeArp(buf, off);
          const p = flowSourcePort(buf, off, l, 49152, 65535);
          assert.ok(p >= 49152 && p <= 65535);
        }
      },
    ),
    { numRuns: 20000 },
  );
});

test('fuzz wire decoders: enough inputs (>= 450,000) and some were valid', () => {
  assert.ok(inputs >= 450_000, `inputs ${inputs}`);
  assert.ok(valid > 100, `valid ${valid}`);
});
