/**
 * `weft bench`: the benchmark users run. Builds two namespaces joined by veth per case and
 * measures, in one run and for each underlay MTU, kernel VXLAN, weft VXLAN (batch and dgram),
 * weft flannel-UDP, socat TUN/UDP and the bare veth with iperf3 (src/benchsuite/). Progress goes
 * to stderr; the table (with ratios to kernel VXLAN of the same run) to stdout; --json and --svg
 * write the record and a chart of throughput against MTU.
 */
import { writeFileSync } from 'node:fs';
import { SystemError, UsageError } from '../../errors';
import { parseArgv } from '../args';
import { requireTools } from '../../demo/testbed';
import { CASE_NAMES, DEFAULT_CASES, type CaseName } from '../../benchsuite/cases';
import { formatTable, renderSvg } from '../../benchsuite/report';
import { METRICS, type Metric } from '../../benchsuite/measure';
import { runBench } from '../../benchsuite/run';

/** usage is the `weft help bench` text. */
export const usage = `usage: weft bench [--mtu 1500,9000] [--duration S] [--rounds N]
                  [--cases kernel,weft-batch,weft-dgram,weft-udp,socat,veth]
                  [--metrics tcp1,tcp4,udp64] [--json FILE] [--svg FILE] [--quick]

Measures, in one run and for each underlay MTU, TCP throughput (iperf3, 1 and 4 streams),
64-byte UDP packets/s and loss, and the tunnel's CPU seconds per gigabit and peak RSS, for:
  kernel      kernel VXLAN configured as flannel does (flannel.1, VNI 1, port 8472)
  weft-batch  weft link --backend vxlan --io batch (offloads on)
  weft-nooff  weft link --backend vxlan --io batch --offload off (not in the default list)
  weft-w2     weft link --backend vxlan --io batch --workers 2 (not in the default list)
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
  --svg FILE      write a chart of TCP Gbit/s against MTU (open it in a browser)
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
}

/** listArg splits a comma-separated --cases / --metrics value, checking each entry against `known`. */
function listArg<T extends string>(flag: string, v: string, known: readonly T[], what: string): T[] {
  const list = v.split(',');
  for (const x of list) {
    if (!(known as readonly string[]).includes(x)) {
      throw new UsageError(`${flag}: unknown ${what} "${x}" (known: ${known.join(', ')})`);
    }
  }
  return [...new Set(list)] as T[];
}

/** parseArgs parses the command line; throws UsageError. */
export function parseArgs(argv: string[]): Parsed {
  const VALUES = ['--mtu', '--cases', '--duration', '--rounds', '--metrics', '--json', '--svg'] as const;
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
  };
  const mtu = a.get('--mtu');
  if (mtu !== undefined) {
    p.mtus = mtu.split(',').map((s) => {
      if (!/^\d+$/.test(s) || +s < 1280 || +s > 65535)
        throw new UsageError(`--mtu: ${s} is not an MTU in 1280..65535`);
      return +s;
    });
  }
  const cases = a.get('--cases');
  if (cases !== undefined) p.cases = listArg('--cases', cases, CASE_NAMES, 'case');
  const duration = a.get('--duration');
  if (duration !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(duration) || !(+duration >= 1))
      throw new UsageError(`--duration must be >= 1 second (got ${duration})`);
    p.duration = Math.round(+duration);
  }
  const rounds = a.get('--rounds');
  if (rounds !== undefined) {
    if (!/^\d+$/.test(rounds) || +rounds < 1 || +rounds > 20)
      throw new UsageError(`--rounds must be 1..20 (got ${rounds})`);
    p.rounds = +rounds;
  }
  const metrics = a.get('--metrics');
  if (metrics !== undefined) p.metrics = listArg('--metrics', metrics, METRICS, 'metric');
  return p;
}

/** run executes `weft bench`. */
export async function run(argv: string[]): Promise<number> {
  const p = parseArgs(argv);
  checkTools(p.cases);
  if (process.getuid?.() !== 0) {
    throw new SystemError('weft bench', 'EPERM', 'needs root (network namespaces, veth, TUN devices)');
  }
  const report = await runBench({
    ...p,
    command: `weft bench ${argv.join(' ')}`.trim(),
    progress: (line) => process.stderr.write(line + '\n'),
  });
  process.stdout.write(formatTable(report.rows) + '\n');
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
  if (p.json) writeFileSync(p.json, JSON.stringify(report, null, 2) + '\n');
  if (p.svg) writeFileSync(p.svg, renderSvg(report));
  const failed = report.rows.every((r) => r.errors.length > 0);
  return failed ? 1 : 0;
}
