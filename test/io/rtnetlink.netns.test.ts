/**
 * Route programming over rtnetlink against a real kernel, in namespaces of its own: RouteSync's
 * default deps install, replace and delete routes read back with `ip -j route show`; routes `ip`
 * added are read by the netlink listRoutes; a foreign route is refused and left untouched; one
 * failing operation does not stop the others; and the `ip -batch` path gives the same table and
 * the same messages for the same operations. Needs root (CI runs as root).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { RouteSync, ipDeps, type RouteOp, type RouteSyncDeps } from '../../src/io/route-sync';
import { netlinkDeps } from '../../src/io/rtnetlink-deps';
import { Netns, cleanupFor, requireRoot } from '../helpers/netns';

interface JsonRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  protocol?: string;
  type?: string;
  flags?: string[];
}

/** makeNs is a fresh namespace (removed after the test) with a veth pair up and 192.0.2.1/24. */
function makeNs(
  t: test.TestContext,
  prefix: string,
): { ns: string; ip: (...a: string[]) => string; routes: () => JsonRoute[] } {
  requireRoot();
  const n = Netns.create(cleanupFor(t), prefix);
  const ip = (...a: string[]): string => n.ip(...a);
  ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  ip('addr', 'add', '192.0.2.1/24', 'dev', 'v0');
  ip('link', 'set', 'v0', 'up');
  ip('link', 'set', 'v1', 'up');
  const routes = (): JsonRoute[] => JSON.parse(ip('-j', 'route', 'show', 'table', 'main')) as JsonRoute[];
  return { ns: n.name, ip, routes };
}

function brief(rs: JsonRoute[]): string[] {
  return rs
    .map((r) =>
      [
        r.type,
        r.dst,
        r.gateway && `via ${r.gateway}`,
        r.dev && `dev ${r.dev}`,
        r.protocol && `proto ${r.protocol}`,
        r.flags?.includes('onlink') && 'onlink',
      ]
        .filter(Boolean)
        .join(' '),
    )
    .sort();
}

