/**
 * `weft doctor` on real nodes: a `weft run` node and a kernel flannel.1 node (configured as
 * flanneld configures it: device, lease in flannel's JSON, neighbour/FDB/route per peer,
 * subnet.env, FLANNEL-FWD) sharing the embedded store in namespaces. Both check clean first; then
 * each fault is planted, doctor must name it (exit 1, the finding's check and text), and the fault
 * is removed again. Needs root (namespaces, veth, TUN, kernel VXLAN, iptables); CI runs as root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Testbed, TestbedNode } from '../../src/testing/testbed';
import { EmbeddedStore } from '../../src/control/embedded-store';
import { parseIpv4Cidr } from '../../src/net/addr';
import type { Finding } from '../../src/doctor/finding';
import {
  CONFIG,
  WEFT,
  leaseJson,
  needRoot,
  nodeInfo,
  vxlanLeaseAttrs,
  waitRoutes,
} from '../daemon/cluster-helpers';

interface Report {
  node: { flavor: string; lease: string | null; peers: number };
  findings: Finding[];
  problems: number;
}

/** doctor runs `weft doctor --json ARGS` in `nd`'s namespace. */
function doctor(nd: TestbedNode, args: readonly string[]): { code: number; report: Report } {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', nd.ns, process.execPath, WEFT, 'doctor', '--json', '--probe-timeout', '400', ...args],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.ok(r.stdout.startsWith('{'), `doctor printed no JSON (exit ${r.status}): ${r.stdout}${r.stderr}`);
  return { code: r.status ?? -1, report: JSON.parse(r.stdout) as Report };
}

const problems = (r: Report, check?: string): Finding[] =>
  r.findings.filter((f) => f.status === 'problem' && (check === undefined || f.check === check));

function assertClean(label: string, d: { code: number; report: Report }): void {
  assert.deepEqual(problems(d.report), [], `${label}: no problems expected`);
  assert.equal(d.code, 0, label);
}

/** assertFinds: exit 1 and a problem of `check` whose summary matches `re`. */
function assertFinds(label: string, d: { code: number; report: Report }, check: string, re: RegExp): Finding {
  const f = problems(d.report, check).find((x) => re.test(x.summary));
  assert.ok(
    f,
    `${label}: expected a ${check} problem matching ${re}; got ${JSON.stringify(d.report.findings, null, 1)}`,
  );
  assert.ok(f.fix && f.why, `${label}: the finding says why and how to fix`);
  assert.equal(d.code, 1, `${label}: exit status`);
  return f;
}

test(
  'weft doctor: clean weft and kernel flannel.1 nodes, then every planted fault',
  { timeout: 240_000 },
  async (t) => {
    needRoot();
    const tb = await Testbed.create({ store: 'embedded', tag: 'td', nodes: 2 });
    t.after(() => tb.cleanup());
    tb.writeConfig(CONFIG);
    const [nw, nk] = tb.nodes as [TestbedNode, TestbedNode];
    tb.startWeft(nw);
    const w = nodeInfo(tb, nw, await tb.waitReady(nw, 30_000));

    // The kernel node, as flanneld sets it up (flannel pkg/backend/vxlan).
    const kx = (...a: string[]): string => tb.execIn(nk.ns, 'ip', a);
    const ipt = (...a: string[]): string => tb.execIn(nk.ns, 'iptables', a);
    // flanneld's FDB entry for the weft peer, and its two FLANNEL-FWD accept rules.
    const fdbToWeft = (): void =>
      void tb.execIn(nk.ns, 'bridge', ['fdb', 'replace', w.vtepMac, 'dev', 'flannel.1', 'dst', nw.ip, 'self', 'permanent']); // prettier-ignore
    const fwdRules = (): void => {
      for (const dir of ['-s', '-d'])
        ipt('-A', 'FLANNEL-FWD', dir, '10.244.0.0/16', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'ACCEPT'); // prettier-ignore
    };
    kx('link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'local', nk.ip, 'dev', nk.dev, 'nolearning'); // prettier-ignore
    kx('link', 'set', 'flannel.1', 'mtu', '1450', 'up');
    kx('addr', 'add', '10.244.200.0/32', 'dev', 'flannel.1');
    const kmac = tb.execIn(nk.ns, 'cat', ['/sys/class/net/flannel.1/address']).trim();
    const wGw = w.subnet.split('/')[0]!;
    kx('neigh', 'replace', wGw, 'lladdr', w.vtepMac, 'dev', 'flannel.1', 'nud', 'permanent');
    fdbToWeft();
    kx('route', 'replace', w.subnet, 'via', wGw, 'dev', 'flannel.1', 'onlink');
    fs.mkdirSync(nk.dir, { recursive: true });
    fs.writeFileSync(
      nk.subnetFile,
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.200.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    );
    ipt('-N', 'FLANNEL-FWD');
    ipt('-A', 'FORWARD', '-m', 'comment', '--comment', 'flanneld forward', '-j', 'FLANNEL-FWD');
    fwdRules();
    const store = new EmbeddedStore({ dir: tb.storeDir });
    t.after(() => store.close());
    const kref = { subnet: parseIpv4Cidr('10.244.200.0/24') };
    const kattrs = vxlanLeaseAttrs(nk.ip, kmac);
    await store.createLease(kref, kattrs, 86400);
    assert.equal(
      fs.readFileSync(path.join(tb.storeDir, 'coreos.com/network/subnets/10.244.200.0-24'), 'utf8'),
      leaseJson(nk.ip, kmac),
    );
    await waitRoutes(tb, nw, ['10.244.200.0/24']);

    // A flanneld unit-file line for the kernel node (plus the embedded store weft reads instead of etcd).
    const kargs = ['--iface', nk.dev, '--subnet-file', nk.subnetFile, '--store-dir', tb.storeDir];
    const clean = (): void => assertClean('kernel node', doctor(nk, kargs));

    // Both nodes check clean, and the probe really crossed the overlay.
    const k0 = doctor(nk, kargs);
    assertClean('kernel node', k0);
    assert.equal(k0.report.node.flavor, 'kernel-vxlan');
    assert.equal(k0.report.node.lease, '10.244.200.0-24');
    assert.ok(
      k0.report.findings.some(
        (f) => f.check === 'reach' && f.status === 'ok' && /1 of 1 peers/.test(f.summary),
      ),
    );
    assert.ok(
      k0.report.findings.some((f) => f.check === 'offload' && f.status === 'note' && /veth/.test(f.summary)),
    );
    const w0 = doctor(nw, tb.weftArgs(nw));
    assertClean('weft node', w0);
    assert.equal(w0.report.node.flavor, 'weft-vxlan');
    assert.ok(w0.report.findings.some((f) => f.check === 'reach' && f.status === 'ok'));
    // Text output, exit 0.
    const text = spawnSync('ip', ['netns', 'exec', nk.ns, process.execPath, WEFT, 'doctor', ...kargs], {
      encoding: 'utf8',
    });
    assert.equal(text.status, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /^weft doctor: kernel-vxlan node, embedded store/);
    assert.match(text.stdout, /weft doctor: no problems found/);
    t.diagnostic(text.stdout);

    // 1. The underlay MTU lowered under a running flannel.1.
    kx('link', 'set', nk.dev, 'mtu', '1400');
    const f1 = assertFinds(
      'mtu',
      doctor(nk, kargs),
      'mtu',
      /flannel\.1 MTU 1450 is larger than .* 1400 - 50 = 1350/,
    );
    assert.match(f1.fix!, /Backend\.MTU/);
    assertFinds(
      'mtu',
      doctor(nk, kargs),
      'mtu',
      /FLANNEL_MTU=1450 .* larger than the overlay carries \(1350\)/,
    );
    kx('link', 'set', nk.dev, 'mtu', '1500');
    clean();

    // 2. cni0 kept the address of an old subnet: the CNI plugin's error, before it happens.
    kx('link', 'add', 'cni0', 'mtu', '1450', 'type', 'bridge');
    kx('addr', 'add', '10.244.7.1/24', 'dev', 'cni0');
    assertFinds(
      'cni0',
      doctor(nk, kargs),
      'subnet',
      /"cni0" already has an IP address different from 10\.244\.200\.1\/24/,
    );
    kx('addr', 'flush', 'dev', 'cni0');
    kx('addr', 'add', '10.244.200.1/24', 'dev', 'cni0');
    // A node with pods needs forwarding (planted off: a new namespace inherits the host's setting).
    tb.execIn(nk.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
    assertFinds('ip_forward', doctor(nk, kargs), 'iptables', /ip_forward is 0 while cni0 holds pods/);
    kx('link', 'del', 'cni0');
    clean();

    // 3. subnet.env from another lease.
    const env = fs.readFileSync(nk.subnetFile, 'utf8');
    fs.writeFileSync(nk.subnetFile, env.replace('10.244.200.1/24', '10.244.201.1/24'));
    assertFinds(
      'subnet.env',
      doctor(nk, kargs),
      'subnet',
      /FLANNEL_SUBNET=10\.244\.201\.1\/24, but this node's lease is 10\.244\.200\.0\/24/,
    );
    fs.writeFileSync(nk.subnetFile, env);

    // 4. A stale neighbour MAC for the weft peer (it "restarted with a new VTEP MAC").
    kx('neigh', 'replace', wGw, 'lladdr', '02:00:00:00:00:99', 'dev', 'flannel.1', 'nud', 'permanent');
    const d4 = doctor(nk, kargs);
    assertFinds(
      'neigh',
      d4,
      'peers',
      new RegExp(
        `neighbour ${wGw.replace(/\./g, '\\.')} has MAC 02:00:00:00:00:99, the lease says ${w.vtepMac}`,
      ),
    );
    assertFinds('neigh', d4, 'reach', /no echo reply from/);
    kx('neigh', 'replace', wGw, 'lladdr', w.vtepMac, 'dev', 'flannel.1', 'nud', 'permanent');

    // 5. A missing FDB entry, and a route for a subnet nobody leases.
    tb.execIn(nk.ns, 'bridge', ['fdb', 'del', w.vtepMac, 'dev', 'flannel.1', 'dst', nw.ip]);
    kx('route', 'add', '10.244.99.0/24', 'via', '10.244.99.0', 'dev', 'flannel.1', 'onlink');
    const d5 = doctor(nk, kargs);
    assertFinds('fdb', d5, 'peers', /no FDB entry/);
    assertFinds('stale route', d5, 'peers', /route 10\.244\.99\.0\/24 dev flannel\.1 has no lease behind it/);
    fdbToWeft();
    kx('route', 'del', '10.244.99.0/24');
    clean();

    // 6. --ip-masq on the command line, but no FLANNEL-POSTRTG; and FLANNEL-FWD flushed.
    assertFinds(
      'masq',
      doctor(nk, [...kargs, '--ip-masq']),
      'iptables',
      /FLANNEL-POSTRTG: 7 of 7 rules missing \(--ip-masq\)/,
    );
    ipt('-F', 'FLANNEL-FWD');
    assertFinds('fwd', doctor(nk, kargs), 'iptables', /FLANNEL-FWD: 2 of 3 rules missing/);
    fwdRules();

    // 7. A firewall on the weft node drops UDP 8472: silence, no port unreachable.
    tb.execIn(nw.ns, 'iptables', ['-I', 'INPUT', '-p', 'udp', '--dport', '8472', '-j', 'DROP']);
    const f7 = assertFinds(
      'firewall',
      doctor(nk, kargs),
      'reach',
      /no echo reply from .*UDP 8472.*got no port unreachable/,
    );
    assert.match(f7.fix!, /allow UDP 8472/);
    tb.execIn(nw.ns, 'iptables', ['-D', 'INPUT', '-p', 'udp', '--dport', '8472', '-j', 'DROP']);
    clean();

    // 8. The weft node's own route to the kernel peer deleted.
    tb.execIn(nw.ns, 'ip', ['route', 'del', '10.244.200.0/24', 'dev', 'flannel.1']);
    assertFinds(
      'weft route',
      doctor(nw, tb.weftArgs(nw)),
      'peers',
      /peer 10\.244\.200\.0\/24 .*no route 10\.244\.200\.0\/24 dev flannel\.1/,
    );
    tb.execIn(nw.ns, 'ip', ['route', 'replace', '10.244.200.0/24', 'dev', 'flannel.1']);

    // 9. The kernel node's lease is near expiry: nobody renews it.
    await store.updateLease(kref, kattrs, 600);
    assertFinds(
      'renewal',
      doctor(nk, kargs),
      'clock',
      /lease 10\.244\.200\.0-24 expires in \d+ s, past its renewal point/,
    );
    await store.updateLease(kref, kattrs, 86400);

    // 10. The weft peer stops: its lease stays, its port closes, the kernel answers port unreachable.
    await nw.weft!.stop();
    assertFinds('peer down', doctor(nk, kargs), 'reach', /answers UDP 8472 with port unreachable/);

    // 11. The own lease is gone.
    await store.deleteLease(kref);
    assertFinds('no lease', doctor(nk, kargs), 'subnet', /no lease in the store belongs to this node/);
  },
);

test(
  'weft doctor: a weft node on etcd, checked with its flanneld-style line and FLANNELD_* variables',
  { timeout: 120_000 },
  async (t) => {
    needRoot();
    const tb = await Testbed.create({ store: 'etcd', tag: 'tde', nodes: 2 });
    t.after(() => tb.cleanup());
    tb.writeConfig(CONFIG);
    const [n1, n2] = tb.nodes as [TestbedNode, TestbedNode];
    tb.startWeft(n1);
    tb.startWeft(n2);
    await tb.waitReady(n1, 30_000);
    await tb.waitReady(n2, 30_000);
    const i2 = nodeInfo(tb, n2, await tb.waitReady(n2, 1000), false);
    await waitRoutes(tb, n1, [i2.subnet]);

    // The unit file's line as is (--etcd-endpoints selects etcd) ...
    const d = doctor(n1, tb.weftArgs(n1));
    assertClean('etcd node', d);
    const clock = d.report.findings.find(
      (f) => f.check === 'clock' && /etcd at http:\/\/192\.0\.2\.254:2379/.test(f.summary),
    );
    assert.ok(
      clock && clock.status === 'ok',
      `the clock is compared with etcd's: ${JSON.stringify(d.report.findings)}`,
    );
    assert.ok(d.report.findings.some((f) => f.check === 'reach' && /1 of 1 peers/.test(f.summary)));

    // ... and as EnvironmentFile variables: the same store and files.
    const env = Object.entries({
      FLANNELD_ETCD_ENDPOINTS: 'http://192.0.2.254:2379',
      FLANNELD_IFACE: n1.dev,
      FLANNELD_SUBNET_FILE: n1.subnetFile,
      FLANNELD_VTEP_STATE_DIR: n1.dir,
    }).map(([k, v]) => `${k}=${v}`);
    const r = spawnSync(
      'ip',
      ['netns', 'exec', n1.ns, 'env', ...env, process.execPath, WEFT, 'doctor', '--json'],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    const rep = JSON.parse(r.stdout) as Report;
    assert.deepEqual(problems(rep), []);
    assert.equal(r.status, 0);
    assert.equal(rep.node.flavor, 'weft-vxlan');

    // etcd down: the store problem is named, the exit is 1; checks that need the config say so.
    await tb.stopEtcd();
    const down = doctor(n1, tb.weftArgs(n1));
    assertFinds('etcd down', down, 'config', /the etcd store cannot be read/);
    assert.ok(
      down.report.findings.some(
        (f) => f.check === 'mtu' && f.status === 'skipped' && /no network config/.test(f.summary),
      ),
    );
    assert.ok(down.report.findings.some((f) => f.check === 'offload' && f.status === 'note'));
  },
);
