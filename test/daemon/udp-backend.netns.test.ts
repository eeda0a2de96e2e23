/**
 * The udp backend through `weft run`: three nodes on the embedded store with
 * `"Backend":{"Type":"udp"}` publish flannel's exact udp lease (`{"PublicIP":…,"PublicIPv6":null}`,
 * no BackendType/BackendData: flannel.md §1.3), run on `flannel0` with MTU underlay − 28, write
 * FLANNEL_MTU=1472, route `<Network> dev flannel0` plus each peer, and ping across every pair.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Testbed, DEFAULT_METRICS_PORT } from '../../src/testing/testbed';
import { assertMesh, assertSubnetEnv, needRoot, startAll, waitUntil } from './cluster-helpers';

const UDP_CONFIG = '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"udp"}}';

test('weft run: udp backend, three nodes on the embedded store', { timeout: 60_000 }, async (t) => {
  needRoot();
  const tb = await Testbed.create({ store: 'embedded', tag: 'tu' });
  t.after(() => tb.cleanup());
  tb.writeConfig(UDP_CONFIG);
  const nodes = await startAll(tb, tb.nodes);
  assert.equal(new Set(nodes.map((n) => n.subnet)).size, 3, 'distinct subnets');

  // Leases: exactly flannel's udp value, byte for byte.
  const subnetsDir = path.join(tb.storeDir, 'coreos.com', 'network', 'subnets');
  assert.deepEqual(fs.readdirSync(subnetsDir).sort(), nodes.map((n) => n.subnet.replace('/', '-')).sort());
  for (const n of nodes) {
    const value = fs.readFileSync(path.join(subnetsDir, n.subnet.replace('/', '-')), 'utf8');
    assert.equal(value, `{"PublicIP":"${n.nd.ip}","PublicIPv6":null}`);
    assertSubnetEnv(n, 1472);
  }

  // Device flannel0, MTU 1500 − 28, the lease's network address /32 on it.
  for (const n of nodes) {
    const link = tb.execIn(n.nd.ns, 'ip', ['-o', 'link', 'show', 'dev', 'flannel0']);
    assert.match(link, /\bmtu 1472\b/, `node${n.nd.index}: ${link}`);
    const addr = tb.execIn(n.nd.ns, 'ip', ['-o', '-4', 'addr', 'show', 'dev', 'flannel0']);
    assert.match(addr, new RegExp(`inet ${n.subnet.replace('/24', '')}/32 `), `node${n.nd.index}: ${addr}`);
    assert.equal(tb.execIn(n.nd.ns, 'ip', ['-o', 'link', 'show', 'type', 'vxlan']).trim(), '');
  }

  // Routes: flannel's `<Network> dev flannel0`, plus one per peer subnet.
  for (const n of nodes) {
    const want = ['10.244.0.0/16', ...nodes.filter((o) => o !== n).map((o) => o.subnet)];
    await waitUntil(
      () => {
        const r = tb.routesOf(n.nd);
        return want.every((s) => r.includes(`${s} dev flannel0`));
      },
      10_000,
      `udp routes in node${n.nd.index}`,
      () => `${tb.routesOf(n.nd)}\n${n.nd.weft?.log ?? ''}`,
    );
  }
  assertMesh(tb, nodes);

  // /debug/routes: this node and every peer are udp on flannel's port 8285.
  const dbg = tb.httpGet(nodes[0]!.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/routes`);
  assert.equal(dbg.status, 200);
  const routes = JSON.parse(dbg.body) as {
    node: { backend: string; dev: string; mtu: number; port: number };
    peers: Array<{ subnet: string; backend: string; port: number }>;
  };
  assert.equal(routes.node.backend, 'udp');
  assert.equal(routes.node.dev, 'flannel0');
  assert.equal(routes.node.mtu, 1472);
  assert.equal(routes.node.port, 8285);
  assert.deepEqual(
    routes.peers.map((p) => [p.subnet, p.backend, p.port]).sort(),
    nodes
      .slice(1)
      .map((n) => [n.subnet, 'udp', 8285])
      .sort(),
  );
});