test('RouteSync over rtnetlink: add, replace, delete, conflicts, per-operation failures (needs root: a netns)', async (t) => {
  const { ns, ip, routes } = makeNs(t, 'wnl');
  const before = readlinkSync('/proc/thread-self/ns/net');
  const rs = new RouteSync({ netns: ns, scope: '10.244.0.0/16' });
  assert.equal(rs.io, 'netlink');
  assert.equal(readlinkSync('/proc/thread-self/ns/net'), before, 'the main thread is back in its namespace');

  // A route weft did not install, inside the Network and on an exact prefix weft will want.
  ip('route', 'add', '10.244.7.0/24', 'via', '192.0.2.7', 'proto', 'static');
  ip('route', 'add', '10.244.8.128/25', 'via', '192.0.2.8');
  const r1 = await rs.sync(
    'tun',
    [
      { dst: '10.244.2.0/24', dev: 'v0' },
      { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'v0', onlink: true },
      { dst: '10.244.7.0/24', dev: 'v0' },
      { dst: '10.244.8.0/24', dev: 'v0' },
      { dst: '10.244.9.0/24', dev: 'nosuch' },
      { dst: '10.244.10.0/24', via: '203.0.113.1' },
      { dst: '10.244.11.0/24', dev: 'v0' },
    ],
    { exclusive: true },
  );
  assert.equal(r1.added, 3);
  assert.deepEqual(r1.conflicts.map((c) => c.route.dst).sort(), ['10.244.7.0/24', '10.244.8.0/24']);
  assert.match(
    r1.conflicts.find((c) => c.route.dst === '10.244.7.0/24')!.holder,
    /^10\.244\.7\.0\/24 via 192\.0\.2\.7 dev v0 proto static$/,
  );
  assert.deepEqual(r1.errors.map((e) => [e.route.dst, e.op, e.error]).sort(), [
    ['10.244.10.0/24', 'add', 'Error: Nexthop has invalid gateway.'],
    ['10.244.9.0/24', 'add', 'Cannot find device "nosuch"'],
  ]);
  assert.deepEqual(brief(routes()), [
    '10.244.11.0/24 dev v0 proto 87',
    '10.244.2.0/24 dev v0 proto 87',
    '10.244.3.0/24 via 10.244.3.0 dev v0 proto 87 onlink',
    '10.244.7.0/24 via 192.0.2.7 dev v0 proto static',
    '10.244.8.128/25 via 192.0.2.8 dev v0',
    '192.0.2.0/24 dev v0 proto kernel',
  ]);

  // Replace (new next hop) and delete; a route somebody put in place of ours is not deleted.
  ip('route', 'replace', '10.244.11.0/24', 'dev', 'v0', 'proto', 'static');
  const r2 = await rs.sync('tun', [{ dst: '10.244.3.0/24', via: '192.0.2.3', dev: 'v0' }], {
    exclusive: true,
  });
  assert.deepEqual([r2.replaced, r2.deleted, r2.errors.length], [1, 1, 0]);
  assert.deepEqual(brief(routes()), [
    '10.244.11.0/24 dev v0 proto static',
    '10.244.3.0/24 via 192.0.2.3 dev v0 proto 87',
    '10.244.7.0/24 via 192.0.2.7 dev v0 proto static',
    '10.244.8.128/25 via 192.0.2.8 dev v0',
    '192.0.2.0/24 dev v0 proto kernel',
  ]);
  await rs.release('tun');
  assert.equal(rs.size, 0);
  assert.deepEqual(brief(routes()), [
    '10.244.11.0/24 dev v0 proto static',
    '10.244.7.0/24 via 192.0.2.7 dev v0 proto static',
    '10.244.8.128/25 via 192.0.2.8 dev v0',
    '192.0.2.0/24 dev v0 proto kernel',
  ]);

  // A route deleted by hand is recovered; one taken by a foreign route is given up.
  await rs.sync('direct', [
    { dst: '10.244.20.0/24', via: '192.0.2.20' },
    { dst: '10.244.21.0/24', via: '192.0.2.21' },
  ]);
  ip('route', 'del', '10.244.20.0/24');
  ip('route', 'replace', '10.244.21.0/24', 'via', '192.0.2.99', 'proto', 'static');
  const rec = await rs.recover('direct');
  assert.deepEqual(
    rec.recovered.map((r) => r.dst),
    ['10.244.20.0/24'],
  );
  assert.deepEqual(
    rec.conflicts.map((c) => c.route.dst),
    ['10.244.21.0/24'],
  );
  assert.ok(brief(routes()).includes('10.244.20.0/24 via 192.0.2.20 dev v0 proto 87'));
});

test('netlink listRoutes reads what ip added, as ip shows it (needs root: a netns)', async (t) => {
  const { ns, ip, routes } = makeNs(t, 'wnr');
  ip('route', 'add', '10.244.2.0/24', 'dev', 'v0', 'proto', '87');
  ip('route', 'add', '10.244.3.0/24', 'via', '10.244.3.0', 'dev', 'v0', 'onlink');
  ip('route', 'add', '10.244.4.0/24', 'via', '192.0.2.9', 'proto', 'static', 'metric', '50');
  ip('route', 'add', 'blackhole', '10.244.1.0/24');
  ip('route', 'add', 'unreachable', '10.244.5.0/24');
  ip('route', 'add', '198.51.100.7', 'via', '192.0.2.254');
  ip('route', 'add', 'default', 'via', '192.0.2.254', 'table', '100');
  const deps = netlinkDeps(ns);
  const got = await deps.listRoutes(null);
  const want = routes().map((r) => ({
    dst: r.dst,
    ...(r.type ? { type: r.type } : {}),
    ...(r.gateway ? { gateway: r.gateway } : {}),
    ...(r.dev ? { dev: r.dev } : {}),
    ...(r.protocol ? { protocol: r.protocol } : {}),
  }));
  const norm = (rs: object[]): string[] => rs.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();
  assert.deepEqual(norm(got), norm(want));
  assert.equal(got.length, 7, 'table 100 is not the main table');
  // `root SCOPE` as ip does it.
  const root = JSON.parse(ip('-j', 'route', 'show', 'table', 'main', 'root', '10.244.2.0/23')) as JsonRoute[];
  assert.deepEqual(
    (await deps.listRoutes('10.244.2.0/23')).map((r) => r.dst).sort(),
    root.map((r) => r.dst).sort(),
  );
  // The ip path's parser reads the same table the same way for every field RouteSync checks.
  const viaIp = await ipDeps(ns).listRoutes('10.244.0.0/16');
  const viaNl = await deps.listRoutes('10.244.0.0/16');
  assert.deepEqual(
    viaNl.filter((r) => r.protocol !== '87').map((r) => [r.dst, r.type, r.gateway, r.dev, r.protocol]),
    viaIp.filter((r) => r.protocol !== '87').map((r) => [r.dst, r.type, r.gateway, r.dev, r.protocol]),
  );
  assert.deepEqual(
    viaNl.filter((r) => r.protocol === '87').map((r) => r.dst),
    viaIp.filter((r) => r.protocol === '87').map((r) => r.dst),
  );
});

