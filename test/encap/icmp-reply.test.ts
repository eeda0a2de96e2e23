import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADROOM, ICMP_REPLY_TTL } from '../../src/encap/constants';
import {
  buildIcmpFragNeeded,
  buildIcmpNetUnreachable,
  ICMP_REPLY_MAX_SIZE,
} from '../../src/encap/icmp-reply';
import {
  icmpv4Code,
  icmpv4NextHopMtu,
  icmpv4Type,
  isValidIcmpv4,
  ICMPV4_CODE_FRAG_NEEDED,
  ICMPV4_CODE_NET_UNREACHABLE,
  ICMPV4_DEST_UNREACHABLE,
} from '../../src/wire/icmpv4';
import {
  ipv4ChecksumValid,
  ipv4Dst,
  ipv4Protocol,
  ipv4Src,
  ipv4TotalLength,
  ipv4Ttl,
  isValidIpv4,
  IP_PROTO_ICMP,
  IP_PROTO_TCP,
} from '../../src/wire/ipv4';
import { SLOT } from './frames';
import { writeV4 } from '../../src/testing/packets';

const TUN_ADDR = 0x0af40000; // 10.244.0.0, flannel0's address

function check(reply: Buffer, off: number, n: number, pkt: Buffer, code: number, quoted: number): void {
  assert.ok(isValidIpv4(reply, off, n));
  assert.ok(ipv4ChecksumValid(reply, off));
  assert.equal(ipv4TotalLength(reply, off), n);
  assert.equal(ipv4Ttl(reply, off), ICMP_REPLY_TTL);
  assert.equal(ipv4Protocol(reply, off), IP_PROTO_ICMP);
  assert.equal(ipv4Src(reply, off), TUN_ADDR, 'from the TUN address');
  assert.equal(ipv4Dst(reply, off), ipv4Src(pkt, HEADROOM), "back to the offender's source");
  const icmp = off + 20;
  assert.ok(isValidIcmpv4(reply, icmp, n - 20), 'ICMP checksum valid');
  assert.equal(icmpv4Type(reply, icmp), ICMPV4_DEST_UNREACHABLE);
  assert.equal(icmpv4Code(reply, icmp), code);
  assert.deepEqual(
    reply.subarray(icmp + 8, off + n),
    pkt.subarray(HEADROOM, HEADROOM + quoted),
    'quotes header + 8',
  );
}

test('net unreachable: addressed back to the sender, quotes IP header + 8 bytes', () => {
  const pkt = Buffer.alloc(SLOT);
  const len = writeV4(pkt, HEADROOM, { proto: IP_PROTO_TCP, payload: 100 });
  const out = Buffer.alloc(ICMP_REPLY_MAX_SIZE + 10, 0xee);
  const n = buildIcmpNetUnreachable(out, 5, pkt, HEADROOM, len, TUN_ADDR);
  assert.equal(n, 20 + 8 + 20 + 8);
  check(out, 5, n, pkt, ICMPV4_CODE_NET_UNREACHABLE, 28);
  assert.equal(icmpv4NextHopMtu(out, 25), 0);
  assert.equal(out[5 + n], 0xee, 'nothing written past the reply');
});

test('fragmentation needed carries the next-hop MTU (RFC 1191 §4)', () => {
  const pkt = Buffer.alloc(SLOT);
  const len = writeV4(pkt, HEADROOM, { payload: 1480 });
  const out = Buffer.alloc(ICMP_REPLY_MAX_SIZE);
  const n = buildIcmpFragNeeded(out, 0, pkt, HEADROOM, len, TUN_ADDR, 1472);
  check(out, 0, n, pkt, ICMPV4_CODE_FRAG_NEEDED, 28);
  assert.equal(icmpv4NextHopMtu(out, 20), 1472);
});

test('a short offender is quoted only as far as it goes; IP options are quoted whole', () => {
  const pkt = Buffer.alloc(SLOT);
  const len = writeV4(pkt, HEADROOM, { payload: 3 });
  const out = Buffer.alloc(ICMP_REPLY_MAX_SIZE);
  const n = buildIcmpNetUnreachable(out, 0, pkt, HEADROOM, len, TUN_ADDR);
  check(out, 0, n, pkt, 0, 23);
});

test('an ICMP echo request gets an answer (ping shows net unreachable)', () => {
  const pkt = Buffer.alloc(SLOT);
  const len = writeV4(pkt, HEADROOM, { proto: IP_PROTO_ICMP, payload: 16 });
  assert.ok(buildIcmpNetUnreachable(Buffer.alloc(ICMP_REPLY_MAX_SIZE), 0, pkt, HEADROOM, len, TUN_ADDR) > 0);
});

const noReply: { name: string; build: (b: Buffer) => number }[] = [
  {
    name: 'offender is an ICMP error',
    build: (b) => {
      const n = writeV4(b, HEADROOM, { proto: IP_PROTO_ICMP, payload: 16 });
      b[HEADROOM + 20] = 3;
      return n;
    },
  },
  { name: 'non-first fragment', build: (b) => writeV4(b, HEADROOM, { fragOffset: 185, df: false }) },
  { name: 'source 0.0.0.0', build: (b) => writeV4(b, HEADROOM, { src: 0 }) },
  { name: 'source multicast', build: (b) => writeV4(b, HEADROOM, { src: 0xe0000001 }) },
  { name: 'destination broadcast', build: (b) => writeV4(b, HEADROOM, { dst: 0xffffffff }) },
  { name: 'IPv6 packet', build: (b) => ((b[HEADROOM] = 0x60), 60) },
  { name: 'shorter than 20', build: (b) => (writeV4(b, HEADROOM), 19) },
  {
    name: 'IHL beyond length',
    build: (b) => (writeV4(b, HEADROOM, { payload: 0 }), (b[HEADROOM] = 0x4f), 20),
  },
];
for (const c of noReply) {
  test(`no ICMP reply: ${c.name}`, () => {
    const pkt = Buffer.alloc(SLOT);
    const len = c.build(pkt);
    const out = Buffer.alloc(ICMP_REPLY_MAX_SIZE, 0xee);
    assert.equal(buildIcmpNetUnreachable(out, 0, pkt, HEADROOM, len, TUN_ADDR), 0);
    assert.ok(
      out.every((x) => x === 0xee),
      'nothing written',
    );
  });
}
