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
 *
 * Stages: `perf script` text (main) -> parseSchedLine per line -> analyseSched (the replay) ->
 * formatSchedIdle. The last three are pure (test/bench/sched-idle.test.ts).
 */
import { execFileSync } from 'node:child_process';

/** SchedEvent is one line of `perf script -F comm,tid,cpu,time,event,trace`. */
export interface SchedEvent {
  readonly comm: string;
  readonly tid: number;
  readonly cpu: number;
  /** Seconds (perf's clock). */
  readonly time: number;
  /** The event's name without `sched:` (`sched_switch`, `sched_waking`, ...). */
  readonly event: string;
  /** The trace's `key=value` fields (`prev_pid`, `next_comm`, `pid`, ...). */
  readonly fields: ReadonlyMap<string, string>;
}

const LINE = /^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$/;

/** parseSchedLine reads one `perf script` line of a sched event, or null for any other line. */
export function parseSchedLine(line: string): SchedEvent | null {
  const m = LINE.exec(line);
  if (!m) return null;
  const fields = new Map<string, string>();
  for (const f of m[6]!.matchAll(/(\w+)=(\S+)/g)) fields.set(f[1]!, f[2]!);
  return {
    comm: m[1]!,
    tid: Number(m[2]),
    cpu: Number(m[3]),
    time: Number(m[4]),
    event: m[5]!,
    fields,
  };
}

/** parseLabels reads `PID=name` arguments; others are ignored. */
export function parseLabels(args: readonly string[]): Map<number, string> {
  const names = new Map<number, string>();
  for (const a of args) {
    const [pid, name] = a.split('=');
    if (pid && name) names.set(Number(pid), name);
  }
  return names;
}

/** SchedIdle is what one replay found; times in seconds. */
export interface SchedIdle {
  /** Time of the first sched event and of the last switch or waking (the replayed span). */
  readonly first: number;
  readonly last: number;
  /** CPUs seen switching. */
  readonly cpus: number;
  /** sched_switch and sched_waking events replayed. */
  readonly events: number;
  /** CPU time spent idle (summed over CPUs). */
  readonly idle: number;
  /** Of it, min(idle CPUs, waiting tasks) per stretch: time a better placement could have used. */
  readonly idleWhileWaiting: number;
  /** Wall time during which a task waited and no CPU idled. */
  readonly busyWhileWaiting: number;
  /** Waiting time while a CPU idled, per task label and per `label cause`. */
  readonly waitedByTask: ReadonlyMap<string, number>;
  readonly waitedByCause: ReadonlyMap<string, number>;
}

/** analyseSched replays `perf script` text; `names` labels tasks by tid (else `comm:tid`). */
export function analyseSched(text: string, names: ReadonlyMap<number, string> = new Map()): SchedIdle {
  const label = (tid: number, comm: string): string => names.get(tid) ?? `${comm}:${tid}`;
  const current = new Map<number, number>(); // cpu -> tid running (0: idle)
  const waiting = new Map<number, string>(); // tid -> "how, by whom"
  const commOf = new Map<number, string>();
  const waitedByTask = new Map<string, number>();
  const waitedByCause = new Map<string, number>();
  let last = -1;
  let first = -1;
  let events = 0;
  let idle = 0;
  let idleWhileWaiting = 0;
  let busyWhileWaiting = 0;
  const add = (m: Map<string, number>, k: string, v: number): void => {
    m.set(k, (m.get(k) ?? 0) + v);
  };

  // Charges the stretch since the last event to the state before this one.
  const advance = (t: number): void => {
    events++;
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
  };

  for (const line of text.split('\n')) {
    const e = parseSchedLine(line);
    if (e === null) continue;
    if (first < 0) first = e.time;
    const kv = e.fields;
    if (e.event === 'sched_switch') {
      advance(e.time);
      const prev = Number(kv.get('prev_pid'));
      const next = Number(kv.get('next_pid'));
      commOf.set(prev, kv.get('prev_comm') ?? '?');
      commOf.set(next, kv.get('next_comm') ?? '?');
      if (prev !== 0 && (kv.get('prev_state') ?? '').startsWith('R')) {
        waiting.set(prev, `preempted by ${label(next, commOf.get(next)!)}`);
      }
      waiting.delete(next);
      current.set(e.cpu, next);
    } else if (e.event === 'sched_waking') {
      advance(e.time);
      const p = Number(kv.get('pid'));
      if (!commOf.has(p)) commOf.set(p, kv.get('comm') ?? '?');
      let running = false;
      for (const tid of current.values()) if (tid === p) running = true;
      if (!running && !waiting.has(p)) waiting.set(p, `woken by ${label(e.tid, e.comm)}`);
    }
  }
  return {
    first,
    last,
    cpus: current.size,
    events,
    idle,
    idleWhileWaiting,
    busyWhileWaiting,
    waitedByTask,
    waitedByCause,
  };
}

/** formatSchedIdle is the report: totals in ms, then the 8 longest waiters and 12 causes. */
export function formatSchedIdle(r: SchedIdle): string {
  const ms = (s: number): string => (s * 1000).toFixed(1).padStart(8);
  const top = (m: ReadonlyMap<string, number>, n: number): Array<[string, number]> =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return (
    `recorded ${ms(r.last - r.first)} ms on ${r.cpus} CPUs\n` +
    `idle CPU time                         ${ms(r.idle)} ms\n` +
    `  of it while a task waited elsewhere ${ms(r.idleWhileWaiting)} ms\n` +
    `every CPU busy while a task waited    ${ms(r.busyWhileWaiting)} ms\n` +
    `waiting while a CPU idled, by task:\n` +
    top(r.waitedByTask, 8)
      .map(([k, v]) => `  ${ms(v)} ms  ${k}\n`)
      .join('') +
    `by task and cause:\n` +
    top(r.waitedByCause, 12)
      .map(([k, v]) => `  ${ms(v)} ms  ${k}\n`)
      .join('')
  );
}

function main(argv: readonly string[]): number {
  const file = argv[0];
  if (!file || file === '--help' || file === '-h') {
    process.stderr.write('usage: node dist/bench/sched-idle.js SCHED.DATA [PID=name ...]\n');
    return file ? 0 : 2;
  }
  const text = execFileSync('perf', ['script', '-i', file, '-F', 'comm,tid,cpu,time,event,trace'], {
    maxBuffer: 1 << 30,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  process.stdout.write(formatSchedIdle(analyseSched(text, parseLabels(argv.slice(1)))));
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
