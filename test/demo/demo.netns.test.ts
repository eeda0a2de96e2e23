/**
 * `weft demo` end to end (embedded store): exits 0, prints leases, routes, pings for every pair,
 * an iperf3 result and the summary, and leaves no namespace or process behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';

const WEFT = path.join(__dirname, '..', '..', '..', 'bin', 'weft');

test('weft demo runs end to end and cleans up', { timeout: 180_000 }, async () => {
  if (process.getuid?.() !== 0)
    throw new Error('this test needs root (weft demo creates network namespaces); CI runs as root');
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [WEFT, 'demo', '--iperf-seconds', '2'],
      { timeout: 150_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
  assert.equal(r.code, 0, `weft demo failed:\n${r.stdout}\n${r.stderr}`);
  const out = r.stdout;
  assert.match(out, /result: OK/);
  // Leases as `cat` shows them: flannel's exact JSON.
  const leases = out.match(
    /^\{"PublicIP":"192\.0\.2\.[123]","PublicIPv6":null,"BackendType":"vxlan","BackendData":\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\}\}$/gm,
  );
  assert.equal(leases?.length, 3, out);
  assert.equal(out.match(/^-- node\d \(/gm)?.length, 3, 'ip route per node');
  assert.equal(
    out.match(/^node\d +node\d \(10\.244\.\d+\.1\) +3\/3 /gm)?.length,
    6,
    'six pairs, all answered',
  );
  assert.match(out, /^iperf3 node1 -> node2: \d+\.\d+ Gbit\/s$/m);
  assert.match(out, /^node +namespace +underlay +subnet \(lease\) +VTEP MAC +MTU/m);
  // Nothing left behind.
  const sw = /namespaces: switch (\S+)/.exec(out)?.[1];
  assert.ok(sw, out);
  const tag = sw.slice(0, -1);
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.ok(!left.includes(tag), `namespaces left behind:\n${left}`);
  const pids = [...out.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
  assert.equal(pids.length, 3);
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `weft pid ${pid} still running`);
});
