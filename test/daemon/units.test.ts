/**
 * Unit tests of the daemon's pieces that need no namespaces: log lines, interface selection,
 * VTEP MAC persistence, the metrics registry (reads counters on scrape), the HTTP endpoints and
 * `weft trace`'s offline computation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { formatLogLine, parseLogLine } from '../../src/daemon/log';
import { selectExtIface, type LinkAddrs } from '../../src/daemon/iface';
import { loadOrCreateVtepMac } from '../../src/daemon/vtep-state';
import {
  createMetricsRegistry,
  newDaemonCounters,
  METRIC_NAMES,
  type DataplaneView,
} from '../../src/metrics/metrics';
import { closeServer, listen, makeHandler, type HttpSource } from '../../src/daemon/http';
import { traceOffline, renderTrace } from '../../src/cli/commands/trace';
import { DropReason, newAnomalyCounters, newDropCounters } from '../../src/encap';
import { ConfigError } from '../../src/errors';
import type { DataplaneFlows, DataplaneStats } from '../../src/dataplane/node';
import { FlowTable } from '../../src/dataplane/flow-table';
import { buildIcmpEcho } from '../../src/testing/packets';
import type { DebugRoutes } from '../../src/daemon/daemon';

test('log: one JSON object per line with ts, level, msg and fields', () => {
  const line = formatLogLine(
    'info',
    'Subnet added: 10.244.2.0/24 via 192.0.2.3',
    { key: '10.244.2.0-24', err: new Error('x') },
    new Date(0),
  );
  assert.equal(
    line,
    '{"ts":"1970-01-01T00:00:00.000Z","level":"info","msg":"Subnet added: 10.244.2.0/24 via 192.0.2.3","fields":{"key":"10.244.2.0-24","err":"x"}}',
  );
  assert.deepEqual(parseLogLine(line)?.fields, { key: '10.244.2.0-24', err: 'x' });
  assert.equal(parseLogLine('not json'), null);
  assert.ok(!formatLogLine('warn', 'm').includes('fields'));
});

test('iface: flanneld order (--iface name/IP, then --iface-regex, then --iface-can-reach; --public-ip owner, default route)', async () => {
  const links: LinkAddrs[] = [
    { ifname: 'lo', mtu: 65536, addrs: ['127.0.0.1'] },
    { ifname: 'eth0', mtu: 1500, addrs: ['192.0.2.7'] },
    { ifname: 'eth1', mtu: 9000, addrs: ['198.51.100.7', '198.51.100.8'] },
  ];
  const f = { iface: [] as string[], ifaceRegex: [] as string[], ifaceCanReach: '', publicIp: '' };
  const route = async (dst: string): Promise<string | null> =>
    dst === 'default' ? 'eth0' : dst.startsWith('198.') ? 'eth1' : null;
  assert.deepEqual(await selectExtIface({ ...f, iface: ['nope', 'eth1'] }, links, route), {
    name: 'eth1',
    addr: '198.51.100.7',
    mtu: 9000,
    publicIp: '198.51.100.7',
  });
  assert.equal((await selectExtIface({ ...f, iface: ['198.51.100.8'] }, links, route)).addr, '198.51.100.8');
  assert.equal((await selectExtIface({ ...f, ifaceRegex: ['^198\\.'] }, links, route)).name, 'eth1');
  assert.equal((await selectExtIface({ ...f, ifaceRegex: ['^eth0$'] }, links, route)).addr, '192.0.2.7');
  assert.equal((await selectExtIface({ ...f, ifaceCanReach: '198.51.100.1' }, links, route)).name, 'eth1');
  assert.equal((await selectExtIface({ ...f, publicIp: '198.51.100.8' }, links, route)).addr, '198.51.100.8');
  const nat = await selectExtIface({ ...f, publicIp: '203.0.113.9' }, links, route);
  assert.deepEqual([nat.name, nat.addr, nat.publicIp], ['eth0', '192.0.2.7', '203.0.113.9']);
  // flanneld exits when no interface has --public-ip; weft's fallback says so.
  assert.match(nat.note ?? '', /no interface has --public-ip 203\.0\.113\.9.*flanneld/);
  assert.equal((await selectExtIface({ ...f, iface: ['eth0'] }, links, route)).note, undefined);
  // As flanneld: --iface entries first, then --iface-regex, then --iface-can-reach.
  const viaRegex = await selectExtIface({ ...f, iface: ['eth9'], ifaceRegex: ['^198\\.'] }, links, route);
  assert.deepEqual([viaRegex.name, viaRegex.addr], ['eth1', '198.51.100.7']);
  const viaReach = await selectExtIface(
    { ...f, iface: ['eth9'], ifaceRegex: ['^10\\.'], ifaceCanReach: '198.51.100.1' },
    links,
    route,
  );
  assert.equal(viaReach.name, 'eth1');
  await assert.rejects(
    selectExtIface({ ...f, iface: ['eth9'], ifaceRegex: ['^10\\.'] }, links, route),
    (e: unknown) =>
      e instanceof ConfigError && e.field === '--iface' && /eth9/.test(e.message) && /\^10/.test(e.message),
  );
  await assert.rejects(
    selectExtIface({ ...f, iface: ['eth9'] }, links, route),
    (e: unknown) => e instanceof ConfigError && e.field === '--iface',
  );
  await assert.rejects(
    selectExtIface({ ...f, ifaceRegex: ['('] }, links, route),
    (e: unknown) => e instanceof ConfigError && e.field === '--iface-regex',
  );
  await assert.rejects(
    selectExtIface(f, links, async () => null),
    (e: unknown) => e instanceof ConfigError && e.field === '--iface',
  );
});

test('vtep-state: the MAC is created once (locally administered unicast) and reused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-vtep-'));
  try {
    const a = await loadOrCreateVtepMac(dir, 'flannel.1', '192.0.2.1');
    assert.equal(a.created, true);
    assert.match(a.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.equal(parseInt(a.mac.slice(0, 2), 16) & 0x03, 0x02);
    const b = await loadOrCreateVtepMac(dir, 'flannel.1', '192.0.2.1');
    assert.deepEqual([b.mac, b.created], [a.mac, false]);
    const c = await loadOrCreateVtepMac(dir, 'flannel.1', '192.0.2.2');
    assert.notEqual(c.mac, a.mac, 'keyed by public IP too');
    fs.writeFileSync(a.file, 'garbage\n');
    const d = await loadOrCreateVtepMac(dir, 'flannel.1', '192.0.2.1');
    assert.equal(d.created, true, 'a corrupt file is replaced');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function fakeStats(): DataplaneStats {
  return {
    uptimeSeconds: 1,
    egress: {
      packets: 10,
      bytes: 1000,
      batches: 4,
      icmpReplies: 1,
      stalls: 0,
      batchSizes: { buckets: [1, 1, 2, 0, 0, 0, 0], sum: 12 },
    },
    ingress: { packets: 7, bytes: 700, batches: 7 },
    drops: {},
    egressDrops: {},
    ingressDrops: {},
    anomalies: {},
    tun: { rxSyscalls: 5, txSyscalls: 6, rxEagain: 2, txEagain: 0 },
    udp: { rxSyscalls: 8, txSyscalls: 4, rxEagain: 3, txEagain: 1 },
    routes: { peers: 2, cacheHits: 9, cacheMisses: 1, swaps: 3 },
  };
}

test('metrics: collectors read the counters at scrape time', async () => {
  const egressDrops = newDropCounters();
  const view: DataplaneView = {
    stats: fakeStats,
    egressDrops,
    ingressDrops: newDropCounters(),
    anomalies: newAnomalyCounters(),
  };
  const counters = newDaemonCounters();
  let ready = false;
  const reg = createMetricsRegistry(
    {
      dataplane: () => view,
      counters,
      ready: () => ready,
      lease: () => ({
        subnet: '10.244.1.0/24',
        publicIp: '192.0.2.1',
        backend: 'vxlan',
        vtepMac: '02:00:00:00:00:01',
        expiration: new Date(2_000_000_000_000),
      }),
    },
    { defaults: false },
  );
  let text = await reg.metrics();
  for (const name of METRIC_NAMES) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  assert.match(text, /^weft_packets_total\{direction="egress"\} 10$/m);
  assert.match(text, /^weft_bytes_total\{direction="ingress"\} 700$/m);
  assert.match(text, /^weft_batch_size_mean\{direction="egress"\} 2\.5$/m);
  // The batch-size histogram: cumulative buckets, sum and count per direction.
  assert.match(text, /^# TYPE weft_batch_size histogram$/m);
  assert.match(text, /^weft_batch_size_bucket\{direction="egress",le="1"\} 1$/m);
  assert.match(text, /^weft_batch_size_bucket\{direction="egress",le="3"\} 2$/m);
  assert.match(text, /^weft_batch_size_bucket\{direction="egress",le="7"\} 4$/m);
  assert.match(text, /^weft_batch_size_bucket\{direction="egress",le="\+Inf"\} 4$/m);
  assert.match(text, /^weft_batch_size_sum\{direction="egress"\} 12$/m);
  assert.match(text, /^weft_batch_size_count\{direction="egress"\} 4$/m);
  assert.match(text, /^weft_batch_size_count\{direction="ingress"\} 0$/m);
  assert.match(text, /^weft_io_eagain_total\{device="udp",direction="tx"\} 1$/m);
  assert.match(text, /^weft_routes 2$/m);
  assert.match(text, /^weft_ready 0$/m);
  assert.match(text, /^weft_lease_expiry_timestamp_seconds 2000000000$/m);
  // Counters change between scrapes without any push.
  egressDrops[DropReason.noRoute] = 5;
  counters.leaseAdded = 3;
  counters.storeErrors.set('listLeases', 2);
  ready = true;
  text = await reg.metrics();
  assert.match(text, /^weft_drops_total\{direction="egress",reason="no_route"\} 5$/m);
  assert.match(text, /^weft_drops_total\{direction="ingress",reason="no_route"\} 0$/m);
  assert.match(text, /^weft_lease_events_total\{event="added"\} 3$/m);
  assert.match(text, /^weft_store_errors_total\{op="listLeases"\} 2$/m);
  assert.match(text, /^weft_ready 1$/m);
});

const ROUTES: DebugRoutes = {
  node: {
    backend: 'vxlan', dev: 'flannel.1', subnet: '10.244.1.0/24', network: '10.244.0.0/16', publicIp: '192.0.2.1', localIp: '192.0.2.1',
    iface: 'eth0', vni: 1, port: 8472, vtepMac: '02:00:00:00:00:01', mtu: 1450, io: 'batch', leaseKey: '10.244.1.0-24', leaseExpiration: null,
  },
  peers: [
    { subnet: '10.244.2.0/24', publicIp: '192.0.2.2', vtepMac: '02:00:00:00:00:02', backend: 'vxlan', port: 8472, leaseKey: '10.244.2.0-24' },
    { subnet: '10.244.3.0/24', publicIp: '192.0.2.3', vtepMac: '02:00:00:00:00:03', backend: 'vxlan', port: 8472, leaseKey: '10.244.3.0-24' },
  ],
  direct: [],
  ignored: [],
}; // prettier-ignore

test('http: /healthz, /readyz, /metrics and /debug answer with flannel meanings', async () => {
  let healthy = false;
  let ready = false;
  const src: HttpSource = {
    healthy: () => healthy,
    ready: () => ready,
    debugRoutes: () => ROUTES,
    stats: () => fakeStats(),
  };
  const reg = createMetricsRegistry(
    { dataplane: () => null, counters: newDaemonCounters(), ready: () => ready, lease: () => null },
    { defaults: false },
  );
  const srv = await listen(
    makeHandler(src, reg, { health: true, metrics: true, debug: true }),
    '127.0.0.1',
    0,
  );
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  try {
    assert.equal((await fetch(`${base}/healthz`)).status, 503);
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
    healthy = true;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
    ready = true;
    const r = await fetch(`${base}/readyz`);
    assert.deepEqual([r.status, await r.text()], [200, 'weft is ready\n']);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /^weft_ready 1$/m);
    assert.deepEqual(await (await fetch(`${base}/debug/routes`)).json(), ROUTES);
    const flows = (await (await fetch(`${base}/debug/flows`)).json()) as {
      perFlowCounters: boolean;
      stats: DataplaneStats;
    };
    assert.equal(flows.perFlowCounters, false);
    assert.equal(flows.stats.egress.packets, 10);
    // With per-flow counters: the dataplane's top flows, filtered by ?ip= and cut by ?top=.
    const ft = new FlowTable(16);
    const echo = buildIcmpEcho('10.244.1.0', '10.244.3.9');
    ft.record(echo, 0, echo.length, 0xc0000203);
    const other = buildIcmpEcho('10.244.1.0', '10.244.2.9');
    ft.record(other, 0, other.length, 0xc0000202);
    let asked: [number, number | undefined] | null = null;
    src.flows = (top: number, ip?: number) => {
      asked = [top, ip];
      return { egress: ft.snapshot(top, ip), ingress: new FlowTable(16).snapshot(top, ip) };
    };
    const withFlows = (await (await fetch(`${base}/debug/flows?ip=10.244.3.9&top=5`)).json()) as {
      perFlowCounters: boolean;
      flows: DataplaneFlows;
    };
    assert.deepEqual(asked, [5, 0x0af40309]);
    assert.equal(withFlows.perFlowCounters, true);
    assert.deepEqual(
      withFlows.flows.egress.flows.map((f) => [f.dst, f.peer, f.packets]),
      [['10.244.3.9', '192.0.2.3', 1]],
    );
    assert.equal((await fetch(`${base}/debug/flows?ip=nope`)).status, 400);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  } finally {
    await closeServer(srv);
  }
  const noDebug = await listen(
    makeHandler(src, null, { health: true, metrics: false, debug: false }),
    '127.0.0.1',
    0,
  );
  try {
    const b = `http://127.0.0.1:${(noDebug.address() as AddressInfo).port}`;
    assert.equal((await fetch(`${b}/debug/routes`)).status, 404);
    assert.equal((await fetch(`${b}/metrics`)).status, 404);
  } finally {
    await closeServer(noDebug);
  }
});

test('trace: route, peer and the outer headers of a sample frame', () => {
  const r = traceOffline('10.244.3.9', ROUTES, fakeStats());
  assert.equal(r.verdict, 'peer');
  assert.equal(r.route, '10.244.3.0/24');
  assert.equal(r.peer?.publicIp, '192.0.2.3');
  assert.deepEqual(r.outer, {
    src: '192.0.2.1',
    dst: '192.0.2.3',
    srcPort: 8472,
    dstPort: 8472,
    vni: 1,
    innerSrcMac: '02:00:00:00:00:01',
    innerDstMac: '02:00:00:00:00:03',
  });
  const f = Buffer.from(r.frameHex!, 'hex');
  // outer IPv4 (20) + UDP (8) + VXLAN (8) + Ethernet (14) + inner IPv4 ICMP echo (20 + 8 + 56)
  assert.equal(f.length, 50 + 84);
  assert.equal(f.readUInt32BE(16), 0xc0000203, 'outer dst = peer public IP');
  assert.equal(f.readUInt16BE(22), 8472, 'UDP dst port');
  assert.equal(f[28], 0x08, 'VXLAN I flag');
  assert.equal(f.readUIntBE(32, 3), 1, 'VNI');
  assert.equal(f.subarray(36, 42).toString('hex'), '020000000003', 'inner dst MAC = peer VTEP MAC');
  assert.equal(f.readUInt32BE(50 + 16), 0x0af40309, 'inner dst');
  assert.equal(f.readUInt32BE(50 + 12), 0x0af40100, 'inner src = own subnet .0');
  const text = renderTrace(r);
  assert.match(text, /route: +10\.244\.3\.0\/24 \(longest prefix match\) -> lease 10\.244\.3\.0-24/);
  assert.match(text, /VXLAN/);
  // With the node's per-flow counters: the flows to and from DST_IP, each direction.
  const eg = new FlowTable(16);
  const ig = new FlowTable(16);
  const out = buildIcmpEcho('10.244.1.0', '10.244.3.9');
  const back = buildIcmpEcho('10.244.3.9', '10.244.1.0');
  const unrelated = buildIcmpEcho('10.244.1.0', '10.244.2.9');
  eg.record(out, 0, out.length, 0xc0000203);
  eg.record(out, 0, out.length, 0xc0000203);
  eg.record(unrelated, 0, unrelated.length, 0xc0000202);
  ig.record(back, 0, back.length, 0xc0000203);
  const rf = traceOffline('10.244.3.9', ROUTES, fakeStats(), {
    flows: { egress: eg.snapshot(), ingress: ig.snapshot() },
  });
  assert.equal(rf.flows?.egress.length, 1);
  assert.equal(rf.flows?.ingress.length, 1);
  const ftext = renderTrace(rf);
  assert.match(ftext, /flows to\/from 10\.244\.3\.9 \(per-flow counters\):/);
  assert.match(
    ftext,
    new RegExp(
      `egress  10\\.244\\.1\\.0 > 10\\.244\\.3\\.9 icmp to peer 192\\.0\\.2\\.3: 2 packets, ${2 * out.length} bytes`,
    ),
  );
  assert.match(ftext, /ingress 10\.244\.3\.9 > 10\.244\.1\.0 icmp from peer 192\.0\.2\.3: 1 packets/);
  assert.doesNotMatch(ftext, /10\.244\.2\.9/);
  assert.equal(traceOffline('10.244.1.5', ROUTES, null).verdict, 'local');
  assert.equal(traceOffline('10.9.0.1', ROUTES, null).verdict, 'outside-network');
  assert.equal(traceOffline('10.244.99.1', ROUTES, null).verdict, 'no-route');
  assert.throws(() => traceOffline('nope', ROUTES, null), ConfigError);
});

test('trace: a DirectRouting peer is reported as plain routed IP, not as an overlay peer', () => {
  const routes: DebugRoutes = {
    ...ROUTES,
    direct: [
      { subnet: '10.244.4.0/24', publicIp: '192.0.2.4', leaseKey: '10.244.4.0-24', installed: true },
      { subnet: '10.244.5.0/24', publicIp: '192.0.2.5', leaseKey: '10.244.5.0-24', installed: false },
    ],
  };
  const r = traceOffline('10.244.4.7', routes, null);
  assert.equal(r.verdict, 'direct');
  assert.equal(r.route, '10.244.4.0/24');
  assert.equal(r.direct?.publicIp, '192.0.2.4');
  assert.equal(r.outer, null, 'no overlay headers');
  assert.match(renderTrace(r), /DirectRouting.*\n.*via 192\.0\.2\.4 as plain IP, without encapsulation/);
  assert.match(renderTrace(traceOffline('10.244.5.1', routes, null)), /NOT installed/);
  // An encapsulated peer still wins for its own subnet, and unknown addresses stay no-route.
  assert.equal(traceOffline('10.244.3.9', routes, null).verdict, 'peer');
  assert.equal(traceOffline('10.244.9.9', routes, null).verdict, 'no-route');
});
