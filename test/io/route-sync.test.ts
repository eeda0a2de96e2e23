import test from 'node:test';
import assert from 'node:assert/strict';
import {
  RouteSync,
  RouteSyncDeps,
  TableRoute,
  WEFT_ROUTE_PROTO,
  ipLine,
  parseBatchErrors,
  parseRouteIo,
  parseRouteList,
  routeDeps,
} from '../../src/io/route-sync';

/** fakeKernel is a main table that applies operations (as `ip -batch` lines) the way the kernel would. */
function fakeKernel(initial: TableRoute[]): {
  deps: RouteSyncDeps;
  table: TableRoute[];
  batches: string[][];
} {
  const table = [...initial];
  const batches: string[][] = [];
  const deps: RouteSyncDeps = {
    async listRoutes() {
      return table.map((r) => ({ ...r }));
    },
    async runBatch(ops) {
      const lines = ops.map((o) => ipLine(o.kind, o.route));
      batches.push(lines);
      const failed = new Map<number, string>();
      lines.forEach((line, i) => {
        const w = line.split(' ');
        const verb = w[1];
        const dst = w[2]!;
        const via = w.includes('via') ? w[w.indexOf('via') + 1] : undefined;
        const dev = w.includes('dev') ? w[w.indexOf('dev') + 1] : undefined;
        const proto = w[w.indexOf('proto') + 1]!;
        const at = table.findIndex((r) => r.dst === dst);
        const route: TableRoute = {
          dst,
          protocol: proto,
          ...(via ? { gateway: via } : {}),
          ...(dev ? { dev } : {}),
        };
        if (verb === 'add') {
          if (at >= 0) failed.set(i, 'RTNETLINK answers: File exists');
          else table.push(route);
        } else if (verb === 'replace') {
          if (at >= 0) table[at] = route;
          else table.push(route);
        } else {
          // del matches the protocol, as the kernel does when it is given.
          if (at < 0 || table[at]!.protocol !== proto) failed.set(i, 'RTNETLINK answers: No such process');
          else table.splice(at, 1);
        }
      });
      return { failed };
    },
  };
  return { deps, table, batches };
}

