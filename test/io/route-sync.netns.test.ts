/**
 * routeGetMany against a real kernel, in a namespace of its own: the rtnetlink lookups (the
 * default) and one batched `ip route get` (`WEFT_ROUTE_IO=ip`, the fallback) give the same answers,
 * in order, for a connected address, one via a gateway, one with no route, one inside a blackhole,
 * one inside an `unreachable` route and the namespace's own address; and over several chunks.
 * Needs root (CI runs as root).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ipRouteGetMany, routeGetMany, type RouteGetAnswer } from '../../src/io/route-sync';
import { NETLINK_CHUNK, nativeTransport, netlinkDeps } from '../../src/io/rtnetlink-deps';
import { Netns, cleanupFor, requireRoot } from '../helpers/netns';

/** essentials keeps what both paths report of a route (ip adds flags, uid and cache). */
function essentials(answers: RouteGetAnswer[]): unknown[] {
  return answers.map((a) =>
    typeof a === 'string'
      ? a
      : a.map((r) => {
          const keys = ['type', 'dst', 'gateway', 'dev', 'prefsrc'] as const;
          return Object.fromEntries(keys.filter((k) => r[k] !== undefined).map((k) => [k, r[k]]));
        }),
  );
}

test('routeGetMany: rtnetlink lookups answer as `ip route get` does, in order, failures named (needs root: a netns)', async (t) => {
  requireRoot();
  const n = Netns.create(cleanupFor(t), 'wrg');
  n.ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  n.ip('addr', 'add', '192.0.2.1/24', 'dev', 'v0');
  n.ip('link', 'set', 'v0', 'up');
  n.ip('link', 'set', 'v1', 'up');
  n.ip('route', 'add', '198.51.100.0/24', 'via', '192.0.2.254');
  n.ip('route', 'add', 'blackhole', '203.0.113.0/25');
  n.ip('route', 'add', 'unreachable', '203.0.113.128/25');
  const dsts = ['192.0.2.7', '198.51.100.3', '10.244.9.9', '203.0.113.1', '203.0.113.130', '192.0.2.1'];

  const viaNetlink = await routeGetMany(dsts, n.name);
  const viaIp = await routeGetMany(dsts, n.name, { env: { WEFT_ROUTE_IO: 'ip' } });
  assert.deepEqual(essentials(viaNetlink), essentials(viaIp));
  assert.deepEqual(essentials(viaNetlink), [
    [{ dst: '192.0.2.7', dev: 'v0', prefsrc: '192.0.2.1' }],
    [{ dst: '198.51.100.3', gateway: '192.0.2.254', dev: 'v0', prefsrc: '192.0.2.1' }],
    'RTNETLINK answers: Network is unreachable',
    'RTNETLINK answers: Invalid argument',
    'RTNETLINK answers: No route to host',
    [{ type: 'local', dst: '192.0.2.1', dev: 'lo', prefsrc: '192.0.2.1' }],
  ]);
  // Which path answered: iproute2's JSON also has `uid`; the default path had no child process.
  const first = (a: RouteGetAnswer[]): object => (a[0] as readonly object[])[0]!;
  assert.equal('uid' in first(viaIp), true);
  assert.equal('uid' in first(viaNetlink), false);

  // Several chunks against the real receive buffer: every answer there, in order.
  const many = Array.from({ length: NETLINK_CHUNK * 3 + 5 }, (_, i) =>
    i % 3 === 0 ? `192.0.2.${2 + (i % 250)}` : i % 3 === 1 ? `198.51.100.${i % 256}` : `10.244.${i % 256}.1`,
  );
  const socket = nativeTransport(n.name);
  t.after(() => socket.close?.());
  const bulk = await netlinkDeps(n.name, socket).routeGetMany(many);
  assert.deepEqual(essentials(bulk), essentials(await ipRouteGetMany(many, n.name)));
  assert.equal(bulk.filter((a) => typeof a === 'string').length, many.filter((_, i) => i % 3 === 2).length);
});
