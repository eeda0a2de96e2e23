/**
 * weft nodes through a real etcd (started by the test in the testbed's switch namespace, killed by
 * PID): two nodes racing for the same subnet, three-node mesh, flannel's exact leases under etcd
 * leases, a mixed cluster with a kernel-VXLAN node configured as flannel configures it (anchors.md
 * A), and a 30 s etcd outage during which forwarding continues and after which the watch resumes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Testbed, DEFAULT_HEALTHZ_PORT } from '../../src/testing/testbed';
import { sleep } from '../../src/testing/shell';
import { randomLocalMac } from '../../src/daemon/vtep-state';
import {
  CONFIG,
  assertMesh,
  assertSubnetEnv,
  leaseJson,
  needRoot,
  startAll,
  waitRoutes,
  waitUntil,
  ping,
} from './cluster-helpers';

const PREFIX = '/coreos.com/network/subnets/';

/** putLease writes a lease as flanneld does: a fresh 86400 s etcd lease, then a Put attached to it. */
function putLease(tb: Testbed, key: string, value: string): void {
  const granted = tb.etcdctl(['lease', 'grant', '86400']);
  const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
  assert.ok(id, granted);
  tb.etcdctl(['put', `--lease=${id}`, PREFIX + key], value);
}

/** leasesInEtcd returns key -> {value, etcd lease id (hex, '' when none)} for every subnet key. */
function leasesInEtcd(tb: Testbed): Map<string, { value: string; lease: string }> {
  // Lease IDs are 64-bit: keep them as text (JSON numbers would lose precision).
  const text = tb
    .etcdctl(['get', '--prefix', PREFIX, '-w', 'json'])
    .replace(/"lease":(\d+)/g, '"lease":"$1"');
  const r = JSON.parse(text) as { kvs?: Array<{ key: string; value: string; lease?: string }> };
  const out = new Map<string, { value: string; lease: string }>();
  for (const kv of r.kvs ?? []) {
    const lease = kv.lease ? BigInt(kv.lease).toString(16) : '';
    out.set(Buffer.from(kv.key, 'base64').toString().slice(PREFIX.length), {
      value: Buffer.from(kv.value, 'base64').toString(),
      lease,
    });
  }
  return out;
}

