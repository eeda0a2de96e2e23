/**
 * `weft bench`: flag parsing, the tool check and the report renderers. The real quick run needs
 * root and lives in bench.netns.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTools, parseArgs, usage } from '../../src/cli/commands/bench';
import { CASE_LABELS, CASE_NAMES, DEFAULT_CASES } from '../../src/benchsuite/cases';
import { formatTable, type BenchReport, type Row } from '../../src/benchsuite/report';
import { renderSvg } from '../../src/benchsuite/chart';
import { FlagValueError, ToolMissingError, UsageError } from '../../src/errors';

function row(mtu: number, c: Row['case'], tcp1: number): Row {
  return {
    mtu, case: c, label: c, tcp1Gbps: tcp1, tcp1Samples: [tcp1], tcp4Gbps: tcp1 * 1.2, tcp4Samples: [tcp1 * 1.2],
    udpPps: 1000, udpPpsSamples: [1000], udpLossPct: 1, ratioTcp1: 1, ratioTcp4: 1, ratioUdp: 1,
    cpuSecPerGbit: null, rssMaxMiB: null, rssGrowthMiB: null, errors: [],
  }; // prettier-ignore
}

describe('weft bench (unit)', () => {
  test('parses lists, defaults and --quick; refuses bad flags (UsageError) and values (FlagValueError)', () => {
    const d = parseArgs([]);
    assert.deepEqual(d.mtus, [1500, 9000]);
    assert.equal(d.duration, 5);
    assert.ok(d.cases.includes('kernel') && d.cases.includes('veth'));
    const q = parseArgs([
      '--quick',
      '--mtu',
      '1280,1500,4000,9000',
      '--cases=veth,kernel',
      '--json',
      'x.json',
    ]);
    assert.equal(q.duration, 2);
    assert.deepEqual(q.mtus, [1280, 1500, 4000, 9000]);
    assert.deepEqual(q.cases, ['veth', 'kernel']);
    assert.equal(q.json, 'x.json');
    assert.throws(() => parseArgs(['--mtu', '99']), /--mtu: must be an integer in 1280..65535 \("99"\)/);
    assert.throws(() => parseArgs(['--mtu', '99']), FlagValueError);
    assert.throws(() => parseArgs(['--cases', 'wireguard']), FlagValueError);
    assert.throws(() => parseArgs(['--frobnicate']), UsageError);
    assert.throws(() => parseArgs(['--duration']), UsageError);
    assert.deepEqual(parseArgs(['--metrics', 'tcp1']).metrics, ['tcp1']);
    assert.throws(() => parseArgs(['--metrics', 'sctp']), FlagValueError);
  });

  test('weft-run and weft-run-other are cases with labels and help lines, not in the default list', () => {
    for (const c of ['weft-run', 'weft-run-other'] as const) {
      assert.ok((CASE_NAMES as readonly string[]).includes(c), c);
      assert.ok(!DEFAULT_CASES.includes(c), `${c} is opt-in`);
      assert.match(CASE_LABELS[c], /weft run/);
      assert.match(usage, new RegExp(`\\n  ${c} +\\S`), `help describes ${c}`);
    }
    assert.deepEqual(parseArgs(['--cases', 'kernel,weft-run,weft-run-other']).cases, [
      'kernel',
      'weft-run',
      'weft-run-other',
    ]);
  });

  test('a missing tool is a ToolMissingError naming the apt-get command', () => {
    assert.throws(
      () => checkTools(['kernel', 'socat'], (t) => t !== 'iperf3' && t !== 'socat'),
      (e: unknown) => e instanceof ToolMissingError && /apt-get install -y iperf3 socat/.test(e.message),
    );
    assert.doesNotThrow(() => checkTools(['veth'], (t) => t !== 'socat'));
  });

  test('table and SVG carry every case and MTU', () => {
    const report: BenchReport = {
      tool: 'weft bench', version: 1, date: '2026-11-25T00:00:00Z', command: 'weft bench',
      machine: { cpus: 2, model: 'x', kernel: '6.18', node: 'v20' },
      options: { mtus: [1500, 9000], cases: ['kernel', 'weft-batch'], duration: 5, rounds: 1, metrics: ['tcp1', 'tcp4', 'udp64'] },
      rows: [row(1500, 'kernel', 16), row(9000, 'kernel', 17), row(1500, 'weft-batch', 4), row(9000, 'weft-batch', NaN)],
      notes: [],
    }; // prettier-ignore
    const t = formatTable(report.rows);
    assert.equal(t.split('\n').length, 2 + 4);
    assert.match(t, /\| 9000 \| weft-batch \| - \|/);
    const svg = renderSvg(report);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 0, 'two MTUs: points, no lines');
    assert.equal((svg.match(/class="dot"/g) ?? []).length, 3 + 3 + 4, 'weft at 9000 has no TCP figures');
    assert.ok(svg.includes('>MTU 9000<') && svg.includes('>MTU 1500<'));
    assert.ok(svg.includes('kernel VXLAN') && svg.includes('weft VXLAN (batch)'));
  });
});
