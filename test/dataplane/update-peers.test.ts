import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors';
import { ipv4ToU32 } from '../../src/net/addr';
import { buildIcmpEcho } from '../../src/testing';
import { MAC_B, pair, until } from './fake-pair';

/**
 * DataplaneNode.updatePeers on a peer set large enough that a few changes are applied as a
 * difference (RouteTable.withChanges + Router.update), not by a rebuild.
 */
function setup() {
  const p = pair('udp');
  const peers = [p.peer('10.244.1.0/24', '192.0.2.2', MAC_B)];
  for (let i = 10; i < 40; i++) peers.push(p.peer(`10.244.${i}.0/24`, `198.51.100.${i}`, MAC_B));
  return { p, peers };
}

test('updatePeers applies a small change as a difference: same answers, hot destinations stay cached', async (t) => {
  const { p, peers } = setup();
  await p.a.updatePeers(peers);
  await p.a.start();
  t.after(() => p.a.stop());
  const before = p.a.stats().routes;
  assert.equal(before.peers, 31);
  // A hot destination to a peer the change does not touch: cached before the change.
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.244.1.1'));
  await until(() => p.sock.a.sent.length === 1, 'the first packet');
  const table = p.a.router.table;
  const next = peers.filter((x) => x.subnet !== '10.244.10.0/24');
  next.push(p.peer('10.244.99.0/24', '198.51.100.99', MAC_B));
  await p.a.updatePeers(next);
  assert.notEqual(p.a.router.table, table, 'a new table');
  assert.equal(p.a.router.table.size, 31);
  assert.equal(p.a.router.cacheSize, 1, 'the unaffected destination is still cached');
  const hits = p.a.router.hits;
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.244.1.1'));
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.244.99.1'));
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.244.10.1'));
  await until(() => (p.a.stats().egressDrops.no_route ?? 0) === 1, 'the removed subnet to miss');
  await until(() => p.sock.a.sent.length === 3, 'the kept and the new subnet');
  assert.equal(p.a.router.hits, hits + 1, 'the kept destination was a cache hit');
  assert.equal(p.sock.a.sent[2]!.addr, ipv4ToU32('198.51.100.99'));
  // Every subnet answers as a fresh table of the same peers would.
  for (const x of next) {
    const host = ipv4ToU32(x.subnet.slice(0, x.subnet.indexOf('/'))) + 1;
    assert.equal(p.a.router.table.lookupV4(host)?.publicIp, x.publicIp, x.subnet);
  }
});

test('updatePeers refuses a bad peer in a small change by its place in the set, keeping the table', async () => {
  const { p, peers } = setup();
  await p.a.updatePeers(peers);
  const table = p.a.router.table;
  const bad = [...peers, p.peer('10.244.50.7/24', '198.51.100.50', MAC_B)];
  await assert.rejects(
    p.a.updatePeers(bad),
    (e: unknown) => e instanceof ConfigError && e.message.includes(`peers[${peers.length}].subnet`),
  );
  const dup = [...peers, p.peer('10.244.1.0/24', '198.51.100.51', MAC_B)];
  await assert.rejects(
    p.a.updatePeers(dup),
    (e: unknown) => e instanceof ConfigError && e.message.includes(`peers[${peers.length}].subnet`),
  );
  assert.equal(p.a.router.table, table);
});
