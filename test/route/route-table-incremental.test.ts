import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ipv6ToBuffer, parseCidr, u32ToIpv4 } from '../../src/net/addr';
import { RouteTable, indexPeers, type PeerSpec } from '../../src/route/route-table';
import { diffPeers } from '../../src/route/peer-diff';
import { Router } from '../../src/route/router';
import { ConfigError } from '../../src/errors';
import { spec } from './route-fixtures';

/**
 * Prefixes drawn from a small space (10.0-1.0-3.x, lengths on every level of the trie and across
 * its stride boundaries) so that adds, removals and changes nest inside and around each other.
 */
const V4_LENS = [8, 12, 15, 16, 17, 20, 23, 24, 25, 26, 28, 30, 31, 32];
const arbV4 = fc
  .record({
    b: fc.integer({ min: 0, max: 1 }),
    c: fc.integer({ min: 0, max: 3 }),
    d: fc.integer({ min: 0, max: 255 }),
    len: fc.constantFrom(...V4_LENS),
  })
  .map(({ b, c, d, len }) => parseCidr(`10.${b}.${c}.${d}/${len}`).text);
const arbV6 = fc
  .record({ n: fc.integer({ min: 0, max: 3 }), len: fc.constantFrom(48, 56, 64) })
  .map(({ n, len }) => parseCidr(`fd00:0:${n}::/${len}`).text);
/** A peer set: subnet -> a seed for its public IP and MAC (a different seed is a changed peer). */
const arbSet = fc.dictionary(
  fc.oneof({ weight: 9, arbitrary: arbV4 }, { weight: 1, arbitrary: arbV6 }),
  fc.integer({ min: 0, max: 5 }),
  {
    maxKeys: 40,
  },
);

function specsOf(set: Record<string, number>): PeerSpec[] {
  return Object.entries(set).map(([subnet, seed]) => spec(subnet, seed));
}

/** probes are the first, last and middle address of every prefix of both tables, and just outside. */
function probesV4(tables: RouteTable[]): number[] {
  const out = new Set<number>([0, 0x0a000000, 0x0a01ffff, 0x0b000000]);
  for (const t of tables) {
    for (const p of t.peers) {
      const c = parseCidr(p.subnet);
      if (c.family !== 4) continue;
      const size = 2 ** (32 - c.prefixLen);
      for (const a of [
        c.network,
        c.network + size - 1,
        c.network + size / 2,
        c.network - 1,
        c.network + size,
      ]) {
        out.add(a >>> 0);
      }
    }
  }
  return [...out];
}

function describe(p: PeerSpec | undefined): string {
  return p === undefined ? '-' : `${p.subnet} ${p.publicIp} ${p.vtepMac?.toString('hex') ?? ''}`;
}

/** assertSameAnswers checks `inc` answers every probe exactly as a fresh build of `want` does. */
function assertSameAnswers(inc: RouteTable, want: RouteTable): void {
  assert.equal(inc.size, want.size);
  inc.peers.forEach((p, i) => assert.equal(p.index, i, 'indexes stay dense'));
  for (const a of probesV4([inc, want])) {
    assert.equal(describe(inc.lookupV4(a)), describe(want.lookupV4(a)), `lookupV4 ${u32ToIpv4(a)}`);
    assert.equal(describe(inc.lookupV4(a | 0)), describe(want.lookupV4(a | 0)));
  }
  const b = Buffer.alloc(16);
  for (let n = 0; n < 5; n++) {
    for (const ip of [`fd00:0:${n}::1`, `fd00:0:${n}:0:ffff::1`, `fd00:0:${n}:ff::1`]) {
      ipv6ToBuffer(ip).copy(b, 0);
      assert.equal(describe(inc.lookupV6(b, 0)), describe(want.lookupV6(b, 0)), `lookupV6 ${ip}`);
    }
  }
  for (const p of want.peers) {
    const got = inc.peersBySource(p.publicIpU32).map(describe).sort();
    assert.deepEqual(got, want.peersBySource(p.publicIpU32).map(describe).sort());
    assert.equal(inc.findPeerBySource(p.publicIpU32)?.publicIpU32, p.publicIpU32);
    assert.equal(inc.peers[inc.indexOf(p.subnet)]!.subnet, p.subnet);
  }
}

test('withChanges answers every lookup as a rebuild would, over random change sequences (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(arbSet, { minLength: 1, maxLength: 8 }), (sets) => {
      let inc = RouteTable.empty();
      for (const set of sets) {
        const specs = specsOf(set);
        const before = inc;
        const snapshot = probesV4([before]).map((a) => describe(before.lookupV4(a)));
        const d = diffPeers(inc, specs);
        inc = inc.withChanges(d.remove, d.upsert);
        assertSameAnswers(inc, RouteTable.build(indexPeers(specs)));
        // The old table is untouched: an update copies, never edits in place.
        assert.deepEqual(
          probesV4([before]).map((a) => describe(before.lookupV4(a))),
          snapshot,
        );
      }
    }),
    { numRuns: 300 },
  );
});

