/**
 * `weft bench`: the benchmark users run. Builds two namespaces joined by veth per case and
 * measures, in one run and for each underlay MTU, kernel VXLAN, weft VXLAN (batch and dgram),
 * weft flannel-UDP, socat TUN/UDP and the bare veth with iperf3 (src/benchsuite/). Progress goes
 * to stderr; the table (with ratios to kernel VXLAN of the same run) to stdout; --json and --svg
 * write the record and a chart of throughput against MTU.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { FormatError, SystemError, UsageError } from '../../errors';
import { commandLine, intValue, listValue, numberValue, parseArgv } from '../args';
import { checkInputPath, checkOutputPath } from '../files';
import { requireTools } from '../../testing/tools';
import { CASE_NAMES, DEFAULT_CASES, type CaseName } from '../../benchsuite/cases';
import { CPU_LEGEND, formatTable, type BenchReport } from '../../benchsuite/report';
import { renderCsv } from '../../benchsuite/csv';
import { renderSvg } from '../../benchsuite/chart';
import { METRICS, type Metric } from '../../benchsuite/measure';
import { runBench } from '../../benchsuite/run';

/** usage is the `weft help bench` text. */
export const usage = `usage: weft bench [--mtu 1500,9000] [--duration S] [--rounds N]
                  [--cases kernel,weft-batch,weft-dgram,weft-udp,socat,veth]
                  [--metrics tcp1,tcp4,udp64] [--json FILE] [--svg FILE] [--csv FILE] [--quick]

Measures, in one run and for each underlay MTU, TCP throughput (iperf3, 1 and 4 streams),
64-byte UDP packets/s and loss, CPU seconds per gigabit (tunnel processes, the kernel's system +
irq + softirq from /proc/stat, and their sum, the path) and the tunnels' peak RSS, for:
  kernel      kernel VXLAN configured as flannel does (flannel.1, VNI 1, port 8472)
  weft-batch  weft link --backend vxlan --io batch (offloads on)
  weft-nooff  weft link --backend vxlan --io batch --offload off (not in the default list)
  weft-w2     weft link --backend vxlan --io batch --workers 2 (not in the default list)
  weft-fixed  weft link --backend vxlan --io batch --src-port fixed (not in the default list)
  weft-flow   weft link --backend vxlan --io batch --src-port flow (not in the default list)
  weft-rco    weft link --backend vxlan --io batch --vxlan-rco (not in the default list)
  weft-readv  weft-batch with WEFT_TUN_IO=readv: no io_uring TUN batches (not in the default list)
  weft-uring  weft-batch with WEFT_TUN_IO=io_uring, the default said explicitly (not in the default list)
  weft-noyield weft-batch with WEFT_YIELD_BUDGET=0: loops never yield the CPU (not in the default list)
  weft-run    two \`weft run\` daemons (embedded lease store, the demo's config, forwarding threads
              on SCHED_RR): the node users deploy (not in the default list)
  weft-run-other weft-run with WEFT_FORWARDING_SCHED=other (not in the default list)
  weft-dgram  weft link --backend vxlan --io dgram
  weft-udp    weft link --backend udp (flannel-UDP)
  socat       socat TUN <-> UDP, a per-packet userspace tunnel
  veth        the underlay alone
Each case gets two fresh network namespaces joined by veth (192.0.2.1/.2); everything is removed
afterwards, also on Ctrl-C. Ratios are to kernel VXLAN at the same MTU in the same run.
Needs root, iperf3, socat (for the socat case) and iproute2.

  --mtu LIST      underlay MTUs, comma-separated (default 1500,9000)
  --duration S    seconds per iperf3 run (default 5; 2 with --quick)
  --rounds N      repetitions; figures are medians (default 1)
  --cases LIST    cases to run (default kernel,weft-batch,weft-dgram,weft-udp,socat,veth)
  --metrics LIST  what to measure (default tcp1,tcp4,udp64; e.g. tcp1 with --duration 120 for an
                  RSS soak: the JSON has each run's RSS at start and end)
  --json FILE     write the full record (every sample) as JSON
  --svg FILE      write a chart of every measure, with ratios to kernel and the spread across
                  rounds (open it in a browser); weft bench --svg FILE --from RECORD.json redraws
                  a recorded run without measuring
  --csv FILE      write one line per case and MTU (medians, min, max, ratios) for a spreadsheet
  --from FILE     take the results from a --json record instead of measuring (with --svg/--csv)
  --quick         short runs (2 s) for a smoke test`;

/** checkTools throws ToolMissingError naming the apt-get command for every missing program. */
export function checkTools(cases: readonly CaseName[], has?: (tool: string) => boolean): void {
  const need = ['ip', 'ss', 'iperf3', 'ping'];
  if (cases.includes('kernel')) need.push('bridge');
  if (cases.includes('socat')) need.push('socat');
  requireTools(need, has);
}

