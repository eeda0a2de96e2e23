/**
 * `weft doctor --kube-subnet-mgr` against a real kube-apiserver (built by `scripts/kube.sh build`)
 * in the testbed's switch namespace, with flannel's own ClusterRole: a Node without a podCIDR is
 * flanneld's "pod cidr not assigned", one outside Network is "doesn't contain", an assigned one is
 * fine, an unknown NODE_NAME is named. Needs root and the built binaries (the kube harness fails
 * naming `scripts/kube.sh build` without them).
 *
 * Kubernetes mode (src/control/kube, src/testing/kube-cluster.ts, test/daemon/kube-helpers.ts) is
 * loaded at run time: in a tree without it this test is reported as skipped, never as passed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Testbed, TestbedNode } from '../../src/testing/testbed';
import type { Finding } from '../../src/doctor/finding';
import { WEFT, needRoot } from '../daemon/cluster-helpers';

/** The parts of the kube test harness this test uses. */
interface KubeHarness {
  kubeBinDir(): string;
  startKube(tb: Testbed, nodeIpam: boolean): Promise<{ flannelKubeconfig: string; stop(): Promise<void> }>;
  createNode(kc: unknown, name: string, podCIDR?: string): Promise<void>;
  netConfFile(tb: Testbed): string;
}

const HARNESS = path.join(__dirname, '..', '..', 'src', 'testing', 'kube-cluster.js');

function loadHarness(): KubeHarness {
  const cluster = require(HARNESS) as Pick<KubeHarness, 'kubeBinDir'>;
  const helpers = require(path.join(__dirname, '..', 'daemon', 'kube-helpers.js')) as Omit<
    KubeHarness,
    'kubeBinDir'
  >;
  return { ...helpers, kubeBinDir: cluster.kubeBinDir };
}

function doctor(
  nd: TestbedNode,
  nodeName: string,
  args: readonly string[],
): { code: number; findings: Finding[] } {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', nd.ns, 'env', `NODE_NAME=${nodeName}`, process.execPath, WEFT, 'doctor', '--json', '--probe=false', ...args],
    { encoding: 'utf8', timeout: 60_000 },
  ); // prettier-ignore
  assert.ok(r.stdout.startsWith('{'), `doctor printed no JSON (exit ${r.status}): ${r.stdout}${r.stderr}`);
  return { code: r.status ?? -1, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
}

test(
  'weft doctor --kube-subnet-mgr: podCIDR missing, outside Network, assigned, unknown node',
  {
    timeout: 180_000,
    skip: fs.existsSync(HARNESS) ? false : 'Kubernetes mode (src/control/kube) is not in this tree',
  },
  async (t) => {
    needRoot();
    const k = loadHarness();
    k.kubeBinDir();
    const tb = await Testbed.create({ nodes: 1, tag: 'tdk' });
    let kc: Awaited<ReturnType<KubeHarness['startKube']>> | null = null;
    t.after(async () => {
      await kc?.stop();
      await tb.cleanup();
    });
    const nd = tb.nodes[0]!;
    kc = await k.startKube(tb, false);
    const args = ['--kube-subnet-mgr', '--kubeconfig-file', kc.flannelKubeconfig, '--net-config-path', k.netConfFile(tb), '--iface', nd.dev, '--subnet-file', nd.subnetFile]; // prettier-ignore
    const podcidr = (fs: Finding[]): Finding[] => fs.filter((f) => f.check === 'podcidr');

    await k.createNode(kc, 'n1');
    const d1 = doctor(nd, 'n1', args);
    assert.equal(d1.code, 1);
    const f1 = podcidr(d1.findings)[0]!;
    assert.equal(f1.status, 'problem', JSON.stringify(d1.findings));
    assert.match(f1.summary, /node "n1" pod cidr not assigned/);
    assert.match(f1.fix!, /kubectl patch node n1/);

    await k.createNode(kc, 'n2', '10.99.1.0/24');
    const f2 = podcidr(doctor(nd, 'n2', args).findings)[0]!;
    assert.equal(f2.status, 'problem');
    assert.match(f2.summary, /10\.244\.0\.0\/16 doesn't contain it/);

    await k.createNode(kc, 'n3', '10.244.3.0/24');
    assert.deepEqual(
      podcidr(doctor(nd, 'n3', args).findings).map((f) => [f.status, f.summary]),
      [['ok', 'node "n3" podCIDR 10.244.3.0/24 is inside 10.244.0.0/16']],
    );

    assert.match(podcidr(doctor(nd, 'nosuch', args).findings)[0]!.summary, /node "nosuch" does not exist/);
  },
);
