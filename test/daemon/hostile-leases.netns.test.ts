/**
 * Hostile leases (issue 13.1): keys and values any store writer can put in, against a running
 * `weft run` in namespaces. node1's whole main routing table is compared before, during and after:
 * nothing but the one good lease's route may appear, nothing may be replaced, and removing the
 * leases must leave the table exactly as it was (the underlay's connected route, foreign routes
 * inside Network). Every refusal is counted by reason and warned about once per key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Testbed, TestbedNode, DEFAULT_METRICS_PORT } from '../../src/testing/testbed';
import { sh } from '../../src/testing/shell';
import { CONFIG, leaseJson, needRoot, nodeInfo, ping, startAll, waitUntil } from './cluster-helpers';

function subnetsDir(tb: Testbed): string {
  return path.join(tb.storeDir, 'coreos.com', 'network', 'subnets');
}

/** writeLease puts a lease file into the embedded store as another writer would (expiry = mtime). */
function writeLease(tb: Testbed, key: string, value: string): void {
  const tmp = path.join(tb.storeDir, `.${key}.tmp`);
  fs.writeFileSync(tmp, value);
  const exp = new Date(Date.now() + 3600_000);
  fs.utimesSync(tmp, exp, exp);
  fs.renameSync(tmp, path.join(subnetsDir(tb), key));
}

/** table is node's main routing table, one canonical line per route, sorted. */
function table(nd: TestbedNode): string[] {
  return sh('ip', ['-n', nd.ns, 'route', 'show', 'table', 'main'])
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '')
    .sort();
}