interface Parsed {
  mtus: number[];
  cases: CaseName[];
  duration: number;
  rounds: number;
  metrics: Metric[];
  json: string | null;
  svg: string | null;
  csv: string | null;
  from: string | null;
}

/** parseArgs parses the command line; throws UsageError. */
export function parseArgs(argv: string[]): Parsed {
  const VALUES = [
    '--mtu',
    '--cases',
    '--duration',
    '--rounds',
    '--metrics',
    '--json',
    '--svg',
    '--csv',
    '--from',
  ] as const;
  const a = parseArgv(argv, {
    bool: ['--quick'],
    value: VALUES,
    nonEmpty: VALUES,
    unknown: (arg) => `unknown flag ${arg}`,
  });
  const p: Parsed = {
    mtus: [1500, 9000],
    cases: [...DEFAULT_CASES],
    duration: a.has('--quick') ? 2 : 5,
    rounds: 1,
    metrics: [...METRICS],
    json: a.get('--json') ?? null,
    svg: a.get('--svg') ?? null,
    csv: a.get('--csv') ?? null,
    from: a.get('--from') ?? null,
  };
  const mtu = a.get('--mtu');
  if (mtu !== undefined) p.mtus = [...new Set(mtu.split(',').map((s) => intValue('--mtu', s, 1280, 65535)))];
  const cases = a.get('--cases');
  if (cases !== undefined) p.cases = listValue('--cases', cases, CASE_NAMES);
  const duration = a.get('--duration');
  if (duration !== undefined) p.duration = Math.round(numberValue('--duration', duration, 1));
  const rounds = a.get('--rounds');
  if (rounds !== undefined) p.rounds = intValue('--rounds', rounds, 1, 20);
  const metrics = a.get('--metrics');
  if (metrics !== undefined) p.metrics = listValue('--metrics', metrics, METRICS);
  return p;
}

/** readRecord reads a `weft bench --json` record; FormatError when it is not one. */
function readRecord(path: string): BenchReport {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw new FormatError(`${path}: not JSON: ${err.message}`);
    throw err;
  }
  const r = doc as Partial<BenchReport>;
  if (r.tool !== 'weft bench' || !Array.isArray(r.rows) || !r.options) {
    throw new FormatError(`${path}: not a weft bench --json record (no "tool": "weft bench" with rows)`);
  }
  return r as BenchReport;
}

function writeOutputs(report: BenchReport, p: Pick<Parsed, 'json' | 'svg' | 'csv'>): void {
  if (p.json) writeFileSync(p.json, JSON.stringify(report, null, 2) + '\n');
  if (p.svg) writeFileSync(p.svg, renderSvg(report));
  if (p.csv) writeFileSync(p.csv, renderCsv(report));
}

/** run executes `weft bench`. */
export async function run(argv: string[]): Promise<number> {
  const p = commandLine(() => parseArgs(argv));
  // Every output is checked before the benchmark starts: a bad path must not cost a run.
  for (const [flag, path] of [
    ['--json', p.json],
    ['--svg', p.svg],
    ['--csv', p.csv],
  ] as const) {
    if (path !== null) checkOutputPath(path, flag);
  }
  if (p.from !== null) {
    if (p.svg === null && p.csv === null) throw new UsageError('--from needs --svg FILE or --csv FILE');
    checkInputPath(p.from, '--from');
    writeOutputs(readRecord(p.from), { ...p, json: null });
    return 0;
  }
  checkTools(p.cases);
  if (process.getuid?.() !== 0) {
    throw new SystemError('weft bench', 'EPERM', 'needs root (network namespaces, veth, TUN devices)');
  }
  const report = await runBench({
    ...p,
    command: `weft bench ${argv.join(' ')}`.trim(),
    progress: (line) => process.stderr.write(line + '\n'),
  });
  process.stdout.write(formatTable(report.rows) + '\n' + CPU_LEGEND + '\n');
  for (const r of report.rows) {
    if (r.errors.length > 0)
      process.stdout.write(`${r.label} (MTU ${r.mtu}) errors: ${r.errors.join('; ')}\n`);
  }
  for (const mtu of p.mtus) {
    const row = (c: CaseName) => report.rows.find((r) => r.mtu === mtu && r.case === c);
    const b = row('weft-batch');
    for (const other of ['weft-dgram', 'socat'] as const) {
      const x = row(other);
      if (b && x) {
        process.stdout.write(
          `MTU ${mtu}: weft batch vs ${other}: TCP 1 stream x${(b.tcp1Gbps / x.tcp1Gbps).toFixed(2)}, ` +
            `64 B UDP x${(b.udpPps / x.udpPps).toFixed(2)}\n`,
        );
      }
    }
  }
  writeOutputs(report, p);
  const failed = report.rows.every((r) => r.errors.length > 0);
  return failed ? 1 : 0;
}