test('sync adds in one batch, never over a foreign route, and removal restores the table', async () => {
  const foreign: TableRoute[] = [
    { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' },
    { dst: '10.244.7.0/24', gateway: '192.0.2.9', dev: 'eth0', protocol: 'boot' },
    { dst: '10.244.8.128/25', gateway: '192.0.2.9', dev: 'eth0', protocol: 'static' },
  ];
  const k = fakeKernel(foreign);
  const rs = new RouteSync({ deps: k.deps });
  const want = ['10.244.2.0/24', '10.244.7.0/24', '10.244.8.0/24', '192.0.2.0/24'].map((dst) => ({
    dst,
    dev: 'flannel.1',
  }));
  const r = await rs.sync('tun', want, { exclusive: true });
  assert.equal(r.added, 1);
  assert.deepEqual(r.conflicts.map((c) => c.route.dst).sort(), [
    '10.244.7.0/24',
    '10.244.8.0/24',
    '192.0.2.0/24',
  ]);
  assert.match(r.conflicts.find((c) => c.route.dst === '10.244.8.0/24')!.holder, /10\.244\.8\.128\/25 via/);
  assert.equal(k.batches.length, 1);
  assert.deepEqual(k.batches[0], [`route add 10.244.2.0/24 dev flannel.1 proto ${WEFT_ROUTE_PROTO}`]);
  assert.equal(rs.ownerOf('10.244.2.0/24'), 'tun');

  // Somebody replaces our route by hand: our delete (which names proto 87) leaves theirs alone.
  const at = k.table.findIndex((t) => t.dst === '10.244.2.0/24');
  k.table[at] = { ...k.table[at]!, protocol: 'static' };
  const r2 = await rs.release('tun');
  assert.equal(r2.errors.length, 0);
  assert.equal(rs.size, 0);
  assert.deepEqual(k.table.map((t) => t.dst).sort(), [
    '10.244.2.0/24',
    '10.244.7.0/24',
    '10.244.8.128/25',
    '192.0.2.0/24',
  ]);
});

test('groups: a prefix held by one is a conflict for another; changed next hops are replaced', async () => {
  const k = fakeKernel([]);
  const rs = new RouteSync({ deps: k.deps });
  await rs.sync('tun', [{ dst: '10.244.3.0/24', dev: 'flannel.1' }]);
  const r = await rs.sync('direct', [{ dst: '10.244.3.0/24', via: '192.0.2.3' }]);
  assert.equal(r.conflicts.length, 1);
  await rs.sync('tun', []);
  const r2 = await rs.sync('direct', [{ dst: '10.244.3.0/24', via: '192.0.2.3' }]);
  assert.equal(r2.added, 1);
  const r3 = await rs.sync('direct', [{ dst: '10.244.3.0/24', via: '192.0.2.4' }]);
  assert.equal(r3.replaced, 1);
  assert.equal(k.table[0]!.gateway, '192.0.2.4');
});

test('a weft route left by a killed weft is taken over, not refused', async () => {
  const k = fakeKernel([{ dst: '10.244.4.0/24', gateway: '192.0.2.4', protocol: String(WEFT_ROUTE_PROTO) }]);
  const rs = new RouteSync({ deps: k.deps });
  const r = await rs.sync('direct', [{ dst: '10.244.4.0/24', via: '192.0.2.5' }], { exclusive: true });
  assert.deepEqual([r.added, r.replaced, r.conflicts.length], [0, 1, 0]);
  assert.equal(k.table[0]!.gateway, '192.0.2.5');
});

test('parseBatchErrors and parseRouteList read iproute2 text', () => {
  const errs = parseBatchErrors(
    'RTNETLINK answers: File exists\nCommand failed -:2\nRTNETLINK answers: No such process\nCommand failed -:3\n',
  );
  assert.deepEqual(
    [...errs],
    [
      [2, 'RTNETLINK answers: File exists'],
      [3, 'RTNETLINK answers: No such process'],
    ],
  );
  const routes = parseRouteList(
    [
      'default via 192.0.2.254 dev eth0 proto dhcp metric 100',
      '10.244.2.0/24 dev flannel.1 proto 87 scope link',
      'blackhole 10.244.1.0/24 proto static',
      '192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.1',
      '',
    ].join('\n'),
  );
  assert.deepEqual(routes, [
    { dst: 'default', gateway: '192.0.2.254', dev: 'eth0', protocol: 'dhcp' },
    { dst: '10.244.2.0/24', protocol: '87' },
    { dst: '10.244.1.0/24', type: 'blackhole', protocol: 'static' },
    { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' },
  ]);
});

test('WEFT_ROUTE_IO picks the kernel calls; a socket that cannot be opened falls back to ip, said once', () => {
  assert.equal(parseRouteIo(undefined), 'netlink');
  assert.equal(parseRouteIo('ip'), 'ip');
  assert.throws(() => parseRouteIo('iproute2'), { code: 'WEFT_ERR_CONFIG', message: /WEFT_ROUTE_IO/ });
  const warned: Array<[string, unknown]> = [];
  const log = { warn: (msg: string, fields?: Record<string, unknown>) => warned.push([msg, fields?.reason]) };
  assert.equal(routeDeps(undefined, log, { WEFT_ROUTE_IO: 'ip' }).io, 'ip');
  assert.equal(warned.length, 0);
  // No such namespace: the socket cannot be opened there (as under a seccomp profile), so ip.
  const a = routeDeps('weft-no-such-netns', log, {});
  const b = routeDeps('weft-no-such-netns', log, {});
  assert.deepEqual([a.io, b.io], ['ip', 'ip']);
  assert.equal(warned.length, 1, 'the reason is logged once per process');
  assert.match(warned[0]![0], /rtnetlink/);
  assert.match(String(warned[0]![1]), /ENOENT|native addon/);
});
