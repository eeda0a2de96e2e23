/**
 * Three `weft run` nodes in network namespaces sharing the embedded store: leases (flannel's exact
 * JSON), subnet.env, full mesh of pings, health/metrics/debug endpoints, `weft trace`, lease
 * add/remove while traffic flows, a restart (same subnet, same VTEP MAC), a revoked lease.
 * node1 runs `--workers 2` and is ready before the others start, so every peer it has reaches its
 * worker thread through the lease watch (the mesh and the lease-under-traffic checks cover that).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Testbed, TestbedNode, DEFAULT_HEALTHZ_PORT, DEFAULT_METRICS_PORT } from '../../src/testing/testbed';
import { randomLocalMac } from '../../src/daemon/vtep-state';
import {
  CONFIG,
  WEFT,
  assertMesh,
  assertSubnetEnv,
  leaseJson,
  needRoot,
  nodeInfo,
  startAll,
  waitRoutes,
  waitUntil,
  ping,
} from './cluster-helpers';

/** writeLease puts a lease file into the embedded store as another node would (expiry = mtime). */
function writeLease(tb: Testbed, key: string, value: string): string {
  const dir = path.join(tb.storeDir, 'coreos.com', 'network', 'subnets');
  const tmp = path.join(tb.storeDir, `.${key}.tmp`);
  fs.writeFileSync(tmp, value);
  const exp = new Date(Date.now() + 3600_000);
  fs.utimesSync(tmp, exp, exp);
  fs.renameSync(tmp, path.join(dir, key));
  return path.join(dir, key);
}

