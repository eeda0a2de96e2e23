/**
 * deploy/weft-flannel.yml: kube-flannel's objects with weft, checked offline (the conflist is the
 * stock one, net-conf.json parses, the ClusterRole is flannel's, the commands parse with weft's own
 * flag parsers) and by the real API server (`kubectl apply --dry-run=server`, as admin, against
 * the kube-apiserver built by `scripts/kube.sh build`, on loopback). No kubelet runs here, so the
 * DaemonSet itself is validated, not run. Needs root for the harness like the other kube tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { STOCK_CONFLIST } from '../../src/cni/install';
import { parseFlags } from '../../src/control/flags';
import { parseNetworkConfig } from '../../src/control/net-config';
import { FLANNEL_RBAC, KubeCluster, kubeBinDir } from '../../src/testing/kube-cluster';

const REPO = path.join(__dirname, '..', '..', '..');
const MANIFEST = path.join(REPO, 'deploy', 'weft-flannel.yml');
const WEFT = path.join(REPO, 'bin', 'weft');

type Obj = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
type Container = {
  name: string;
  command: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  securityContext?: { privileged?: boolean; capabilities?: { add?: string[] } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
};

function objects(): Obj[] {
  return parseAllDocuments(fs.readFileSync(MANIFEST, 'utf8'))
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

function find(kind: string): Obj {
  const o = objects().find((x) => x.kind === kind);
  assert.ok(o, `no ${kind} in the manifest`);
  return o;
}

test("the manifest has kube-flannel's objects, names and RBAC", () => {
  assert.deepEqual(
    objects().map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`),
    [
      'Namespace//kube-flannel',
      'ClusterRole//flannel',
      'ClusterRoleBinding//flannel',
      'ServiceAccount/kube-flannel/flannel',
      'ConfigMap/kube-flannel/kube-flannel-cfg',
      'DaemonSet/kube-flannel/kube-flannel-ds',
    ],
  );
  assert.deepEqual(find('ClusterRole').rules, FLANNEL_RBAC.rules);
});

test('ConfigMap: the stock conflist, and a net-conf.json weft accepts', () => {
  const data = find('ConfigMap').data as Record<string, string>;
  assert.deepEqual(JSON.parse(data['cni-conf.json']!), STOCK_CONFLIST);
  const nc = parseNetworkConfig(data['net-conf.json']!);
  assert.equal(nc.backend.type, 'vxlan');
  assert.deepEqual(nc.network, parseNetworkConfig('{"Network":"10.244.0.0/16"}').network);
});

test("DaemonSet: weft run's args parse as --kube-subnet-mgr --ip-masq; the install command works", (t) => {
  const spec = (
    find('DaemonSet').spec as { template: { spec: { containers: Container[]; initContainers: Container[] } } }
  ).template.spec;
  const main = spec.containers[0]!;
  assert.deepEqual(main.command, ['/opt/weft/bin/weft', 'run']);
  const flags = parseFlags(main.args ?? [], {});
  assert.equal(flags.kubeSubnetMgr, true);
  assert.equal(flags.ipMasq, true);
  assert.equal(flags.netConfigPath, '/etc/kube-flannel/net-conf.json');
  assert.deepEqual(
    main.env?.map((e) => e.name),
    ['POD_NAME', 'POD_NAMESPACE', 'EVENT_QUEUE_DEPTH', 'CONT_WHEN_CACHE_NOT_READY'],
  );
  // flanneld's privileges (not privileged: the API server's default --allow-privileged=false
  // refuses that), plus the TUN device weft's dataplane opens.
  assert.equal(main.securityContext?.privileged, false);
  assert.deepEqual(main.securityContext?.capabilities?.add, ['NET_ADMIN', 'NET_RAW']);
  assert.ok(main.volumeMounts?.some((m) => m.mountPath === '/dev/net/tun'));
  // The init container's `weft cni install`, pointed at a scratch directory, installs the bundle.
  const install = spec.initContainers.find((c) => c.name === 'install-cni-plugin')!;
  assert.equal(install.command[0], '/opt/weft/bin/weft');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-deploy-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const args = (install.args ?? []).map((a) =>
    a === '/opt/cni/bin' ? dir : a === '/usr/bin/node' ? process.execPath : a,
  );
  const r = spawnSync(process.execPath, [WEFT, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(
    fs.existsSync(path.join(dir, 'flannel')) &&
      fs.existsSync(path.join(dir, '.flannel.weft', 'cni', 'main.js')),
  );
  const cp = spec.initContainers.find((c) => c.name === 'install-cni')!;
  assert.deepEqual(cp.args, ['-f', '/etc/kube-flannel/cni-conf.json', '/etc/cni/net.d/10-flannel.conflist']);
});

test(
  'kubectl apply --dry-run=server accepts the manifest (real kube-apiserver)',
  { timeout: 180_000 },
  async (t) => {
    if (process.getuid?.() !== 0)
      throw new Error('this test needs root like the other kube-apiserver tests; CI runs as root');
    kubeBinDir(); // names `scripts/kube.sh build` when the binaries are missing
    const kc = await KubeCluster.start({ nodeIpam: false });
    t.after(() => kc.destroy());
    const out = kc.kubectl(['apply', '--dry-run=server', '-f', MANIFEST]);
    for (const o of [
      'namespace/kube-flannel',
      'clusterrole.rbac.authorization.k8s.io/flannel',
      'clusterrolebinding.rbac.authorization.k8s.io/flannel',
      'serviceaccount/flannel',
      'configmap/kube-flannel-cfg',
      'daemonset.apps/kube-flannel-ds',
    ])
      assert.match(out, new RegExp(`^${o.replace(/\./g, '\\.')} .*\\(server dry run\\)$`, 'm'), out);
    // Nothing was created: the dry run stays a dry run.
    assert.throws(
      () => kc.kubectl(['-n', 'kube-flannel', 'get', 'daemonset', 'kube-flannel-ds']),
      /NotFound|not found/,
    );
    // The server does validate: a DaemonSet whose selector misses the pod labels is refused.
    const broken = fs
      .readFileSync(MANIFEST, 'utf8')
      .replace('matchLabels:\n      app: flannel', 'matchLabels:\n      app: other');
    assert.notEqual(broken, fs.readFileSync(MANIFEST, 'utf8'));
    assert.throws(
      () => kc.kubectl(['apply', '--dry-run=server', '-f', '-'], broken),
      /selector.*does not match template|`selector` does not match/,
    );
  },
);
