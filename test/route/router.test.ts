import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4ToU32, ipv6ToBuffer, macToBuffer } from '../../src/net/addr';
import { RouteTable, indexPeers } from '../../src/route/route-table';
import { DEFAULT_ROUTE_CACHE_SIZE, Router } from '../../src/route/router';
import { Rng, peersFor, randomV4Subnet, spec } from './route-fixtures';

const DST = ipv4ToU32('10.244.1.5');

test('cache hit returns the same peer and counts hits/misses', () => {
  const t = RouteTable.build(peersFor(['10.244.1.0/24']));
  const r = new Router(t);
  assert.equal(r.table, t);
  const p = r.lookupV4(DST);
  assert.equal(p, t.peers[0]);
  assert.equal(r.lookupV4(DST), p);
  assert.equal(r.lookupV4(DST | 0), p);
  assert.equal(r.misses, 1);
  assert.equal(r.hits, 2);
  assert.equal(r.cacheSize, 1);
});

test('misses are cached too, and a cached miss still returns undefined', () => {
  const r = new Router(RouteTable.build(peersFor(['10.244.1.0/24'])));
  const other = ipv4ToU32('10.244.9.9');
  assert.equal(r.lookupV4(other), undefined);
  assert.equal(r.lookupV4(other), undefined);
  assert.equal(r.misses, 1);
  assert.equal(r.hits, 1);
});

test('removed peer is never served from cache after swap', () => {
  const r = new Router(RouteTable.build(peersFor(['10.244.1.0/24', '10.244.2.0/24'])));
  assert.equal(r.lookupV4(DST)?.subnet, '10.244.1.0/24');
  assert.equal(r.lookupV4(DST)?.subnet, '10.244.1.0/24'); // now definitely cached
  const old = r.swap(RouteTable.build(peersFor(['10.244.2.0/24'])));
  assert.equal(old.size, 2);
  assert.equal(r.cacheSize, 0);
  assert.equal(r.lookupV4(DST), undefined);
  assert.equal(r.swaps, 1);
});

test("changed peer's MAC or public IP is never served from cache", () => {
  const before = indexPeers([spec('10.244.1.0/24', 1, { vtepMac: macToBuffer('0a:58:00:00:00:01') })]);
  const r = new Router(RouteTable.build(before));
  assert.equal(r.lookupV4(DST), before[0]);
  assert.equal(r.lookupV4(DST), before[0]);

  const newMac = indexPeers([spec('10.244.1.0/24', 1, { vtepMac: macToBuffer('0a:58:00:00:00:99') })]);
  r.swap(RouteTable.build(newMac));
  const p1 = r.lookupV4(DST);
  assert.equal(p1, newMac[0]);
  assert.deepEqual(p1?.vtepMac, macToBuffer('0a:58:00:00:00:99'));

  const newIp = indexPeers([
    spec('10.244.1.0/24', 1, {
      vtepMac: macToBuffer('0a:58:00:00:00:99'),
      publicIp: '203.0.113.77',
      publicIpU32: ipv4ToU32('203.0.113.77'),
    }),
  ]);
  r.lookupV4(DST);
  r.swap(RouteTable.build(newIp));
  assert.equal(r.lookupV4(DST)?.publicIp, '203.0.113.77');
  assert.equal(r.findPeerBySource(ipv4ToU32('203.0.113.77')), newIp[0]);
  assert.equal(r.findPeerBySource(newMac[0]!.publicIpU32), undefined);
});

test('a more specific route added after a cached hit or a cached miss is seen at once', () => {
  const r = new Router(RouteTable.build(peersFor(['10.244.0.0/16'])));
  const covered = ipv4ToU32('10.244.7.1');
  const uncovered = ipv4ToU32('10.245.0.1');
  assert.equal(r.lookupV4(covered)?.subnet, '10.244.0.0/16');
  assert.equal(r.lookupV4(uncovered), undefined);
  assert.equal(r.lookupV4(covered)?.subnet, '10.244.0.0/16');
  assert.equal(r.lookupV4(uncovered), undefined);
  r.swap(RouteTable.build(peersFor(['10.244.0.0/16', '10.244.7.0/24', '10.245.0.0/16'])));
  assert.equal(r.lookupV4(covered)?.subnet, '10.244.7.0/24');
  assert.equal(r.lookupV4(uncovered)?.subnet, '10.245.0.0/16');
});

test('cache size is bounded and configurable', () => {
  assert.equal(DEFAULT_ROUTE_CACHE_SIZE, 4096);
  const r = new Router(RouteTable.build(peersFor(['10.0.0.0/8'])), { cacheSize: 3 });
  for (let i = 0; i < 10; i++) assert.equal(r.lookupV4(ipv4ToU32('10.0.0.0') + i)?.subnet, '10.0.0.0/8');
  assert.equal(r.cacheSize, 3);
  assert.throws(() => new Router(undefined, { cacheSize: 0 }), RangeError);
  assert.equal(new Router().lookupV4(DST), undefined);
});

test('IPv6 lookups go to the current table', () => {
  const r = new Router(RouteTable.build(peersFor(['fd00:1::/64'])));
  const b = ipv6ToBuffer('fd00:1::5');
  assert.equal(r.lookupV6(b, 0)?.subnet, 'fd00:1::/64');
  r.swap(RouteTable.build(peersFor(['fd00:2::/64'])));
  assert.equal(r.lookupV6(b, 0), undefined);
});

test('randomized swaps: the router always answers exactly what the current table answers', () => {
  const seed = Number(process.env.WEFT_ROUTE_SEED ?? 0xcafe);
  const rng = new Rng(seed);
  const bases = Array.from({ length: 4 }, () => rng.u32());
  // Small cache so evictions happen too; destinations from a small pool so hits happen.
  const r = new Router(RouteTable.empty(), { cacheSize: 64 });
  const pool = Array.from(
    { length: 200 },
    () => (bases[rng.int(4)]! ^ (rng.u32() >>> (8 + rng.int(24)))) >>> 0,
  );
  for (let gen = 0; gen < 40; gen++) {
    const seen = new Set<string>();
    const n = 1 + rng.int(300);
    while (seen.size < n) seen.add(randomV4Subnet(rng, bases));
    // Same subnets keep new Peer objects each generation: identity tells a stale answer apart.
    const t = RouteTable.build(peersFor([...seen]));
    r.swap(t);
    for (let i = 0; i < 2000; i++) {
      const dst = pool[rng.int(pool.length)]!;
      assert.equal(r.lookupV4(dst), t.lookupV4(dst), `seed ${seed} gen ${gen} dst ${dst}`);
    }
  }
  assert.ok(r.hits > 0 && r.misses > 0, `hits ${r.hits} misses ${r.misses}`);
});