test('Router.update keeps every cached answer equal to the new table (fast-check)', () => {
  fc.assert(
    fc.property(fc.array(arbSet, { minLength: 1, maxLength: 6 }), (sets) => {
      const r = new Router(RouteTable.empty(), { cacheSize: 64 });
      for (const set of sets) {
        const specs = specsOf(set);
        // Warm the cache with hits and misses from the current table.
        const probes = probesV4([r.table, RouteTable.build(indexPeers(specs))]);
        for (const a of probes) r.lookupV4(a);
        const d = diffPeers(r.table, specs);
        r.update(r.table.withChanges(d.remove, d.upsert));
        for (const a of probes) assert.equal(describe(r.lookupV4(a)), describe(r.table.lookupV4(a)));
      }
    }),
    { numRuns: 200 },
  );
});

test('Router.update keeps unaffected destinations cached', () => {
  const specs = ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'].map((s, i) => spec(s, i));
  const r = new Router(RouteTable.build(indexPeers(specs)));
  r.lookupV4(0x0af40101);
  r.lookupV4(0x0af40201);
  const d = diffPeers(r.table, [specs[0]!, specs[2]!]);
  r.update(r.table.withChanges(d.remove, d.upsert));
  assert.equal(r.cacheSize, 1, 'only the removed destination was evicted');
  const hits = r.hits;
  assert.equal(r.lookupV4(0x0af40101)?.subnet, '10.244.1.0/24');
  assert.equal(r.hits, hits + 1);
  assert.equal(r.lookupV4(0x0af40201), undefined);
});

test('a 10,000-peer table: one change keeps every untouched peer and answers as a rebuild', () => {
  const specs: PeerSpec[] = [];
  for (let i = 0; i < 10_000; i++) {
    specs.push(spec(`10.${(i >> 6) & 0xff}.${(i >> 14) & 0xff}.${(i & 63) * 4}/30`, i));
  }
  const t = RouteTable.build(indexPeers(specs));
  const next = specs.slice(1);
  next.push(spec('10.250.0.0/24', 7));
  const d = diffPeers(t, next);
  assert.deepEqual(d.remove, [specs[0]!.subnet]);
  assert.equal(d.upsert.length, 1);
  const inc = t.withChanges(d.remove, d.upsert);
  assertSameAnswers(inc, RouteTable.build(indexPeers(next)));
  // Incremental, not a rebuild in disguise: every peer the change did not touch is the same
  // object at the same index (only the last peer may move, into the removed one's slot). Its cost
  // is measured by bench/peer-update.ts, not timed here.
  let kept = 0;
  for (let i = 1; i < specs.length - 1; i++) {
    if (inc.peers[i] === t.peers[i]) kept++;
  }
  assert.equal(kept, specs.length - 2, 'untouched peers keep their object and index');
});

test('withChanges refuses bad input and leaves the table as it was', () => {
  const t = RouteTable.build(indexPeers([spec('10.244.1.0/24', 1)]));
  const bad: [string[], PeerSpec[], string][] = [
    [['10.244.9.0/24'], [], 'remove[0]'],
    [['nonsense'], [], 'remove[0]'],
    [[], [spec('10.244.2.1/24', 2)], 'upsert[0].subnet'],
    [[], [spec('10.244.2.0/24', 2, { publicIpU32: 1 })], 'upsert[0].publicIpU32'],
    [[], [spec('10.244.2.0/24', 2, { vtepMac: null })], 'upsert[0].vtepMac'],
    [[], [spec('10.244.2.0/24', 2), spec('10.244.2.0/24', 3)], 'upsert[1].subnet'],
    [['10.244.1.0/24'], [spec('10.244.1.0/24', 3)], 'remove[0]'],
  ];
  for (const [remove, upsert, field] of bad) {
    assert.throws(
      () => t.withChanges(remove, upsert),
      (e: unknown) => e instanceof ConfigError && e.message.includes(field),
      field,
    );
  }
  assert.equal(t.size, 1);
  assert.equal(t.lookupV4(0x0af40101)?.subnet, '10.244.1.0/24');
  assert.throws(
    () => diffPeers(t, [spec('10.244.1.0/24', 1), spec('10.244.1.0/24', 2)]),
    (e: unknown) => e instanceof ConfigError && e.message.includes('peers[1].subnet'),
  );
});