test('the same operations through rtnetlink and ip -batch: same table, same messages (needs root: two netns)', async (t) => {
  const a = makeNs(t, 'wpa');
  const b = makeNs(t, 'wpb');
  for (const n of [a, b]) n.ip('route', 'add', '10.244.6.0/24', 'via', '192.0.2.6', 'proto', 'static');
  const ops: RouteOp[] = [
    { kind: 'add', route: { dst: '10.244.2.0/24', dev: 'v0' } },
    { kind: 'add', route: { dst: '10.244.6.0/24', dev: 'v0' } },
    { kind: 'replace', route: { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'v0', onlink: true } },
    { kind: 'add', route: { dst: '10.244.4.0/24', via: '203.0.113.4' } },
    { kind: 'del', route: { dst: '10.244.6.0/24', via: '192.0.2.6' } },
    { kind: 'del', route: { dst: '10.244.5.0/24', dev: 'v0' } },
    { kind: 'add', route: { dst: '10.244.7.0/24', dev: 'nosuch' } },
    { kind: 'add', route: { dst: '10.244.8.0/24', via: '192.0.2.8', dev: 'v1' } },
    // IPv6 (weft link's `--peer fd00:244::/64=...`): added, then refused when added again.
    { kind: 'add', route: { dst: 'fd00:244::/64', dev: 'v0' } },
    { kind: 'add', route: { dst: 'fd00:244::/64', dev: 'v0' } },
    { kind: 'replace', route: { dst: 'fd00:245::/64', via: 'fe80::1', dev: 'v0' } },
    { kind: 'add', route: { dst: 'fd00:246::/64', dev: 'v0' } },
    { kind: 'del', route: { dst: 'fd00:246::/64', dev: 'v0' } },
  ];
  const run = async (deps: RouteSyncDeps): Promise<Array<[number, string]>> =>
    [...(await deps.runBatch(ops)).failed].sort((x, y) => x[0] - y[0]);
  const nl = await run(netlinkDeps(a.ns));
  const viaIp = await run(ipDeps(b.ns));
  assert.deepEqual(nl, viaIp);
  assert.deepEqual(
    nl.map(([i]) => i),
    [1, 3, 4, 5, 6, 7, 9],
  );
  assert.deepEqual(brief(a.routes()), brief(b.routes()));
  const v6 = (n: { ip: (...a: string[]) => string }): string[] =>
    brief(
      (JSON.parse(n.ip('-6', '-j', 'route', 'show', 'proto', '87')) as JsonRoute[]).map((r) => ({
        ...r,
        protocol: '87',
      })),
    );
  assert.deepEqual(v6(a), ['fd00:244::/64 dev v0 proto 87', 'fd00:245::/64 via fe80::1 dev v0 proto 87']);
  assert.deepEqual(v6(a), v6(b));
  assert.ok(
    brief(a.routes()).includes('10.244.6.0/24 via 192.0.2.6 dev v0 proto static'),
    'the foreign route is untouched',
  );
});
