/**
 * deploy/weft-flannel.yml checked by the real API server (`kubectl apply --dry-run=server`, as
 * admin, against the kube-apiserver built by `scripts/kube.sh build`, on loopback). No kubelet runs
 * here, so the DaemonSet itself is validated, not run. Needs root for the harness like the other
 * kube tests (CI runs as root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { KubeCluster, kubeBinDir } from '../../src/testing/kube-cluster';

const MANIFEST = path.join(__dirname, '..', '..', '..', 'deploy', 'weft-flannel.yml');

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
