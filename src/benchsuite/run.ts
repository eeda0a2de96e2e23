/**
 * run: the `weft bench` procedure. For each underlay MTU: build every case (two namespaces + veth +
 * overlay + iperf3 server each), then for each round run every metric over every case, cases
 * alternating so all see the same background load; tear down; next MTU. Aggregates medians,
 * ratios to kernel VXLAN at the same MTU, tunnel CPU seconds per gigabit and peak RSS.
 */
import os from 'node:os';
import { buildCase, CASE_LABELS, type CaseName, type Topology } from './cases';
import { Harness } from './harness';
import { runStatsNote } from './weft-run-case';
import { sleep } from '../testing/shell';
import { addRatios, aggregateRow } from './aggregate';
import { measure, METRICS, type Metric, type Sample } from './measure';
import type { BenchReport, Row } from './report';

/** BenchOptions configure one run. */
export interface BenchOptions {
  mtus: number[];
  cases: CaseName[];
  /** Seconds per iperf3 run. */
  duration: number;
  /** Rounds (medians are taken over rounds). */
  rounds: number;
  /** Metrics to measure (default all). */
  metrics?: Metric[];
  /** The command line, for the record. */
  command: string;
  /** Progress sink (stderr). */
  progress: (line: string) => void;
}

function fmtSample(metric: Metric, s: Sample): string {
  if (s.error) return `error: ${s.error}`;
  return metric === 'udp64'
    ? `${(s.value / 1000).toFixed(1)} kpps, loss ${s.lossPct.toFixed(1)} %`
    : `${s.value.toFixed(2)} Gbit/s`;
}

/** runBench runs the whole benchmark and returns the report (tables and files are the caller's). */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const h = new Harness();
  const samples = new Map<string, Record<Metric, Sample[]>>();
  const key = (mtu: number, c: CaseName): string => `${mtu}/${c}`;
  const metrics = o.metrics ?? [...METRICS];
  const total = o.mtus.length * o.cases.length * o.rounds * metrics.length;
  let done = 0;
  const notes: string[] = [];
  try {
    for (const mtu of o.mtus) {
      const tops: Topology[] = [];
      for (const c of o.cases) {
        o.progress(`weft bench: MTU ${mtu}: building ${CASE_LABELS[c]}`);
        const t = await buildCase(h, c, mtu);
        tops.push(t);
        samples.set(key(mtu, c), { tcp1: [], tcp4: [], udp64: [] });
        if (c.startsWith('weft-run'))
          notes.push(`MTU ${mtu} ${c}: ${t.src} -> ${t.dst}, weft run ${t.weftArgs.join(' ')}`);
        else if (c.startsWith('weft') && t.tunnels[0]) {
          for (const re of [/^weft link: dev .*$/m, /^weft link: tun-io .*$/m]) {
            const line = re.exec(t.tunnels[0].log);
            if (line) notes.push(`MTU ${mtu} ${c}: ${line[0]}`);
          }
        }
      }
      for (let r = 0; r < o.rounds; r++) {
        for (const m of metrics) {
          for (const t of tops) {
            done++;
            const s = await measure(t, m, o.duration);
            samples.get(key(mtu, t.name))![m].push(s);
            o.progress(`weft bench: [${done}/${total}] MTU ${mtu} ${t.name} ${m}: ${fmtSample(m, s)}`);
            await sleep(300);
          }
        }
      }
      for (const t of tops)
        if (t.name.startsWith('weft-run'))
          for (const ns of [t.nsA, t.nsB]) notes.push(`MTU ${mtu} ${t.name} ${ns}: ${runStatsNote(ns)}`);
      await h.cleanup();
    }
  } finally {
    await h.dispose();
  }

  const rows: Row[] = [];
  for (const mtu of o.mtus) {
    for (const c of o.cases) {
      const s = samples.get(key(mtu, c));
      if (s) rows.push(aggregateRow(mtu, c, s));
    }
  }
  addRatios(rows);
  const cpus = os.cpus();
  return {
    tool: 'weft bench',
    version: 1,
    date: new Date().toISOString(),
    command: o.command,
    machine: {
      cpus: cpus.length,
      model: cpus[0]?.model ?? 'unknown',
      kernel: os.release(),
      node: process.version,
    },
    options: { mtus: o.mtus, cases: o.cases, duration: o.duration, rounds: o.rounds, metrics },
    rows,
    notes,
  };
}
