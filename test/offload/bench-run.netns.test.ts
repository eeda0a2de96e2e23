/**
 * `weft bench --cases weft-run,weft-run-other`: one short real run (1 s, MTU 1500, tcp1 only) that
 * builds two `weft run` daemons sharing an embedded lease store in the bench's namespaces and
 * measures TCP through them, with the daemons' CPU time accounted. Needs root (namespaces, TUN),
 * iperf3 and iproute2; CI runs as root.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchReport } from '../../src/benchsuite/report';

const WEFT = join(__dirname, '..', '..', '..', 'bin', 'weft');

describe('weft bench weft-run (namespaces, root)', () => {
  test('weft-run and weft-run-other forward TCP between the leased subnets, CPU accounted', async (t) => {
    if (process.getuid?.() !== 0)
      throw new Error('this test needs root (network namespaces, TUN); CI runs as root');
    const dir = mkdtempSync(join(tmpdir(), 'weft-bench-run-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const json = join(dir, 'b.json');
    const args = [WEFT, 'bench', '--duration', '1', '--mtu', '1500', '--metrics', 'tcp1', '--cases', 'weft-run,weft-run-other', '--json', json]; // prettier-ignore
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      execFile(process.execPath, args, { timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /\| 1500 \| weft run VXLAN \(daemon\) \|/);
    const r = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    assert.deepEqual(
      r.rows.map((x) => x.case),
      ['weft-run', 'weft-run-other'],
    );
    for (const x of r.rows) {
      assert.deepEqual(x.errors, [], `${x.case}: iperf3 errors`);
      assert.ok(x.tcp1Gbps > 0, `${x.case}: positive throughput`);
      assert.ok(x.cpuSecPerGbit !== null && x.cpuSecPerGbit > 0, `${x.case}: daemon CPU accounted`);
      assert.ok(x.rssMaxMiB !== null && x.rssMaxMiB > 0, `${x.case}: daemon RSS accounted`);
    }
    // The overlay addresses are the leases' .1, from the shared store: distinct /24s of 10.244/16.
    const lease = r.notes.find((n) => n.includes('weft-run:'));
    assert.match(lease ?? '', /10\.244\.\d+\.1 -> 10\.244\.\d+\.1, weft run .*--store embedded/);
    // Each node's /debug/stats is in the record: the forwarding threads' policy, per case.
    const stats = r.notes.filter((n) => /weft-run(-other)? \S+: \/debug\/stats: \{/.test(n));
    assert.equal(stats.length, 4, r.notes.join('\n'));
    assert.ok(
      stats.some((n) => n.includes('weft-run-other') && n.includes('"wanted":"other"')),
      stats.join('\n'),
    );
  });
});
