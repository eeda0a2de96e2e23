/**
 * Fuzz flannel-UDP encap/decap and the ICMP reply builders with mutated and random IP packets:
 * no exceptions, every rejection counted exactly once under the reason a reference picks, accepted
 * IPv4 packets keep a valid checksum after the TTL decrement, and ICMP replies are always valid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HEADROOM } from '../../src/encap/constants';
import { DropReason, newDropCounters, sumCounters } from '../../src/encap/drop-reason';
import { flannelUdpDecap, flannelUdpEncap } from '../../src/encap/flannel-udp';
import {
  buildIcmpFragNeeded,
  buildIcmpNetUnreachable,
  ICMP_REPLY_MAX_SIZE,
} from '../../src/encap/icmp-reply';
import { isValidIcmpv4 } from '../../src/wire/icmpv4';
import { ipv4ChecksumValid, ipv4TotalLength, isValidIpv4 } from '../../src/wire/ipv4';
import { isValidIpv6, ipv6PacketLength } from '../../src/wire/ipv6';
import { SLOT } from '../encap/frames';
import { writeV4, writeV6 } from '../../src/testing/packets';
import { mulberry32, mutate } from './mutate';

const MTU = 1472;

/** reference verdict for encap (decrement=true) or plain decap: a DropReason slot or -1. */
function reference(b: Buffer, off: number, len: number, encap: boolean): number {
  if (len < 20) return DropReason.tooShort;
  const v = b[off] >>> 4;
  if (v !== 4 && v !== 6) return DropReason.badIpVersion;
  if (v === 4 ? !isValidIpv4(b, off, len) : !isValidIpv6(b, off, len)) return DropReason.badInnerIp;
  if (!encap) return -1;
  const plen = v === 4 ? ipv4TotalLength(b, off) : ipv6PacketLength(b, off);
  if (plen > MTU && (v === 6 || (b[off + 6] & 0x40) !== 0)) return DropReason.tooBig;
  if (b[off + (v === 4 ? 8 : 7)] <= 1) return DropReason.ttlExpired;
  return -1;
}

const drops = newDropCounters();
let inputs = 0;
let accepted = 0;
let replies = 0;
const reply = Buffer.alloc(ICMP_REPLY_MAX_SIZE + 8);

function feed(b: Buffer, off: number, len: number, encap: boolean): void {
  const want = reference(b, off, len, encap);
  const wasChecksumOk =
    len >= 20 && b[off] >>> 4 === 4 && isValidIpv4(b, off, len) && ipv4ChecksumValid(b, off);
  const before = sumCounters(drops);
  const slot = want >= 0 ? drops[want] : 0;
  const r = encap ? flannelUdpEncap(b, off, len, drops, MTU) : flannelUdpDecap(b, off, len, drops);
  inputs++;
  if (r === -1) {
    assert.notEqual(
      want,
      -1,
      `dropped a packet the reference accepts: ${b.subarray(off, off + len).toString('hex')}`,
    );
    assert.equal(drops[want], slot + 1);
  } else {
    accepted++;
    assert.equal(want, -1, `accepted a packet the reference drops (reason ${want})`);
    assert.equal(r, off);
    if (encap && wasChecksumOk)
      assert.ok(ipv4ChecksumValid(b, off), 'TTL decrement keeps the checksum valid');
  }
  assert.equal(sumCounters(drops), before + (r === -1 ? 1 : 0));
  // Any packet may be answered with an ICMP error; the reply must be well-formed or absent.
  const n =
    (inputs & 1) === 0
      ? buildIcmpNetUnreachable(reply, 4, b, off, len, 0x0af40000)
      : buildIcmpFragNeeded(reply, 4, b, off, len, 0x0af40000, MTU);
  if (n > 0) {
    replies++;
    assert.ok(n <= ICMP_REPLY_MAX_SIZE);
    assert.ok(isValidIpv4(reply, 4, n) && ipv4ChecksumValid(reply, 4));
    assert.ok(isValidIcmpv4(reply, 24, n - 20));
  }
}

test('fuzz flannel-UDP encap/decap + ICMP replies: mutated valid packets', () => {
  const base = Buffer.alloc(SLOT);
  const work = Buffer.alloc(SLOT + 64);
  fc.assert(
    fc.property(
      fc.record({
        v6: fc.boolean(),
        payload: fc.integer({ min: 0, max: 1500 }),
        ttl: fc.integer({ min: 0, max: 255 }),
        df: fc.boolean(),
        seed: fc.integer(),
        off: fc.integer({ min: 0, max: 40 }),
      }),
      ({ v6, payload, ttl, df, seed, off }) => {
        const len = v6
          ? writeV6(base, HEADROOM, 1, 2, 7, 53, payload, ttl)
          : writeV4(base, HEADROOM, { payload, ttl, df });
        const pkt = Buffer.from(base.subarray(HEADROOM, HEADROOM + len));
        const site = { lengthFields: v6 ? [4] : [2], headerBytes: v6 ? 48 : 28 };
        const rnd = mulberry32(seed);
        for (let i = 0; i < 120; i++) {
          const n = mutate(rnd, pkt, pkt.length, work, off, site);
          feed(work, off, n, (i & 1) === 0);
        }
      },
    ),
    { numRuns: 6000 },
  );
});

test('fuzz flannel-UDP encap/decap + ICMP replies: random bytes with a plausible first byte', () => {
  const work = Buffer.alloc(256);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 100 }),
      fc.constantFrom(-1, 0x45, 0x46, 0x4f, 0x60),
      fc.boolean(),
      (bytes, first, encap) => {
        work.set(bytes, 3);
        if (first >= 0 && bytes.length > 0) work[3] = first;
        feed(work, 3, bytes.length, encap);
      },
    ),
    { numRuns: 40000 },
  );
});

test('fuzz flannel-UDP: totals add up (accepted + drops == inputs, >= 750,000 inputs)', () => {
  assert.ok(inputs >= 750_000, `inputs ${inputs}`);
  assert.equal(accepted + sumCounters(drops), inputs);
  assert.ok(accepted > 1000 && replies > 1000, `accepted ${accepted}, replies ${replies}`);
  for (const r of ['tooShort', 'badIpVersion', 'badInnerIp', 'tooBig', 'ttlExpired'] as const) {
    assert.ok(drops[DropReason[r]] > 0, `${r} was exercised`);
  }
});
