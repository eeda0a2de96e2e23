import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SRC_PORT_MAX, DEFAULT_SRC_PORT_MIN, HEADROOM } from '../../src/encap/constants';
import { flowHash, flowSourcePort } from '../../src/encap/flow-hash';
import { IP_PROTO_ICMP, IP_PROTO_TCP } from '../../src/wire/ipv4';
import { SLOT } from './frames';
import { writeV4, writeV6 } from '../../src/testing/packets';

const MIN = DEFAULT_SRC_PORT_MIN;
const MAX = DEFAULT_SRC_PORT_MAX;

test('flow hash is stable across processes: fixed values for fixed packets', () => {
  // These constants pin the hash function: changing it changes every flow's port on upgrade.
  const b = Buffer.alloc(SLOT);
  const n4 = writeV4(b, HEADROOM, { sport: 40000, dport: 80 });
  assert.equal(flowSourcePort(b, HEADROOM, n4, MIN, MAX), PINNED.v4udp);
  const n6 = writeV6(b, HEADROOM);
  assert.equal(flowSourcePort(b, HEADROOM, n6, MIN, MAX), PINNED.v6udp);
});

const PINNED = { v4udp: 53846, v6udp: 64263 };

test('same 5-tuple -> same port regardless of payload, TTL, ID or length', () => {
  const b = Buffer.alloc(SLOT);
  const n1 = writeV4(b, HEADROOM, { payload: 100, ttl: 64 });
  const p1 = flowSourcePort(b, HEADROOM, n1, MIN, MAX);
  const n2 = writeV4(b, HEADROOM, { payload: 900, ttl: 3 });
  b.writeUInt16BE(0x9999, HEADROOM + 4);
  assert.equal(flowSourcePort(b, HEADROOM, n2, MIN, MAX), p1);
});

test('ports differ per TCP/UDP 5-tuple; ICMP and fragments use the 3-tuple', () => {
  const b = Buffer.alloc(SLOT);
  const a = flowHash(b, HEADROOM, writeV4(b, HEADROOM, { sport: 1000 }));
  const c = flowHash(b, HEADROOM, writeV4(b, HEADROOM, { sport: 1001 }));
  assert.notEqual(a, c);
  const i1 = flowHash(b, HEADROOM, writeV4(b, HEADROOM, { proto: IP_PROTO_ICMP, payload: 16 }));
  b[HEADROOM + 24] ^= 0xff; // ICMP id byte: not part of the key
  assert.equal(flowHash(b, HEADROOM, 36), i1);
  // First fragment (MF) and a later fragment of the same datagram hash alike.
  const f1 = flowHash(
    b,
    HEADROOM,
    writeV4(b, HEADROOM, { mf: true, df: false, proto: IP_PROTO_TCP, sport: 5 }),
  );
  const f2 = flowHash(
    b,
    HEADROOM,
    writeV4(b, HEADROOM, { fragOffset: 100, df: false, proto: IP_PROTO_TCP, sport: 77 }),
  );
  assert.equal(f1, f2);
});

test('IPv6: 5-tuple for UDP', () => {
  const b = Buffer.alloc(SLOT);
  const a = flowHash(b, HEADROOM, writeV6(b, HEADROOM, 1, 2, 1000));
  const c = flowHash(b, HEADROOM, writeV6(b, HEADROOM, 1, 2, 1001));
  const d = flowHash(b, HEADROOM, writeV6(b, HEADROOM, 1, 3, 1000));
  assert.equal(new Set([a, c, d]).size, 3);
});

test('ports stay in [min, max], including degenerate and tiny ranges, for garbage input', () => {
  const b = Buffer.alloc(64);
  for (let i = 0; i < 5000; i++) {
    b.writeUInt32BE((Math.imul(i, 2654435761) >>> 0) % 0xffffffff, 0);
    b[0] = (i & 1 ? 0x45 : 0x60) ^ (i & 0x70);
    const len = i % 64;
    const p = flowSourcePort(b, 0, len, MIN, MAX);
    assert.ok(p >= MIN && p <= MAX, `${p}`);
    assert.equal(flowSourcePort(b, 0, len, 4789, 4789), 4789);
    const q = flowSourcePort(b, 0, len, 10, 11);
    assert.ok(q === 10 || q === 11);
  }
});

test('flows spread: 20,000 flows over 16 buckets stay within 10% of uniform', () => {
  const b = Buffer.alloc(SLOT);
  const buckets = new Array<number>(16).fill(0);
  const seen = new Set<number>();
  for (let i = 0; i < 20000; i++) {
    const n = writeV4(b, HEADROOM, { src: 0x0af40000 + (i % 200), sport: 30000 + Math.floor(i / 200) });
    const p = flowSourcePort(b, HEADROOM, n, MIN, MAX);
    seen.add(p);
    buckets[Math.floor(((p - MIN) * 16) / (MAX - MIN + 1))]++;
  }
  for (const c of buckets) assert.ok(Math.abs(c - 1250) < 125, `bucket count ${c}`);
  // 20,000 balls into 16,384 bins: about 16384 * (1 - e^(-20000/16384)) = 11,550 distinct expected.
  assert.ok(seen.size > 11200, `distinct ports ${seen.size}`);
});
