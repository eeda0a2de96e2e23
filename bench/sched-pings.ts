/**
 * sched-pings: what the forwarding threads did while each late ping of a `leases.js --sched DIR`
 * run was in flight.
 *
 *   node dist/bench/sched-pings.js DIR [--over MS]     # as root (perf script reads DIR/sched.data)
 *
 * For every ping slower than `--over` ms (default 3), the window [sent, reply printed] is split,
 * per forwarding thread of both nodes, into running, runnable (woken or preempted, waiting for a
 * CPU) and sleeping (by state: S, D); for every runnable stretch of 1 ms or more it lists who held
 * the CPUs meanwhile (node1.main, node2.thr, ip, other processes...). The last lines sum, over all
 * late pings, the share of their time a forwarding thread spent runnable and who had the CPUs.
 * Input: DIR/sched.data (`perf sched record -k CLOCK_MONOTONIC`) and DIR/meta.json (PIDs, thread
 * ids, pings on CLOCK_MONOTONIC), both written by bench/leases.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

interface Meta {
  /** The bench process itself (writes the churn, lists the routes). */
  bench?: number;
  node1: { pid: number; forwarding: number[] };
  node2: { pid: number; forwarding: number[] };
  churnStartMono: number;
  pings: Array<{ atMono: number; seq: number; rtt: number }>;
}

/** Span is one stretch of a thread in one state, in ms on CLOCK_MONOTONIC. */
interface Span {
  from: number;
  to: number;
  state: string;
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: sched-pings DIR [--over MS]\n');
  process.exit(2);
}
const i = process.argv.indexOf('--over');
const over = i > 0 ? Number(process.argv[i + 1]) : 3;
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as Meta;
const text = execFileSync(
  'perf',
  ['script', '-i', path.join(dir, 'sched.data'), '-F', 'comm,pid,tid,cpu,time,event,trace'],
  { maxBuffer: 1 << 30, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
);

const fwd = new Map<number, string>();
for (const t of meta.node1.forwarding) fwd.set(t, 'node1.fwd');
for (const t of meta.node2.forwarding) fwd.set(t, 'node2.fwd');
const pidOf = new Map<number, number>();
const commOf = new Map<number, string>();
const label = (tid: number): string => {
  const f = fwd.get(tid);
  if (f) return f;
  const pid = pidOf.get(tid);
  for (const [n, m] of [
    ['node1', meta.node1],
    ['node2', meta.node2],
  ] as const) {
    if (pid === m.pid) return tid === pid ? `${n}.main` : `${n}.thr`;
  }
  if (pid !== undefined && pid === meta.bench) return 'bench';
  return tid === 0 ? 'idle' : (commOf.get(tid) ?? '?');
};

const line = /^\s*(.+?)\s+(\d+)\/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$/;
const sw = /prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)/;
const wake = /pid=(\d+) /;
const onCpu = new Map<number, { tid: number; since: number }>();
const cpuSpans: Array<{ from: number; to: number; tid: number }> = [];
const state = new Map<number, { state: string; since: number }>();
const spans = new Map<number, Span[]>();
for (const t of fwd.keys()) {
  state.set(t, { state: '?', since: 0 });
  spans.set(t, []);
}
const move = (tid: number, at: number, next: string): void => {
  const s = state.get(tid)!;
  spans.get(tid)!.push({ from: s.since, to: at, state: s.state });
  state.set(tid, { state: next, since: at });
};
for (const l of text.split('\n')) {
  const m = line.exec(l);
  if (!m) continue;
  const [, comm, pid, tid, cpu, time, event, trace] = m;
  pidOf.set(Number(tid), Number(pid));
  commOf.set(Number(tid), comm!);
  const at = Number(time) * 1000;
  if (event === 'sched:sched_switch') {
    const s = sw.exec(trace!);
    if (!s) continue;
    const prev = Number(s[1]);
    const next = Number(s[3]);
    const c = Number(cpu);
    const was = onCpu.get(c);
    if (was) cpuSpans.push({ from: was.since, to: at, tid: was.tid });
    onCpu.set(c, { tid: next, since: at });
    if (fwd.has(prev)) move(prev, at, s[2]!.startsWith('R') ? 'runnable (preempted)' : `sleeping ${s[2]}`);
    if (fwd.has(next)) move(next, at, 'running');
  } else if (event === 'sched:sched_waking' || event === 'sched:sched_wakeup') {
    const w = wake.exec(trace!);
    const t = w ? Number(w[1]) : -1;
    if (fwd.has(t) && state.get(t)!.state.startsWith('sleeping'))
      move(t, at, `runnable (woken by ${label(Number(tid))})`);
  }
}

const overlap = (a: number, b: number, c: number, d: number): number => Math.min(b, d) - Math.max(a, c);
const fmt = (m: Map<string, number>, n = 6): string =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
const late = meta.pings.filter((p) => p.rtt > over).sort((a, b) => b.rtt - a.rtt);
const max = Math.max(...meta.pings.map((p) => p.rtt));
process.stdout.write(`${meta.pings.length} pings, ${late.length} over ${over} ms, max ${max} ms\n`);
const holders = new Map<string, number>();
let lateMs = 0;
let runnableMs = 0;
for (const p of late) {
  const end = p.atMono;
  const start = end - p.rtt;
  const after = ((start - meta.churnStartMono) / 1000).toFixed(2);
  process.stdout.write(`\nseq ${p.seq} rtt ${p.rtt} ms (${after} s after the churn started)\n`);
  let waited = 0;
  for (const [t, name] of fwd) {
    const by = new Map<string, number>();
    const stretches: Span[] = [];
    for (const s of spans.get(t)!) {
      const o = overlap(s.from, s.to, start, end);
      if (o <= 0) continue;
      const k = s.state.startsWith('runnable') ? 'runnable' : s.state;
      by.set(k, (by.get(k) ?? 0) + o);
      if (k === 'runnable')
        stretches.push({ from: Math.max(s.from, start), to: Math.min(s.to, end), state: s.state });
    }
    waited += by.get('runnable') ?? 0;
    process.stdout.write(`  ${name}: ${fmt(by)}\n`);
    for (const r of stretches) {
      if (r.to - r.from < 1) continue;
      const who = new Map<string, number>();
      for (const c of cpuSpans) {
        const o = overlap(c.from, c.to, r.from, r.to);
        if (o <= 0) continue;
        const k = `${label(c.tid)}[${c.tid}]`;
        who.set(k, (who.get(k) ?? 0) + o);
        holders.set(k, (holders.get(k) ?? 0) + o);
      }
      process.stdout.write(`    ${(r.to - r.from).toFixed(2)} ms ${r.state}; the CPUs ran: ${fmt(who)}\n`);
    }
  }
  lateMs += p.rtt;
  runnableMs += Math.min(p.rtt, waited);
}
const share = lateMs > 0 ? Math.round((100 * runnableMs) / lateMs) : 0;
process.stdout.write(
  `\nlate pings: ${lateMs.toFixed(1)} ms in all, a forwarding thread runnable for ${share} % of it\n`,
);
process.stdout.write(`who had the CPUs meanwhile (ms): ${fmt(holders, 12)}\n`);
