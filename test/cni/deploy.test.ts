/**
 * deploy/weft-flannel.yml: kube-flannel's objects with weft, checked offline (the conflist is the
 * stock one, net-conf.json parses, the ClusterRole is flannel's, the commands parse with weft's own
 * flag parsers). The real API server's check (`kubectl apply --dry-run=server`) needs root for
 * the harness and lives in deploy.netns.test.ts.
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
import { FLANNEL_RBAC } from '../../src/testing/flannel-rbac';

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
  // refuses that), plus the TUN device weft's dataplane opens and SYS_NICE for its real-time
  // forwarding threads.
  assert.equal(main.securityContext?.privileged, false);
  assert.deepEqual(main.securityContext?.capabilities?.add, ['NET_ADMIN', 'NET_RAW', 'SYS_NICE']);
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
