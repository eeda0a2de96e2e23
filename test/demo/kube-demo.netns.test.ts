/**
 * `weft demo --kube` end to end, which is also the three-node pod full-mesh test: a real
 * kube-apiserver with nodeipam, `weft run --kube-subnet-mgr` per node with flannel's
 * ServiceAccount token, two pods per node attached by weft's flannel CNI plugin through the real
 * bridge/host-local/portmap plugins, and every pod pinging every other pod. Checks flannel's
 * annotations byte for byte, subnet.env from the podCIDR, and that nothing is left behind.
 * Needs root and the binaries of `scripts/kube.sh build` (the demo would build them, but a test
 * must not take 12 minutes: it fails naming the command instead).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { kubeBinDir } from '../../src/testing/kube-cluster';

const WEFT = path.join(__dirname, '..', '..', '..', 'bin', 'weft');

test(
  'weft demo --kube: pods on three weft nodes reach each other; everything cleaned up',
  { timeout: 300_000 },
  async () => {
    if (process.getuid?.() !== 0)
      throw new Error('this test needs root (namespaces, bridges, TUN, a kube-apiserver); CI runs as root');
    kubeBinDir();
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [WEFT, 'demo', '--kube'],
        { timeout: 280_000, maxBuffer: 8 << 20 },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });
    const out = r.stdout;
    assert.equal(r.code, 0, `weft demo --kube failed:\n${out}\n${r.stderr}`);
    assert.match(out, /^result: OK/m);

    // podCIDRs from nodeipam, and each node's subnet.env written from its own.
    const cidrs = new Map(
      [...out.matchAll(/^ {3}(node\d): podCIDR (10\.244\.(\d+)\.0\/24)$/gm)].map((m) => [m[1]!, m[3]!]),
    );
    assert.equal(cidrs.size, 3, out);
    for (const [node, third] of cidrs)
      assert.match(
        out,
        new RegExp(
          `^ {3}${node} ready: FLANNEL_NETWORK=10\\.244\\.0\\.0/16 FLANNEL_SUBNET=10\\.244\\.${third}\\.1/24 FLANNEL_MTU=1450 FLANNEL_IPMASQ=true$`,
          'm',
        ),
      );
    // flannel's annotations, exactly as flanneld writes them for vxlan.
    for (const i of [1, 2, 3]) {
      const block = new RegExp(
        `^-- node${i}\\n` +
          ' {3}flannel\\.alpha\\.coreos\\.com/backend-data: \\{"VNI":1,"VtepMAC":"[0-9a-f]{2}(:[0-9a-f]{2}){5}"\\}\\n' +
          ' {3}flannel\\.alpha\\.coreos\\.com/backend-type: vxlan\\n' +
          ' {3}flannel\\.alpha\\.coreos\\.com/kube-subnet-manager: true\\n' +
          ` {3}flannel\\.alpha\\.coreos\\.com/public-ip: 192\\.0\\.2\\.${i}$`,
        'm',
      );
      assert.match(out, block);
      assert.match(
        out,
        new RegExp(`^node${i} +Unknown .* 192\\.0\\.2\\.${i} `, 'm'),
        'kubectl get nodes -o wide',
      );
    }
    // Six pods attached by the CNI plugin, each in its node's podCIDR.
    const pods = [...out.matchAll(/^ {3}node(\d) pod \S+: eth0 10\.244\.(\d+)\.\d+ \(CNI ADD\)$/gm)];
    assert.equal(pods.length, 6, out);
    for (const p of pods) assert.equal(p[2], cidrs.get(`node${p[1]}`));
    // The full mesh: 30 ordered pairs (24 across nodes over VXLAN), every one answered.
    const rows = [...out.matchAll(/^node\d\/p\d \S+ +node\d\/p\d \S+ +(bridge|vxlan) +(\d)\/(\d)$/gm)];
    assert.equal(rows.length, 30, out);
    assert.equal(rows.filter((m) => m[1] === 'vxlan').length, 24);
    for (const m of rows) assert.equal(m[2], m[3], m[0]);
    // Full-size packets too: 4 MiB over TCP between pods on node1 and node2, identical on arrival.
    const tcp = /^ {3}sent ([0-9a-f]{16})… {2}received ([0-9a-f]{16})… {2}match$/m.exec(out);
    assert.ok(tcp && tcp[1] === tcp[2], out);
    assert.equal(out.match(/^ {3}\S+: DEL$/gm)?.length, 6, 'CNI DEL per pod');

    // Nothing left: namespaces, weft, relays, control plane.
    const tag = /namespaces: switch (\S+)s \(/.exec(out)?.[1];
    assert.ok(tag, out);
    assert.ok(
      !execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(tag),
      'namespaces left behind',
    );
    const pids = [
      ...[...out.matchAll(/\(pid (\d+)\)/g)].map((m) => m[1]!),
      ...[...out.matchAll(/pids ([\d ]+)\)/g)].flatMap((m) => m[1]!.trim().split(' ')),
    ].map(Number);
    assert.ok(pids.length >= 3 + 3 + 4, `pids found: ${pids.join(' ')}`);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `pid ${pid} still running`);
  },
);
