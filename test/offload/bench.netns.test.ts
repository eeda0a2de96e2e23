/**
 * `weft bench`: one real quick run (veth + kernel VXLAN, 1 s, MTU 1500) whose JSON and SVG are
 * checked for structure and for non-zero figures. Needs root (namespaces), iperf3 and iproute2;
 * CI runs as root.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchReport } from '../../src/benchsuite/report';

const WEFT = join(__dirname, '..', '..', '..', 'bin', 'weft');

describe('weft bench (namespaces, root)', () => {
  test('--quick on MTU 1500 for veth and kernel writes JSON and SVG with positive figures', async (t) => {
    if (process.getuid?.() !== 0)
      throw new Error('this test needs root (network namespaces); CI runs as root');
    const dir = mkdtempSync(join(tmpdir(), 'weft-bench-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const json = join(dir, 'b.json');
    const svg = join(dir, 'b.svg');
    const args = [WEFT, 'bench', '--quick', '--duration', '1', '--mtu', '1500', '--cases', 'veth,kernel', '--json', json, '--svg', svg]; // prettier-ignore
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve) => {
      const p = execFile(process.execPath, args, { timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      void p;
    });
    assert.equal(code, 0, stderr);
    assert.match(stderr, /\[1\/6\] MTU 1500 veth tcp1/, 'progress on stderr');
    assert.match(stdout, /\| 1500 \| kernel VXLAN \|/);
    const r = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    assert.equal(r.tool, 'weft bench');
    assert.deepEqual(r.options.mtus, [1500]);
    assert.equal(r.rows.length, 2);
    for (const x of r.rows) {
      assert.deepEqual(x.errors, [], `${x.case}: iperf3 errors`);
      assert.ok(x.tcp1Gbps > 0 && x.tcp4Gbps > 0 && x.udpPps > 0, `${x.case}: positive figures`);
    }
    const k = r.rows.find((x) => x.case === 'kernel')!;
    assert.equal(k.ratioTcp1, 1);
    // The kernel's own CPU (system + irq + softirq from /proc/stat) gives kernel VXLAN a CPU row:
    // no tunnel process, the path is the kernel.
    assert.equal(k.cpuSecPerGbit, null);
    assert.ok((k.kernelCpuSecPerGbit ?? 0) > 0, `kernel CPU: ${JSON.stringify(k)}`);
    assert.equal(k.pathCpuSecPerGbit, k.kernelCpuSecPerGbit);
    assert.equal(k.ratioPathCpu, 1);
    assert.match(stdout, /kernel CPU s\/Gbit/);
    const s = readFileSync(svg, 'utf8');
    assert.match(s, /^<svg /);
    assert.ok(s.includes('bare veth') && s.includes('kernel VXLAN'));
  });
});
