/**
 * The host-gw backend as flannel runs it, in a mixed cluster: two `weft run` nodes and a node
 * whose routes are set the way flanneld's host-gw sets them (`ip route replace <subnet> via
 * <PublicIP> dev <iface>`, its lease in flannel's host-gw JSON), on one L2 (the testbed bridge).
 * A vxlan lease in the same store is ignored with flannel's warning.
 *
 * Once on the embedded store, once on a real etcd (started in the switch namespace, killed by
 * PID) with the weft nodes started from flanneld command lines as a unit file writes them
 * (`-etcd-endpoints=… -etcd-prefix=… -iface=…`, one node through FLANNELD_* variables instead),
 * with no weft flag: the etcd flags alone must select the etcd store and its prefix.
 * Needs root (namespaces, veth, etcd in a namespace); CI runs as root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_HEALTHZ_PORT, ETCD_CLIENT_URL, Testbed, TestbedNode } from '../../src/testing/testbed';
import { Proc } from '../../src/testing/proc';
import { randomLocalMac } from '../../src/daemon/vtep-state';
import { NodeInfo, assertSubnetEnv, leaseJson, needRoot, nodeInfo, ping, waitUntil } from './cluster-helpers';

const CONFIG = '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}';
/** A non-default prefix, so the test shows --etcd-prefix is honoured. */
const ETCD_PREFIX = '/example.com/network';
const KERNEL_SUBNET = '10.244.200.0/24';
const KERNEL_POD = '10.244.200.1';
const VXLAN_SUBNET = '10.244.201.0/24';

/** hostGwLease is flannel's exact host-gw lease value (pkg/backend/hostgw: no BackendData). */
function hostGwLease(publicIp: string): string {
  return `{"PublicIP":"${publicIp}","PublicIPv6":null,"BackendType":"host-gw"}`;
}

/** Store is how the test reads and writes the cluster's store, whichever it is. */
interface Store {
  put(key: string, value: string): void;
  del(key: string): void;
  /** subnet key -> value */
  leases(): Map<string, string>;
}

function embeddedStore(tb: Testbed): Store {
  const dir = path.join(tb.storeDir, 'coreos.com', 'network', 'subnets');
  return {
    // As another node writes a lease: atomically, the expiry as the file's mtime.
    put: (key, value) => {
      fs.mkdirSync(dir, { recursive: true });
      const tmp = path.join(tb.storeDir, `.${key}.tmp`);
      fs.writeFileSync(tmp, value);
      const exp = new Date(Date.now() + 3600_000);
      fs.utimesSync(tmp, exp, exp);
      fs.renameSync(tmp, path.join(dir, key));
    },
    del: (key) => fs.rmSync(path.join(dir, key)),
    leases: () =>
      new Map(
        fs
          .readdirSync(dir)
          .filter((k) => !k.startsWith('.'))
          .map((k) => [k, fs.readFileSync(path.join(dir, k), 'utf8')]),
      ),
  };
}

function etcdStore(tb: Testbed, prefix: string): Store {
  const subnets = `${prefix}/subnets/`;
  return {
    // As flanneld writes a lease: a fresh 86400 s etcd lease, then a Put attached to it.
    put: (key, value) => {
      const granted = tb.etcdctl(['lease', 'grant', '86400']);
      const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
      assert.ok(id, granted);
      tb.etcdctl(['put', `--lease=${id}`, subnets + key], value);
    },
    del: (key) => void tb.etcdctl(['del', subnets + key]),
    leases: () => {
      const r = JSON.parse(tb.etcdctl(['get', '--prefix', subnets, '-w', 'json'])) as {
        kvs?: Array<{ key: string; value: string }>;
      };
      return new Map(
        (r.kvs ?? []).map((kv) => [
          Buffer.from(kv.key, 'base64').toString().slice(subnets.length),
          Buffer.from(kv.value, 'base64').toString(),
        ]),
      );
    },
  };
}

/** flanneldArgs is a flanneld unit file's command line for node `nd` (single dashes, as Go's flag takes them). */
function flanneldArgs(nd: TestbedNode): string[] {
  return [
    `-etcd-endpoints=${ETCD_CLIENT_URL}`,
    `-etcd-prefix=${ETCD_PREFIX}`,
    `-iface=${nd.dev}`,
    `-subnet-file=${nd.subnetFile}`,
    '-healthz-ip=127.0.0.1',
    `-healthz-port=${DEFAULT_HEALTHZ_PORT}`,
  ];
}

