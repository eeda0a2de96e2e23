/**
 * sched-idle: how much of the CPUs' idle time during a recording had a task runnable and waiting
 * on another CPU, which tasks waited, and who woke (or preempted) them.
 *
 *   perf sched record -o DIR/sched.data -- sleep 1          # during an iperf3 run, as root
 *   node dist/bench/sched-idle.js DIR/sched.data [PID=name ...]
 *
 * The events are replayed in time order: a CPU is idle while it runs pid 0; a task is waiting
 * from its `sched_waking` (or its switch-out in state R, preempted) until it is switched in.
 * "Idle while waiting" counts, for every stretch, min(idle CPUs, waiting tasks): CPU time that
 * a better placement could have used. `PID=name` labels tasks (e.g. `1234=weftA`).
 */
import { execFileSync } from 'node:child_process';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: sched-idle SCHED.DATA [PID=name ...]\n');
  process.exit(2);
}
const names = new Map<number, string>();
for (const a of process.argv.slice(3)) {
  const [pid, name] = a.split('=');
  if (pid && name) names.set(Number(pid), name);
}
const text = execFileSync('perf', ['script', '-i', file, '-F', 'comm,tid,cpu,time,event,trace'], {
  maxBuffer: 1 << 30,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'ignore'],
});

const LINE = /^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$/;
const label = (tid: number, comm: string): string => names.get(tid) ?? `${comm}:${tid}`;
const current = new Map<number, number>(); // cpu -> tid running (0: idle)
const waiting = new Map<number, string>(); // tid -> "how, by whom"
const commOf = new Map<number, string>();
const waitedByTask = new Map<string, number>();
const waitedByCause = new Map<string, number>();
let last = -1;
let idle = 0;
let idleWhileWaiting = 0;
let busyWhileWaiting = 0;
let first = -1;

const add = (m: Map<string, number>, k: string, v: number): void => {
  m.set(k, (m.get(k) ?? 0) + v);
};

/** advance charges the stretch since the last event to the state before this one. */
function advance(t: number): void {
  if (last >= 0 && t > last) {
    const dt = t - last;
    let idleCpus = 0;
    for (const tid of current.values()) if (tid === 0) idleCpus++;
    idle += dt * idleCpus;
    if (waiting.size > 0) {
      if (idleCpus > 0) {
        idleWhileWaiting += dt * Math.min(idleCpus, waiting.size);
        for (const [tid, cause] of waiting) {
          const who = label(tid, commOf.get(tid) ?? '?');
          add(waitedByTask, who, dt);
          add(waitedByCause, `${who} ${cause}`, dt);
        }
      } else busyWhileWaiting += dt;
    }
  }
  last = t;
}

for (const line of text.split('\n')) {
  const m = LINE.exec(line);
  if (!m) continue;
  const [, comm, tidS, cpuS, timeS, event, rest] = m;
  const t = Number(timeS);
  if (first < 0) first = t;
  const kv = new Map<string, string>();
  for (const f of rest!.matchAll(/(\w+)=(\S+)/g)) kv.set(f[1]!, f[2]!);
  if (event === 'sched_switch') {
    advance(t);
    const prev = Number(kv.get('prev_pid'));
    const next = Number(kv.get('next_pid'));
    commOf.set(prev, kv.get('prev_comm') ?? '?');
    commOf.set(next, kv.get('next_comm') ?? '?');
    if (prev !== 0 && (kv.get('prev_state') ?? '').startsWith('R')) {
      waiting.set(prev, `preempted by ${label(next, commOf.get(next)!)}`);
    }
    waiting.delete(next);
    current.set(Number(cpuS), next);
  } else if (event === 'sched_waking') {
    advance(t);
    const p = Number(kv.get('pid'));
    if (!commOf.has(p)) commOf.set(p, kv.get('comm') ?? '?');
    let running = false;
    for (const tid of current.values()) if (tid === p) running = true;
    if (!running && !waiting.has(p)) waiting.set(p, `woken by ${label(Number(tidS), comm!)}`);
  }
}

const ms = (s: number): string => (s * 1000).toFixed(1).padStart(8);
const top = (m: Map<string, number>, n: number): Array<[string, number]> =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
process.stdout.write(
  `recorded ${ms(last - first)} ms on ${current.size} CPUs\n` +
    `idle CPU time                         ${ms(idle)} ms\n` +
    `  of it while a task waited elsewhere ${ms(idleWhileWaiting)} ms\n` +
    `every CPU busy while a task waited    ${ms(busyWhileWaiting)} ms\n` +
    `waiting while a CPU idled, by task:\n` +
    top(waitedByTask, 8)
      .map(([k, v]) => `  ${ms(v)} ms  ${k}\n`)
      .join('') +
    `by task and cause:\n` +
    top(waitedByCause, 12)
      .map(([k, v]) => `  ${ms(v)} ms  ${k}\n`)
      .join(''),
);