function metric(body: string, reason: string): number {
  const m = new RegExp(`^weft_leases_rejected_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(body);
  return m ? Number(m[1]) : 0;
}

test(
  'hostile leases: refused, counted, warned once; routes before and after identical',
  { timeout: 180_000 },
  async (t) => {
    needRoot();
    const tb = await Testbed.create({ store: 'embedded', tag: 'th', nodes: 2 });
    t.after(() => tb.cleanup());
    // The nodes lease from 10.244.1-50: the subnets below (77..93, 200, 201) are never theirs.
    const config = CONFIG.replace(
      '"SubnetLen":24,',
      '"SubnetLen":24,"SubnetMin":"10.244.1.0","SubnetMax":"10.244.50.0",',
    );
    assert.match(config, /"SubnetMax":"10\.244\.50\.0"/);
    tb.writeConfig(config);
    const [n1, n2] = (await startAll(tb, tb.nodes)) as [
      ReturnType<typeof nodeInfo>,
      ReturnType<typeof nodeInfo>,
    ];
    await waitUntil(
      () => tb.routesOf(n1.nd).includes(`${n2.subnet} dev flannel.1`),
      10_000,
      'node1 routes node2',
    );
    // Routes weft did not install, inside Network: one exactly a lease's prefix, one inside another's.
    sh('ip', ['-n', n1.nd.ns, 'route', 'add', '10.244.200.0/24', 'via', n2.nd.ip]);
    sh('ip', ['-n', n1.nd.ns, 'route', 'add', '10.244.201.128/25', 'via', n2.nd.ip]);
    const before = table(n1.nd);
    assert.ok(
      before.some((r) => r.startsWith('192.0.2.0/24 dev ')),
      before.join('\n'),
    );

    const mac = '02:aa:bb:cc:dd:01';
    const good = leaseJson('192.0.2.99', mac);
    const ownSubnetKey = n1.subnet.replace('/', '-');
    const peerKey = n2.subnet.replace('/', '-');
    const hostile: Array<[key: string, value: string, reason: string]> = [
      ['192.0.2.0-24', good, 'outside_network'], // the underlay's own prefix
      ['198.51.100.0-24', good, 'outside_network'],
      ['10.244.0.0-16', good, 'subnet_length'], // Network itself
      ['10.244.77.0-25', good, 'subnet_length'],
      ['10.244.80.0-24', leaseJson('0.0.0.0', mac), 'public_ip'],
      ['10.244.81.0-24', leaseJson('255.255.255.255', mac), 'public_ip'],
      ['10.244.82.0-24', leaseJson('239.1.1.1', mac), 'public_ip'],
      ['10.244.83.0-24', leaseJson('127.0.0.1', mac), 'public_ip'],
      ['10.244.84.0-24', leaseJson(n1.nd.ip, mac), 'own_public_ip'],
      ['10.244.85.0-24', leaseJson('192.0.2.99', '01:00:5e:00:00:01'), 'vtep_mac'],
      ['10.244.86.0-24', leaseJson('192.0.2.99', 'ff:ff:ff:ff:ff:ff'), 'vtep_mac'],
      ['10.244.87.0-24', leaseJson('192.0.2.99', '00:00:00:00:00:00'), 'vtep_mac'],
      ['10.244.88.0-24', leaseJson('192.0.2.99', mac, 2), 'vni'],
      [`${ownSubnetKey}&fd00::-64`, good, 'own_subnet'],
      [`${peerKey}&fd00:1::-64`, good, 'duplicate_subnet'],
      ['10.244.200.0-24', good, 'route_conflict'],
      ['10.244.201.0-24', good, 'route_conflict'],
    ];
    for (const [k, v] of hostile) writeLease(tb, k, v);
    writeLease(tb, '10.244.90.0-24', good); // the control: a well-formed lease is routed
    await waitUntil(
      () => tb.routesOf(n1.nd).includes('10.244.90.0/24 dev flannel.1'),
      10_000,
      'node1 routes the good lease',
      () => tb.routesOf(n1.nd),
    );
    const during = table(n1.nd);
    assert.deepEqual(
      during.filter((r) => !before.includes(r)),
      ['10.244.90.0/24 dev flannel.1 proto 87 scope link'],
      'only the good lease added a route',
    );
    assert.deepEqual(
      before.filter((r) => !during.includes(r)),
      [],
      'no route was replaced or removed',
    );

    const log = (): string => n1.nd.weft!.log;
    await waitUntil(
      () => hostile.every(([k]) => log().includes(`Refusing lease ${k}:`)),
      5000,
      'a warning for every hostile lease',
      log,
    );
    const m = tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/metrics`).body;
    const want = new Map<string, number>();
    for (const [, , r] of hostile) want.set(r, (want.get(r) ?? 0) + 1);
    for (const [reason, n] of want)
      assert.equal(metric(m, reason), n, `weft_leases_rejected_total{reason="${reason}"}`);

    // Rewritten with the same fault: no second warning, no second count.
    writeLease(tb, '192.0.2.0-24', leaseJson('192.0.2.98', mac));
    writeLease(tb, '10.244.91.0-24', good); // a marker that the rewrite was processed
    await waitUntil(
      () => tb.routesOf(n1.nd).includes('10.244.91.0/24 dev flannel.1'),
      10_000,
      'marker routed',
    );
    for (const [k] of hostile) {
      const n = log()
        .split('\n')
        .filter((l) => l.includes(`Refusing lease ${k}:`)).length;
      assert.equal(n, 1, `one warning for ${k}`);
    }
    const m2 = tb.httpGet(n1.nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/metrics`).body;
    assert.equal(metric(m2, 'outside_network'), 2);

    // Forwarding intact; then every lease removed restores exactly the old table.
    const r = ping(tb, n1.nd.ns, n1.podIp, n2.podIp, 3);
    assert.equal(r.received, 3, r.out);
    for (const [k] of hostile) fs.unlinkSync(path.join(subnetsDir(tb), k));
    fs.unlinkSync(path.join(subnetsDir(tb), '10.244.90.0-24'));
    fs.unlinkSync(path.join(subnetsDir(tb), '10.244.91.0-24'));
    await waitUntil(
      () => !/^10\.244\.9[01]\.0\/24 /m.test(tb.routesOf(n1.nd)),
      10_000,
      'the good leases unrouted',
      () => tb.routesOf(n1.nd),
    );
    assert.deepEqual(table(n1.nd), before, 'the table is exactly what it was');
    const r2 = ping(tb, n1.nd.ns, n1.podIp, n2.podIp, 3);
    assert.equal(r2.received, 3, r2.out);

    // A route somebody puts in place of weft's is theirs: the lease's removal leaves it alone.
    writeLease(tb, '10.244.92.0-24', good);
    await waitUntil(() => tb.routesOf(n1.nd).includes('10.244.92.0/24 dev flannel.1'), 10_000, 'routed');
    sh('ip', ['-n', n1.nd.ns, 'route', 'replace', '10.244.92.0/24', 'via', n2.nd.ip]);
    fs.unlinkSync(path.join(subnetsDir(tb), '10.244.92.0-24'));
    // A marker: once it is routed, the removal before it was applied too.
    writeLease(tb, '10.244.93.0-24', good);
    await waitUntil(() => tb.routesOf(n1.nd).includes('10.244.93.0/24 dev flannel.1'), 10_000, 'marker');
    await waitUntil(() => log().includes('Subnet removed: 10.244.92.0/24'), 5000, 'the removal logged');
    assert.ok(
      tb.routesOf(n1.nd).includes(`10.244.92.0/24 via ${n2.nd.ip} `),
      `the hand-made route stays\n${tb.routesOf(n1.nd)}`,
    );
  },
);