/** startFlanneldStyle starts `weft run` with only flanneld flags, or only FLANNELD_* variables. */
function startFlanneldStyle(tb: Testbed, nd: TestbedNode, viaEnv: boolean): Proc {
  const args = flanneldArgs(nd);
  const label = `weft run (node${nd.index}, flanneld ${viaEnv ? 'environment' : 'command line'})`;
  const p = viaEnv
    ? tb.spawnIn(nd.ns, label, 'env', [
        ...args.map((a) => {
          const [name, value] = a.slice(1).split(/=(.*)/s) as [string, string];
          return `FLANNELD_${name.toUpperCase().replace(/-/g, '_')}=${value}`;
        }),
        process.execPath,
        tb.weftBin,
        'run',
      ])
    : tb.spawnIn(nd.ns, label, process.execPath, [tb.weftBin, 'run', ...args]);
  nd.weft = p;
  return p;
}

/** routeLine is how `ip route` shows a host-gw route. */
function routeLine(subnet: string, via: string, dev: string): string {
  return `${subnet} via ${via} dev ${dev}`;
}

async function waitRoute(tb: Testbed, nd: TestbedNode, line: string, present = true): Promise<void> {
  await waitUntil(
    () => tb.routesOf(nd).includes(line) === present,
    15_000,
    `node${nd.index}: route "${line}" ${present ? 'present' : 'gone'}`,
    () => `${tb.routesOf(nd)}\n${nd.weft?.log ?? ''}`,
  );
}