test(
  'weft run: nodes through etcd, racing, mixed with kernel VXLAN, surviving an etcd outage',
  { timeout: 240_000 },
  async (t) => {
    needRoot();
    const tb = await Testbed.create({ store: 'etcd', nodes: 4, tag: 'tc' });
    t.after(() => tb.cleanup());
    tb.writeConfig(CONFIG);
    const [nd1, nd2, nd3, nd4] = tb.nodes as [
      Testbed['nodes'][0],
      Testbed['nodes'][0],
      Testbed['nodes'][0],
      Testbed['nodes'][0],
    ];

    // Race: node1 and node2 both remember 10.244.77.0/24 from a subnet.env and start together.
    for (const nd of [nd1, nd2])
      fs.writeFileSync(
        nd.subnetFile,
        'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.77.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
      );
    const raced = await startAll(tb, [nd1, nd2]);
    assert.notEqual(raced[0]!.subnet, raced[1]!.subnet, 'racing nodes got distinct subnets');
    assert.ok(
      raced.some((n) => n.subnet === '10.244.77.0/24'),
      `one of them got the remembered subnet: ${raced.map((n) => n.subnet).join(', ')}`,
    );
    const nodes = [...raced, ...(await startAll(tb, [nd3]))];
    const [n1, n2] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];

    // flannel's exact lease values, each attached to an etcd lease (TTL), one per node.
    const leases = leasesInEtcd(tb);
    assert.equal(leases.size, 3);
    for (const n of nodes) {
      const l = leases.get(n.subnet.replace('/', '-'));
      assert.ok(l, `lease for ${n.subnet}`);
      assert.equal(l.value, leaseJson(n.nd.ip, n.vtepMac));
      assert.ok(l.lease !== '', 'attached to an etcd lease');
      assertSubnetEnv(n);
    }
    const ttl = tb.etcdctl(['lease', 'timetolive', leases.get(n1.subnet.replace('/', '-'))!.lease]);
    assert.match(ttl, /granted with TTL\(86400s\)/);
    for (const n of nodes)
      await waitRoutes(
        tb,
        n.nd,
        nodes.filter((o) => o !== n).map((o) => o.subnet),
      );
    assertMesh(tb, nodes);

    // Mixed cluster: node4 is a kernel-VXLAN flannel node (anchors.md A) whose lease is written
    // in flannel's JSON; it is configured from the weft nodes' leases (VtepMAC, PublicIP).
    const kdev = nd4.dev;
    const kx = (...a: string[]): string => tb.execIn(nd4.ns, 'ip', a);
    kx(
      'link',
      'add',
      'flannel.1',
      'type',
      'vxlan',
      'id',
      '1',
      'dstport',
      '8472',
      'local',
      nd4.ip,
      'dev',
      kdev,
      'nolearning',
    );
    kx('link', 'set', 'flannel.1', 'mtu', '1450', 'up');
    kx('addr', 'add', '10.244.200.0/32', 'dev', 'flannel.1');
    kx('addr', 'add', '10.244.200.1/32', 'dev', 'lo');
    const kmac = tb.execIn(nd4.ns, 'cat', ['/sys/class/net/flannel.1/address']).trim();
    for (const [key, l] of leasesInEtcd(tb)) {
      const a = JSON.parse(l.value) as { PublicIP: string; BackendData: { VtepMAC: string } };
      const gw = key.split('-')[0]!;
      kx('neigh', 'replace', gw, 'lladdr', a.BackendData.VtepMAC, 'dev', 'flannel.1', 'nud', 'permanent');
      tb.execIn(nd4.ns, 'bridge', [
        'fdb',
        'replace',
        a.BackendData.VtepMAC,
        'dev',
        'flannel.1',
        'dst',
        a.PublicIP,
        'self',
        'permanent',
      ]);
      kx('route', 'replace', key.replace('-', '/'), 'via', gw, 'dev', 'flannel.1', 'onlink');
    }
    putLease(tb, '10.244.200.0-24', leaseJson(nd4.ip, kmac));
    for (const n of nodes) await waitRoutes(tb, n.nd, ['10.244.200.0/24']);
    for (const n of nodes) {
      const there = ping(tb, n.nd.ns, n.podIp, '10.244.200.1', 3);
      assert.equal(there.received, 3, `weft node${n.nd.index} -> kernel node: ${there.out}`);
      const back = ping(tb, nd4.ns, '10.244.200.1', n.podIp, 3);
      assert.equal(back.received, 3, `kernel node -> weft node${n.nd.index}: ${back.out}`);
    }

    // etcd down for 30 s: forwarding continues on the last known routes, health stays up.
    const outageStart = Date.now();
    await tb.stopEtcd();
    const flow = tb.spawnIn(n1.nd.ns, 'ping during outage', 'ping', [
      '-n',
      '-c',
      '60',
      '-i',
      '0.2',
      '-W',
      '1',
      '-I',
      n1.podIp,
      n2.podIp,
    ]);
    await sleep(3000);
    assert.equal(tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_HEALTHZ_PORT}/healthz`).status, 200);
    assert.equal(
      ping(tb, nd4.ns, '10.244.200.1', n2.podIp, 3).received,
      3,
      'kernel node -> weft during the outage',
    );
    await flow.exited;
    assert.match(flow.log, /60 packets transmitted, 60 received, 0% packet loss/, flow.log);
    for (const n of nodes)
      assert.ok(n.nd.weft!.running, `node${n.nd.index} still running during the outage:\n${n.nd.weft!.log}`);
    await sleep(Math.max(0, 30_000 - (Date.now() - outageStart)));
    await tb.startEtcd();

    // The own leases survived; a lease added after the restart is routed (the watch resumed).
    const after = leasesInEtcd(tb);
    for (const n of nodes)
      assert.ok(after.has(n.subnet.replace('/', '-')), `lease of node${n.nd.index} survived`);
    putLease(tb, '10.244.201.0-24', leaseJson('192.0.2.4', randomLocalMac()));
    for (const n of nodes) await waitRoutes(tb, n.nd, ['10.244.201.0/24'], 30_000);
    tb.etcdctl(['del', PREFIX + '10.244.201.0-24']);
    await waitUntil(
      () => !tb.routesOf(nd1).includes('10.244.201.0/24'),
      15_000,
      'route removed after delete',
    );
    assertMesh(tb, nodes);
  },
);
