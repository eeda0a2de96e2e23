/**
 * End-to-end benchmark in network namespaces: kernel VXLAN vs weft (batched and dgram I/O) vs
 * socat, iperf3 TCP throughput and 64-byte UDP packet rate, interleaved in one run.
 *
 * A thin front end to `weft bench` (src/benchsuite/): one underlay MTU, the TCP 1-stream and
 * 64-byte UDP metrics, and this script's compact table. Per case, two fresh namespaces joined by
 * veth (192.0.2.1 <-> 192.0.2.2, MTU --mtu):
 *     kernel      flannel-style flannel.1 on both sides (anchors.md A)       10.244.0.1 -> 10.244.1.1
 *     weft-batch  weft link --backend vxlan --io batch on both sides          10.244.0.1 -> 10.244.1.1
 *     weft-dgram  weft link --backend vxlan --io dgram on both sides          10.244.0.1 -> 10.244.1.1
 *     weft-udp    weft link --backend udp --io batch (flannel-UDP)            10.244.0.1 -> 10.244.1.1
 *     socat       socat TUN/UDP on both sides (anchors.md B)                  10.246.0.1 -> 10.246.0.2
 *   iperf3 server in B bound to the overlay target (-B: anchors.md's gotcha), client in A bound
 *   to the overlay source. Every round runs every case once (TCP), then every case once (UDP), so
 *   all cases see the same background load; the figures are medians over rounds.
 *
 * Usage: node dist/bench/e2e.js [--seconds 5] [--rounds 3] [--mtu 1500]
 *          [--cases kernel,weft-batch,weft-dgram,weft-udp,socat] [--no-udp] [--json PATH]
 * Needs root, iperf3 and socat. Both tunnel ends and iperf3 share the machine's CPUs.
 */
import fs from 'node:fs';
import type { CaseName } from '../src/benchsuite/cases';
import { runBench } from '../src/benchsuite/run';

/** CASES lists every case this script offers, in print order. */
const CASES = [
  'kernel',
  'weft-batch',
  'weft-dgram',
  'weft-udp',
  'socat',
] as const satisfies readonly CaseName[];

interface Options {
  seconds: number;
  rounds: number;
  mtu: number;
  cases: CaseName[];
  udp: boolean;
  json: string | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 5, rounds: 3, mtu: 1500, cases: [...CASES], udp: true, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--rounds') o.rounds = Number(v());
    else if (a === '--mtu') o.mtu = Number(v());
    else if (a === '--no-udp') o.udp = false;
    else if (a === '--json') o.json = v();
    else if (a === '--cases') {
      const list = v().split(',');
      for (const c of list)
        if (!(CASES as readonly string[]).includes(c)) throw new Error(`unknown case ${c}`);
      o.cases = list as CaseName[];
    } else throw new Error(`unknown argument ${a}; see the comment at the top of bench/e2e.ts`);
  }
  if (!(o.seconds > 0) || !(o.rounds >= 1) || !(o.mtu >= 576))
    throw new Error('bad --seconds/--rounds/--mtu');
  return o;
}

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/** ok drops the NaN samples of failed runs (their errors are listed under the table). */
function ok(xs: number[]): number[] {
  return xs.filter(Number.isFinite);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, veth, TUN devices)');
  process.stderr.write(
    `e2e: ${o.cases.join(', ')}; ${o.rounds} rounds x ${o.seconds} s, underlay MTU ${o.mtu}\n`,
  );
  const report = await runBench({
    mtus: [o.mtu],
    cases: o.cases,
    duration: o.seconds,
    rounds: o.rounds,
    metrics: o.udp ? ['tcp1', 'udp64'] : ['tcp1'],
    command: `node dist/bench/e2e.js ${process.argv.slice(2).join(' ')}`.trim(),
    progress: (line) => process.stderr.write(`  ${line}\n`),
  });
  const rows = report.rows;
  const lines = [
    `| case | TCP Gbit/s median [min-max] | vs kernel | 64 B UDP kpps received | vs kernel | UDP loss % |`,
    `|---|---|---|---|---|---|`,
    ...rows.map(
      (r) =>
        `| ${r.case} | ${fmt(r.tcp1Gbps, 2)} [${fmt(Math.min(...ok(r.tcp1Samples)), 2)}-${fmt(Math.max(...ok(r.tcp1Samples)), 2)}] | ` +
        `${fmt(r.ratioTcp1, 3)} | ${fmt(r.udpPps / 1000, 1)} | ${fmt(r.ratioUdp, 3)} | ${fmt(r.udpLossPct, 1)} |`,
    ),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  for (const r of rows)
    if (r.errors.length) process.stdout.write(`${r.case} errors: ${r.errors.join('; ')}\n`);
  const batch = rows.find((r) => r.case === 'weft-batch');
  for (const other of ['socat', 'weft-dgram'] as const) {
    const x = rows.find((r) => r.case === other);
    if (batch && x) {
      process.stdout.write(
        `weft-batch vs ${other}: TCP x${fmt(batch.tcp1Gbps / x.tcp1Gbps, 2)}, 64 B UDP x${fmt(batch.udpPps / x.udpPps, 2)}\n`,
      );
    }
  }
  if (o.json) fs.writeFileSync(o.json, JSON.stringify(report, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`e2e: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