test('weft run: three nodes through the embedded store', { timeout: 180_000 }, async (t) => {
  needRoot();
  const tb = await Testbed.create({ store: 'embedded', tag: 'te' });
  t.after(() => tb.cleanup());
  tb.writeConfig(CONFIG);
  const [nd1, ...others] = tb.nodes as [TestbedNode, ...TestbedNode[]];
  tb.startWeft(nd1, ['--workers', '2']);
  const first = nodeInfo(tb, nd1, await tb.waitReady(nd1, 30_000));
  const nodes = [first, ...(await startAll(tb, others))];
  const [n1, n2, n3] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
  assert.equal((await n1.nd.weft!.waitForEvent(/^dataplane started$/, 1000)).fields?.peers, 0);

  // Leases: one per node, byte-for-byte flannel's value; distinct subnets.
  const subnetsDir = path.join(tb.storeDir, 'coreos.com', 'network', 'subnets');
  const keys = fs.readdirSync(subnetsDir).sort();
  assert.deepEqual(keys, nodes.map((n) => n.subnet.replace('/', '-')).sort());
  for (const n of nodes) {
    const value = fs.readFileSync(path.join(subnetsDir, n.subnet.replace('/', '-')), 'utf8');
    assert.equal(value, leaseJson(n.nd.ip, n.vtepMac));
    assertSubnetEnv(n);
  }
  assert.equal(new Set(nodes.map((n) => n.subnet)).size, 3);

  for (const n of nodes)
    await waitRoutes(
      tb,
      n.nd,
      nodes.filter((o) => o !== n).map((o) => o.subnet),
    );
  assertMesh(tb, nodes);
  const workerStats = (): { count: number; alive: number; queues: number } => {
    const st = tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/stats`);
    assert.equal(st.status, 200, st.body);
    const s = JSON.parse(st.body) as { workers?: { count: number; alive: number }; queues?: unknown[] };
    return { count: s.workers?.count ?? 1, alive: s.workers?.alive ?? 0, queues: s.queues?.length ?? 0 };
  };
  assert.deepEqual(workerStats(), { count: 2, alive: 2, queues: 2 }, 'node1 forwards on 2 queues');

  // Health, readiness, metrics, debug.
  assert.deepEqual(tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_HEALTHZ_PORT}/healthz`), {
    status: 200,
    body: 'weft is running\n',
  });
  assert.deepEqual(tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_HEALTHZ_PORT}/readyz`), {
    status: 200,
    body: 'weft is ready\n',
  });
  const m = tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/metrics`);
  assert.equal(m.status, 200);
  const egress = /^weft_packets_total\{direction="egress"\} (\d+)/m.exec(m.body);
  assert.ok(egress && Number(egress[1]) >= 6, `egress packets in:\n${m.body.slice(0, 2000)}`);
  assert.match(m.body, /^weft_routes 2$/m);
  assert.match(m.body, /^weft_drops_total\{direction="egress",reason="no_route"\} \d+/m);
  assert.match(m.body, /^weft_lease_events_total\{event="added"\} 2$/m);
  assert.match(m.body, /^weft_io_syscalls_total\{device="udp",direction="tx"\} [1-9]\d*/m);
  assert.match(m.body, /^weft_ready 1$/m);
  // node1 runs two workers: both queues are reported, and the per-queue counts add up.
  assert.match(m.body, /^weft_workers\{state="alive"\} 2$/m);
  assert.match(m.body, /^weft_worker_exits_total 0$/m);
  const perQueue = [
    ...m.body.matchAll(/^weft_queue_packets_total\{queue="(\d)",direction="egress"\} (\d+)$/gm),
  ];
  assert.deepEqual(
    perQueue.map((x) => x[1]),
    ['0', '1'],
  );
  assert.equal(
    perQueue.reduce((a, x) => a + Number(x[2]), 0),
    Number(egress[1]),
    'queues add up to the total',
  );
  assert.match(
    m.body,
    new RegExp(
      `^weft_lease_info\\{subnet="${n1.subnet}",public_ip="192.0.2.1",backend="vxlan",vtep_mac="${n1.vtepMac}"\\} 1$`,
      'm',
    ),
  );

  // weft trace against node1: route, peer, outer headers, the explained frame.
  const trace = tb.execIn(n1.nd.ns, process.execPath, [
    WEFT,
    'trace',
    n2.podIp,
    '--node',
    `http://127.0.0.1:${DEFAULT_METRICS_PORT}`,
  ]);
  assert.match(trace, new RegExp(`route: +${n2.subnet.replace(/\./g, '\\.')} \\(longest prefix match\\)`));
  assert.match(
    trace,
    new RegExp(`peer: +public IP 192\\.0\\.2\\.2, vxlan, VTEP MAC ${n2.vtepMac}, port 8472`),
  );
  const outer = new RegExp(
    `outer: +IPv4 192\\.0\\.2\\.1 -> 192\\.0\\.2\\.2, UDP (\\d+) -> 8472, VXLAN VNI 1, inner Ethernet ${n1.vtepMac} -> ${n2.vtepMac}`,
  ).exec(trace);
  assert.ok(outer, trace);
  // --src-port flow is the default over --io batch: the sample leaves from a pool port of the
  // default range, and with 2 workers queue 0's pool holds only even ports (port mod 2 = queue).
  const sport = Number(outer[1]);
  assert.ok(sport >= 49152 && sport <= 65535 && sport % 2 === 0, `source port ${sport}`);
  assert.match(trace, /VXLAN/);
  assert.match(trace, new RegExp(`source port +${sport} .*hash of the inner flow`));
  assert.doesNotMatch(trace, /fixed: the sender's bound port/);
  assert.match(trace, /counters \(egress\): \d+ packets/);
  // --debug keeps per-flow counters: the mesh pings between node1 and node2, each way.
  const esc = (ip: string): string => ip.replace(/\./g, '\\.');
  assert.match(trace, new RegExp(`flows to/from ${esc(n2.podIp)} \\(per-flow counters\\):`));
  assert.match(
    trace,
    new RegExp(`egress  ${esc(n1.podIp)} > ${esc(n2.podIp)} icmp to peer 192\\.0\\.2\\.2: [1-9]\\d* packets`),
  );
  assert.match(
    trace,
    new RegExp(
      `ingress ${esc(n2.podIp)} > ${esc(n1.podIp)} icmp from peer 192\\.0\\.2\\.2: [1-9]\\d* packets`,
    ),
  );
  const fl = tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/flows`);
  assert.equal(fl.status, 200);
  assert.equal((JSON.parse(fl.body) as { perFlowCounters: boolean }).perFlowCounters, true);
  assert.match(m.body, /^weft_batch_size_count\{direction="egress"\} [1-9]\d*$/m);
  const local = tb.execIn(n1.nd.ns, process.execPath, [
    WEFT,
    'trace',
    n1.podIp,
    '--node',
    `http://127.0.0.1:${DEFAULT_METRICS_PORT}`,
  ]);
  assert.match(local, /own subnet/);

  // A lease added and removed while node1 -> node2 traffic flows: the flow loses nothing; a
  // lease of another backend type is ignored with a warning (as flannel's vxlan backend does).
  const flow = tb.spawnIn(n1.nd.ns, 'ping flow', 'ping', [
    '-n',
    '-c',
    '80',
    '-i',
    '0.05',
    '-W',
    '1',
    '-I',
    n1.podIp,
    n2.podIp,
  ]);
  const logFrom = n1.nd.weft!.events.length;
  const extra = writeLease(tb, '10.244.250.0-24', leaseJson('192.0.2.3', randomLocalMac()));
  const udpLease = writeLease(tb, '10.244.251.0-24', '{"PublicIP":"192.0.2.3","PublicIPv6":null}');
  await waitRoutes(tb, n1.nd, ['10.244.250.0/24']);
  await n1.nd.weft!.waitForEvent(/^Ignoring lease 10\.244\.251\.0-24/, 5000, logFrom);
  assert.ok(!tb.routesOf(n1.nd).includes('10.244.251.0/24'), 'no route for the udp-type lease');
  fs.rmSync(extra);
  fs.rmSync(udpLease);
  await waitUntil(
    () => !tb.routesOf(n1.nd).includes('10.244.250.0/24'),
    10_000,
    'route to 10.244.250.0/24 removed',
  );
  await n1.nd.weft!.waitForEvent(/^Subnet removed: 10\.244\.250\.0\/24$/, 5000, logFrom);
  await flow.exited;
  assert.match(flow.log, /80 packets transmitted, 80 received, 0% packet loss/, flow.log);
  assert.deepEqual(workerStats(), { count: 2, alive: 2, queues: 2 }, 'both queues still forwarding');
  const m2 = tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/metrics`).body;
  assert.match(m2, /^weft_lease_events_total\{event="removed"\} 1$/m);
  assert.match(m2, /^weft_leases_ignored_total 1$/m);

  // Restart node2: graceful stop keeps the lease and removes the device; same subnet and MAC after.
  assert.equal(await n2.nd.weft!.stop(), 0);
  assert.throws(() => tb.execIn(n2.nd.ns, 'ip', ['link', 'show', 'flannel.1']), /does not exist|Cannot find/);
  assert.ok(
    fs.existsSync(path.join(subnetsDir, n2.subnet.replace('/', '-'))),
    'lease kept after graceful stop',
  );
  tb.startWeft(n2.nd);
  const again = nodeInfo(tb, n2.nd, await tb.waitReady(n2.nd, 30_000), false);
  assert.equal(again.subnet, n2.subnet);
  assert.equal(again.vtepMac, n2.vtepMac);
  assert.ok(n2.nd.weft!.events.some((e) => e.msg === 'reusing the VTEP MAC'));
  await waitRoutes(tb, n2.nd, [n1.subnet, n3.subnet]);
  assert.equal(ping(tb, n1.nd.ns, n1.podIp, n2.podIp, 3).received, 3, 'node1 -> restarted node2');

  // Revoked lease: node3's key deleted -> it shuts down cleanly (exit 0), flannel's message.
  fs.rmSync(path.join(subnetsDir, n3.subnet.replace('/', '-')));
  assert.equal(await n3.nd.weft!.exited, 0);
  assert.ok(
    n3.nd.weft!.events.some((e) => e.msg === 'Lease has been revoked. Shutting down daemon.'),
    n3.nd.weft!.log,
  );
  await waitUntil(() => !tb.routesOf(n1.nd).includes(n3.subnet), 10_000, 'node1 drops the route to node3');
});