async function hostGwCluster(storeKind: 'embedded' | 'etcd'): Promise<void> {
  needRoot();
  const tb = await Testbed.create({ store: storeKind, nodes: 3, tag: storeKind === 'etcd' ? 'hge' : 'hgm' });
  try {
    const [nd1, nd2, kn] = tb.nodes as [TestbedNode, TestbedNode, TestbedNode];
    let store: Store;
    if (storeKind === 'etcd') {
      tb.etcdctl(['put', `${ETCD_PREFIX}/config`], CONFIG);
      store = etcdStore(tb, ETCD_PREFIX);
    } else {
      tb.writeConfig(CONFIG);
      store = embeddedStore(tb);
    }

    // The flanneld host-gw node's lease, and a vxlan node's lease that host-gw must ignore.
    store.put(KERNEL_SUBNET.replace('/', '-'), hostGwLease(kn.ip));
    store.put(VXLAN_SUBNET.replace('/', '-'), leaseJson('192.0.2.9', randomLocalMac()));

    if (storeKind === 'etcd') {
      startFlanneldStyle(tb, nd1, false);
      startFlanneldStyle(tb, nd2, true);
    } else {
      for (const nd of [nd1, nd2]) tb.startWeft(nd);
    }
    const nodes: NodeInfo[] = [];
    for (const nd of [nd1, nd2]) nodes.push(nodeInfo(tb, nd, await tb.waitReady(nd, 30_000)));
    const [n1, n2] = nodes as [NodeInfo, NodeInfo];
    assert.notEqual(n1.subnet, n2.subnet);

    // flannel's exact host-gw leases, and FLANNEL_MTU = the interface MTU (nothing is added).
    const leases = store.leases();
    for (const n of nodes) {
      assert.equal(
        leases.get(n.subnet.replace('/', '-')),
        hostGwLease(n.nd.ip),
        `lease of node${n.nd.index}`,
      );
      assertSubnetEnv(n, 1500);
      const log = n.nd.weft!.log;
      assert.match(log, /"msg":"Ignoring non-host-gw subnet: type=vxlan"/, log);
      assert.doesNotMatch(log, /embedded store/, 'no store warning: the store was chosen');
      // No device: host-gw leaves forwarding to the kernel.
      assert.doesNotMatch(tb.execIn(n.nd.ns, 'ip', ['-o', 'link']), /flannel/);
    }

    // The flanneld node's routes, exactly as flanneld host-gw programs them from the leases.
    for (const n of nodes) {
      tb.execIn(kn.ns, 'ip', ['route', 'replace', n.subnet, 'via', n.nd.ip, 'dev', kn.dev]);
    }
    tb.execIn(kn.ns, 'ip', ['addr', 'add', `${KERNEL_POD}/32`, 'dev', 'lo']);

    // Each weft node routes every other host-gw subnet via its public IP on the external interface.
    for (const [me, other] of [
      [n1, n2],
      [n2, n1],
    ] as const) {
      await waitRoute(tb, me.nd, routeLine(other.subnet, other.nd.ip, me.nd.dev));
      await waitRoute(tb, me.nd, routeLine(KERNEL_SUBNET, kn.ip, me.nd.dev));
      assert.doesNotMatch(tb.routesOf(me.nd), new RegExp(VXLAN_SUBNET.replace(/\./g, '\\.')));
    }

    // Pod to pod across the mixed cluster, both ways, plain routed IP.
    const pods: Array<[TestbedNode, string]> = [
      [nd1, n1.podIp],
      [nd2, n2.podIp],
      [kn, KERNEL_POD],
    ];
    for (const [a, aip] of pods) {
      for (const [b, bip] of pods) {
        if (a === b) continue;
        const r = ping(tb, a.ns, aip, bip, 3);
        assert.equal(r.received, 3, `node${a.index} ${aip} -> node${b.index} ${bip}: ${r.out}`);
      }
    }

    // What chose the store: the flanneld flag, or its variable.
    const chosen = nodes.map((n) => n.nd.weft!.events.find((e) => e.msg === 'lease store')?.fields);
    if (storeKind === 'etcd') {
      assert.deepEqual(
        chosen.map((c) => [c?.store, c?.chosenBy, c?.endpoints, c?.prefix]),
        [
          ['etcd', '--etcd-endpoints', ETCD_CLIENT_URL, ETCD_PREFIX],
          ['etcd', 'FLANNELD_ETCD_ENDPOINTS', ETCD_CLIENT_URL, ETCD_PREFIX],
        ],
      );
    } else {
      assert.deepEqual(
        chosen.map((c) => [c?.store, c?.chosenBy]),
        [
          ['embedded', '--store'],
          ['embedded', '--store'],
        ],
      );
    }

    if (storeKind === 'etcd') {
      const health = tb.httpGet(nd1.ns, `http://127.0.0.1:${DEFAULT_HEALTHZ_PORT}/readyz`);
      assert.equal(health.status, 200, health.body);
    }

    // A route deleted behind weft's back is put back by the route check, as flanneld's is.
    tb.execIn(nd2.ns, 'ip', ['route', 'del', KERNEL_SUBNET]);
    await waitUntil(
      () => tb.routesOf(nd2).includes(routeLine(KERNEL_SUBNET, kn.ip, nd2.dev)),
      20_000,
      'route recovered',
      () => `${tb.routesOf(nd2)}\n${nd2.weft!.log}`,
    );
    assert.match(
      nd2.weft!.log,
      new RegExp(`"msg":"Route recovered ${KERNEL_SUBNET.replace(/\./g, '\\.')} : ${kn.ip}"`),
    );

    // The flanneld node leaves: its route goes; it comes back at another address: replaced.
    store.del(KERNEL_SUBNET.replace('/', '-'));
    for (const n of nodes) await waitRoute(tb, n.nd, routeLine(KERNEL_SUBNET, kn.ip, n.nd.dev), false);
    store.put(KERNEL_SUBNET.replace('/', '-'), hostGwLease(kn.ip));
    for (const n of nodes) await waitRoute(tb, n.nd, routeLine(KERNEL_SUBNET, kn.ip, n.nd.dev));

    // Stop (SIGTERM): exit 0, the routes it installed are gone, the lease stays.
    assert.equal(await nd1.weft!.stop(10_000), 0, nd1.weft!.log);
    assert.doesNotMatch(tb.routesOf(nd1), / via 192\.0\.2\./, tb.routesOf(nd1));
    assert.equal(store.leases().get(n1.subnet.replace('/', '-')), hostGwLease(nd1.ip));
  } finally {
    await tb.cleanup();
  }
}

test(
  'host-gw: a mixed cluster with a flanneld host-gw node on the embedded store',
  { timeout: 120_000 },
  () => hostGwCluster('embedded'),
);

test(
  'host-gw: a mixed cluster on etcd, weft started from flanneld command lines and FLANNELD_* variables',
  { timeout: 120_000 },
  () => hostGwCluster('etcd'),
);
