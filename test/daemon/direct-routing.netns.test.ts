/**
 * vxlan `DirectRouting` through `weft run`, as flannel's vxlan backend does it: node1 and node2 share
 * an L2 (the testbed's bridge, 192.0.2.0/24), node3 sits behind a router on 198.51.100.0/24.
 * node1 <-> node2 get `ip route replace <subnet> via <PublicIP>` (plain routed IP, not in the
 * dataplane: 0 packets through weft, no UDP 8472 on the wire), while node3 is still reached through
 * weft's VXLAN. Leases that come and go add and remove direct routes; a stop removes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Testbed, TestbedNode, DEFAULT_METRICS_PORT } from '../../src/testing/testbed';
import { sh, sleep } from '../../src/testing/shell';
import type { DataplaneStats } from '../../src/dataplane/node';
import type { DebugRoutes } from '../../src/daemon/daemon';
import { randomLocalMac } from '../../src/daemon/vtep-state';
import { leaseJson, needRoot, nodeInfo, ping, waitUntil, type NodeInfo } from './cluster-helpers';

const DR_CONFIG =
  '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1,"DirectRouting":true}}';
const ROUTER_ON_BRIDGE = '192.0.2.253';

function stats(tb: Testbed, n: NodeInfo): DataplaneStats {
  const r = tb.httpGet(n.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/stats`);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as DataplaneStats;
}

function debugRoutes(tb: Testbed, n: NodeInfo): DebugRoutes {
  return JSON.parse(
    tb.httpGet(n.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/routes`).body,
  ) as DebugRoutes;
}

function writeLease(tb: Testbed, key: string, value: string): string {
  const dir = path.join(tb.storeDir, 'coreos.com', 'network', 'subnets');
  const tmp = path.join(tb.storeDir, `.${key}.tmp`);
  fs.writeFileSync(tmp, value);
  const exp = new Date(Date.now() + 3600_000);
  fs.utimesSync(tmp, exp, exp);
  fs.renameSync(tmp, path.join(dir, key));
  return path.join(dir, key);
}

const esc = (s: string): string => s.replace(/\./g, '\\.');

test(
  'weft run DirectRouting: same-L2 peers routed directly, a routed peer over VXLAN',
  { timeout: 150_000 },
  async (t) => {
    needRoot();
    const tb = await Testbed.create({ nodes: 2, store: 'embedded', tag: 'td' });
    const tag = tb.sw.slice(0, -1);
    const rns = `${tag}r`;
    const n3ns = `${tag}n3`;
    const made: string[] = [];
    t.after(async () => {
      await tb.cleanup(); // stops every process by PID first (node3's weft and dumpcap included)
      for (const ns of made.reverse()) {
        try {
          sh('ip', ['netns', 'del', ns]);
        } catch {
          /* already gone */
        }
      }
    });

    // Router: one leg on the testbed's bridge, one on node3's own L2 (198.51.100.0/24).
    for (const ns of [rns, n3ns]) {
      sh('ip', ['netns', 'add', ns]);
      made.push(ns);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', [
      'link',
      'add',
      `${tag}rb`,
      'netns',
      rns,
      'type',
      'veth',
      'peer',
      'name',
      `${tag}rs`,
      'netns',
      tb.sw,
    ]);
    sh('ip', ['-n', tb.sw, 'link', 'set', `${tag}rs`, 'master', 'br0', 'up']);
    sh('ip', ['-n', rns, 'addr', 'add', `${ROUTER_ON_BRIDGE}/24`, 'dev', `${tag}rb`]);
    sh('ip', ['-n', rns, 'link', 'set', `${tag}rb`, 'up']);
    const n3dev = `${tag}u3`;
    sh('ip', ['link', 'add', `${tag}r3`, 'netns', rns, 'type', 'veth', 'peer', 'name', n3dev, 'netns', n3ns]);
    sh('ip', ['-n', rns, 'addr', 'add', '198.51.100.1/24', 'dev', `${tag}r3`]);
    sh('ip', ['-n', rns, 'link', 'set', `${tag}r3`, 'up']);
    sh('ip', ['netns', 'exec', rns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    sh('ip', ['-n', n3ns, 'addr', 'add', '198.51.100.3/24', 'dev', n3dev]);
    sh('ip', ['-n', n3ns, 'link', 'set', n3dev, 'up']);
    sh('ip', ['-n', n3ns, 'route', 'add', '192.0.2.0/24', 'via', '198.51.100.1']);
    for (const nd of tb.nodes)
      sh('ip', ['-n', nd.ns, 'route', 'add', '198.51.100.0/24', 'via', ROUTER_ON_BRIDGE]);
    const dir3 = path.join(tb.dir, 'node3');
    fs.mkdirSync(dir3, { recursive: true });
    const nd3: TestbedNode = {
      index: 3,
      ns: n3ns,
      dev: n3dev,
      ip: '198.51.100.3',
      dir: dir3,
      subnetFile: path.join(dir3, 'subnet.env'),
      weft: null,
    };

    tb.writeConfig(DR_CONFIG);
    const all = [...tb.nodes, nd3];
    for (const nd of all) tb.startWeft(nd);
    const nodes: NodeInfo[] = [];
    for (const nd of all) nodes.push(nodeInfo(tb, nd, await tb.waitReady(nd, 30_000)));
    const [n1, n2, n3] = nodes as [NodeInfo, NodeInfo, NodeInfo];
    const stale = /DirectRouting is not implemented|installs no iptables rules/;
    for (const n of nodes) assert.ok(!n.nd.weft!.events.some((e) => stale.test(e.msg)), n.nd.weft!.log);

    // Routes: same L2 -> `via <PublicIP>` on the underlay; across the router -> the TUN.
    const want = (n: NodeInfo): string[] =>
      nodes
        .filter((o) => o !== n)
        .map((o) =>
          n !== n3 && o !== n3 ? `${o.subnet} via ${o.nd.ip} dev ${n.nd.dev}` : `${o.subnet} dev flannel.1`,
        );
    for (const n of nodes) {
      await waitUntil(
        () => want(n).every((r) => tb.routesOf(n.nd).includes(r)),
        10_000,
        `node${n.nd.index} routes ${want(n).join(', ')}`,
        () => `${tb.routesOf(n.nd)}\n${n.nd.weft!.log.slice(-4000)}`,
      );
    }
    assert.ok(!tb.routesOf(n1.nd).includes(`${n2.subnet} dev flannel.1`), 'no TUN route for the direct peer');
    const dbg = debugRoutes(tb, n1);
    assert.deepEqual(
      dbg.peers.map((p) => p.subnet),
      [n3.subnet],
      'only node3 is in the dataplane',
    );
    assert.deepEqual(dbg.direct, [
      { subnet: n2.subnet, publicIp: n2.nd.ip, leaseKey: n2.subnet.replace('/', '-'), installed: true },
    ]);
    assert.equal(debugRoutes(tb, n3).direct.length, 0);
    await n1.nd.weft!.waitForEvent(
      new RegExp(`^Adding direct route to subnet: ${esc(n2.subnet)} PublicIP: 192\\.0\\.2\\.2$`),
      1000,
    );

    // node1 <-> node2: plain IP. No VXLAN on node2's underlay, nothing through either dataplane.
    const capFile = path.join(tb.dir, 'n2-8472.pcap');
    const cap = tb.spawnIn(n2.nd.ns, 'dumpcap', 'dumpcap', [
      '-q',
      '-i',
      n2.nd.dev,
      '-f',
      'udp port 8472',
      '-w',
      capFile,
    ]);
    await waitUntil(
      () => fs.existsSync(capFile) && fs.statSync(capFile).size > 0,
      10_000,
      'dumpcap started',
      () => cap.log,
    );
    const a = ping(tb, n1.nd.ns, n1.podIp, n2.podIp, 5);
    const b = ping(tb, n2.nd.ns, n2.podIp, n1.podIp, 5);
    assert.equal(a.received, 5, a.out);
    assert.equal(b.received, 5, b.out);
    for (const n of [n1, n2]) {
      const s = stats(tb, n);
      assert.equal(s.egress.packets, 0, `node${n.nd.index} encapsulated nothing`);
      assert.equal(s.ingress.packets, 0, `node${n.nd.index} decapsulated nothing`);
    }

    // node1/node2 <-> node3: through weft's VXLAN (across the router). node3 <-> node2 is also
    // the capture's positive control: its VXLAN frames must show up on node2's underlay.
    for (const [x, y] of [
      [n3, n2],
      [n1, n3],
    ] as const) {
      const r = ping(tb, x.nd.ns, x.podIp, y.podIp, 3);
      assert.equal(r.received, 3, `node${x.nd.index} -> node${y.nd.index}: ${r.out}`);
    }
    await sleep(300);
    await cap.stop();
    const frames = tb
      .execIn(n2.nd.ns, 'tshark', ['-r', capFile, '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst'])
      .trim()
      .split('\n')
      .filter((l) => l !== '');
    assert.ok(frames.length >= 6, `node3 <-> node2 VXLAN frames captured: ${frames.join(' | ')}`);
    assert.deepEqual(
      frames.filter((l) => !l.includes('198.51.100.3')),
      [],
      'no UDP 8472 frame between node1 and node2 on the shared L2',
    );
    const s1 = stats(tb, n1);
    assert.ok(s1.egress.packets >= 3 && s1.ingress.packets >= 3, JSON.stringify(s1.egress));
    assert.ok(stats(tb, n3).egress.packets >= 6);
    const m = tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/metrics`).body;
    assert.match(m, /^weft_direct_routes 1$/m);
    assert.match(m, /^weft_routes 1$/m);
    assert.match(m, /^weft_route_errors_total 0$/m);

    // Leases coming and going: same L2 -> direct route added then removed; routed -> TUN.
    const from = n1.nd.weft!.events.length;
    const onL2 = writeLease(tb, '10.244.250.0-24', leaseJson('192.0.2.9', randomLocalMac()));
    const routed = writeLease(tb, '10.244.251.0-24', leaseJson('198.51.100.9', randomLocalMac()));
    await waitUntil(
      () => {
        const r = tb.routesOf(n1.nd);
        return (
          r.includes(`10.244.250.0/24 via 192.0.2.9 dev ${n1.nd.dev}`) &&
          r.includes('10.244.251.0/24 dev flannel.1')
        );
      },
      10_000,
      'routes for the new leases',
      () => tb.routesOf(n1.nd),
    );
    assert.deepEqual(
      debugRoutes(tb, n1)
        .direct.map((d) => d.subnet)
        .sort(),
      [n2.subnet, '10.244.250.0/24'].sort(),
    );
    fs.rmSync(onL2);
    fs.rmSync(routed);
    await waitUntil(
      () => {
        const r = tb.routesOf(n1.nd);
        return !r.includes('10.244.250.0/24') && !r.includes('10.244.251.0/24');
      },
      10_000,
      'routes of the removed leases gone',
      () => tb.routesOf(n1.nd),
    );
    await n1.nd.weft!.waitForEvent(
      /^Removing direct route to subnet: 10\.244\.250\.0\/24 PublicIP: 192\.0\.2\.9$/,
      2000,
      from,
    );
    assert.equal(ping(tb, n1.nd.ns, n1.podIp, n2.podIp, 2).received, 2, 'node2 still routed directly');

    // Stop: the direct route goes with the device; the peers' routes to node1 stay (its lease stays).
    assert.equal(await n1.nd.weft!.stop(), 0);
    const after = tb.routesOf(n1.nd);
    assert.ok(!after.includes(`${n2.subnet} via ${n2.nd.ip} `), after);
    assert.ok(!after.includes('flannel.1'), after);
    assert.ok(tb.routesOf(n2.nd).includes(`${n1.subnet} via ${n1.nd.ip}`));
  },
);

test(
  'weft run stopped (SIGTERM) while its dataplane starts: no device, no direct route left behind',
  { timeout: 120_000 },
  async (t) => {
    needRoot();
    const tb = await Testbed.create({ nodes: 2, store: 'embedded', tag: 'tq' });
    t.after(() => tb.cleanup());
    tb.writeConfig(DR_CONFIG);
    const [nd1, nd2] = tb.nodes as [TestbedNode, TestbedNode];
    tb.startWeft(nd2);
    const n2 = nodeInfo(tb, nd2, await tb.waitReady(nd2, 30_000));
    // Sixteen workers start one after another, which holds node1 in its dataplane start for a
    // while; the signal goes in as soon as it has picked its interface (before the lease).
    for (let round = 0; round < 3; round++) {
      const p = tb.startWeft(nd1, ['--workers', '16']);
      await p.waitForEvent(/^using interface$/, 30_000);
      if (round > 0) await sleep(150 * round);
      p.signal('SIGTERM');
      assert.equal(await p.exited, 0, p.log);
      const routes = tb.routesOf(nd1);
      assert.ok(
        !routes.includes(`${n2.subnet} via`),
        `round ${round}: direct route left:\n${routes}\n${p.log}`,
      );
      assert.ok(
        !sh('ip', ['-n', nd1.ns, '-o', 'link', 'show']).includes('flannel.1'),
        `round ${round}: device left`,
      );
    }
  },
);
