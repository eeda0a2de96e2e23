/**
 * `weft bench --svg` and `--csv` from the recorded runs in bench/records (no benchmark runs): every
 * measure gets a panel, every measured row a dot with its figure and ratio to kernel, the min-max
 * spread where rounds differ, points and no lines for two MTUs, lines for a sweep; the CSV carries
 * the same figures. `--from` redraws a record through the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderSvg } from '../../src/benchsuite/chart';
import { CSV_COLUMNS, renderCsv } from '../../src/benchsuite/csv';
import type { BenchReport } from '../../src/benchsuite/report';
import { CASE_LABELS } from '../../src/benchsuite/cases';
import { REPO_ROOT, WEFT_BIN } from '../helpers/paths';

const RECORD = join(REPO_ROOT, 'bench', 'records', 'weft-bench-issue5-run3.json');
const load = (p: string): BenchReport => JSON.parse(readFileSync(p, 'utf8')) as BenchReport;
const count = (s: string, re: RegExp): number => (s.match(re) ?? []).length;

/** csvFields splits one RFC 4180 line (quoted fields may hold commas and doubled quotes). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') ((cur += '"'), i++);
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') (out.push(cur), (cur = ''));
    else cur += ch;
  }
  out.push(cur);
  return out;
}

test('the chart of a 3-round, 2-MTU record has every measure, dot, ratio and spread, and no lines', () => {
  const r = load(RECORD);
  const svg = renderSvg(r);
  for (const title of ['TCP, 1 stream', 'TCP, 4 streams', '64-byte UDP', 'Tunnel CPU per gigabit']) {
    assert.ok(svg.includes(`>${title}`), title);
  }
  for (const c of r.options.cases) assert.ok(svg.includes(CASE_LABELS[c]), c);
  // Dots: each row with a figure, per measure (CPU is null for kernel and veth).
  const finite = (x: number | null): boolean => x !== null && Number.isFinite(x);
  const want =
    r.rows.filter((x) => finite(x.tcp1Gbps)).length +
    r.rows.filter((x) => finite(x.tcp4Gbps)).length +
    r.rows.filter((x) => finite(x.udpPps)).length +
    r.rows.filter((x) => finite(x.cpuSecPerGbit)).length;
  assert.equal(count(svg, /class="dot"/g), want);
  assert.equal(count(svg, /<polyline/g), 0, 'two MTUs are points, not lines');
  assert.match(svg, /MTU 1500/);
  assert.match(svg, /MTU 9000/);
  // The weft batch row at MTU 1500: its median and ratio to kernel, as the table prints them.
  const b = r.rows.find((x) => x.case === 'weft-batch' && x.mtu === 1500)!;
  assert.ok(
    svg.includes(`>${b.tcp1Gbps.toFixed(2)}</tspan><tspan fill="#333">  ${b.ratioTcp1.toFixed(2)}×<`),
  );
  // Spread bars where the rounds differ (every row here has 3 differing TCP and UDP samples).
  const spreads = r.rows
    .flatMap((x) => [x.tcp1Samples, x.tcp4Samples, x.udpPpsSamples])
    .filter((s) => s.length > 1 && Math.min(...s) !== Math.max(...s)).length;
  assert.equal(count(svg, /class="spread"/g), spreads);
  assert.match(svg, /min–max across rounds/);
  assert.match(svg, /no tunnel process/);
});

test('a sweep (three or more MTUs) adds lines through the measured MTUs; a single metric draws one panel', () => {
  const r = load(RECORD);
  const sweep: BenchReport = {
    ...r,
    options: { ...r.options, mtus: [1500, 4000, 9000] },
    rows: [...r.rows, ...r.rows.filter((x) => x.mtu === 1500).map((x) => ({ ...x, mtu: 4000 }))],
  };
  const svg = renderSvg(sweep);
  assert.equal(count(svg, /<polyline/g), r.options.cases.length);
  assert.match(svg, /across the MTU sweep/);
  const rss = load(join(REPO_ROOT, 'bench', 'records', 'weft-bench-issue5-rss.json'));
  const one = renderSvg(rss);
  assert.match(one, />TCP, 1 stream</);
  assert.doesNotMatch(one, />TCP, 4 streams</, 'a measure that was not run has no panel');
});

test('CSV: a header and one line per case and MTU, with medians, spread and ratios', () => {
  const r = load(RECORD);
  const lines = renderCsv(r).split('\r\n');
  assert.equal(lines.at(-1), '', 'ends with CRLF');
  assert.equal(lines[0], CSV_COLUMNS.join(','));
  assert.equal(lines.length - 2, r.rows.length);
  const col = (name: (typeof CSV_COLUMNS)[number]): number => CSV_COLUMNS.indexOf(name);
  r.rows.forEach((row, i) => {
    const f = csvFields(lines[i + 1]!);
    assert.equal(f.length, CSV_COLUMNS.length, lines[i + 1]);
    assert.equal(f[col('mtu')], String(row.mtu));
    assert.equal(f[col('case')], row.case);
    assert.equal(f[col('label')], row.label);
    assert.ok(Math.abs(Number(f[col('tcp1_gbps')]) - row.tcp1Gbps) < 1e-4);
    assert.ok(Math.abs(Number(f[col('tcp1_min')]) - Math.min(...row.tcp1Samples)) < 1e-4);
    assert.ok(Math.abs(Number(f[col('tcp4_max')]) - Math.max(...row.tcp4Samples)) < 1e-4);
    assert.ok(Math.abs(Number(f[col('udp64_x_kernel')]) - row.ratioUdp) < 1e-4);
    assert.equal(f[col('tunnel_cpu_s_per_gbit')] === '', row.cpuSecPerGbit === null);
    // A record made before the kernel's CPU was measured leaves those columns empty.
    assert.equal(f[col('kernel_cpu_s_per_gbit')] === '', row.kernelCpuSecPerGbit == null);
  });
});

test('weft bench --from RECORD --svg --csv redraws a record without measuring', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-chart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const svg = join(dir, 'c.svg');
  const csv = join(dir, 'c.csv');
  const r = spawnSync(process.execPath, [WEFT_BIN, 'bench', '--from', RECORD, '--svg', svg, '--csv', csv], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(svg, 'utf8'), renderSvg(load(RECORD)));
  assert.equal(readFileSync(csv, 'utf8'), renderCsv(load(RECORD)));
  const bad = spawnSync(
    process.execPath,
    [WEFT_BIN, 'bench', '--from', join(REPO_ROOT, 'package.json'), '--svg', svg],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /not a weft bench --json record.*\[WEFT_ERR_FORMAT\]/);
  const noOut = spawnSync(process.execPath, [WEFT_BIN, 'bench', '--from', RECORD], { encoding: 'utf8' });
  assert.equal(noOut.status, 2);
});
