/**
 * bench/sched-idle.ts's replay: a hand-made trace whose answers are worked out below, and a
 * recorded `perf sched` sample (test/fixtures/sched/perf-sched-script.txt, `perf script` text of
 * 60 ms on this machine's 2 CPUs) to show real perf lines parse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyseSched, formatSchedIdle, parseLabels, parseSchedLine } from '../../bench/sched-idle';
import { FIXTURES } from '../golden/fixtures';

/** line is a `perf script -F comm,tid,cpu,time,event,trace` line. */
function line(comm: string, tid: number, cpu: number, time: string, event: string, trace: string): string {
  return `${comm.padStart(16)} ${String(tid).padStart(5)} [${String(cpu).padStart(3, '0')}] ${time}: ${`sched:${event}:`.padStart(22)} ${trace}`;
}

const sw = (cpu: number, t: string, prev: [string, number, string], next: [string, number]): string =>
  line(
    prev[0],
    prev[1],
    cpu,
    t,
    'sched_switch',
    `prev_comm=${prev[0]} prev_pid=${prev[1]} prev_prio=120 prev_state=${prev[2]} ==> next_comm=${next[0]} next_pid=${next[1]} next_prio=120`,
  );
const wake = (cpu: number, t: string, by: [string, number], who: [string, number]): string =>
  line(by[0], by[1], cpu, t, 'sched_waking', `comm=${who[0]} pid=${who[1]} prio=120 target_cpu=000`);

// Two CPUs; a (pid 100, labelled alpha), c (300), d (400). Stretches:
//   1.000-1.010 cpu1 idle, nobody waits                       idle 10
//   1.010-1.030 c woken by alpha, cpu1 idle                   idle 20, idle-while-waiting 20 (c)
//   1.030-1.040 alpha preempted by c, waits; cpu1 idle        idle 10, idle-while-waiting 10 (alpha)
//   1.040-1.045 alpha runs on cpu1, nobody waits
//   1.045-1.050 d woken by alpha, both CPUs busy              busy-while-waiting 5
//   1.050-1.060 cpu0 idle, d still waits                      idle 10, idle-while-waiting 10 (d)
const TRACE = [
  sw(0, '1.000000', ['swapper/0', 0, 'R'], ['a', 100]),
  sw(1, '1.000000', ['b', 200, 'S'], ['swapper/1', 0]),
  line('a', 100, 0, '1.005000', 'sched_stat_runtime', 'comm=a pid=100 runtime=5000 [ns]'),
  wake(0, '1.010000', ['a', 100], ['c', 300]),
  'not a perf line',
  sw(0, '1.030000', ['a', 100, 'R'], ['c', 300]),
  sw(1, '1.040000', ['swapper/1', 0, 'R'], ['a', 100]),
  wake(1, '1.045000', ['a', 100], ['d', 400]),
  sw(0, '1.050000', ['c', 300, 'S'], ['swapper/0', 0]),
  sw(1, '1.060000', ['a', 100, 'S'], ['swapper/1', 0]),
].join('\n');

const near = (got: number, wantMs: number, what: string): void =>
  assert.ok(Math.abs(got * 1000 - wantMs) < 1e-6, `${what}: ${got * 1000} ms, want ${wantMs}`);

test('parseSchedLine: perf script fields, the trace as key=value; other lines are null', () => {
  const e = parseSchedLine(wake(1, '41532.759549', ['perf', 3173], ['migration/0', 18]))!;
  assert.deepEqual(
    { ...e, fields: Object.fromEntries(e.fields) },
    {
      comm: 'perf',
      tid: 3173,
      cpu: 1,
      time: 41532.759549,
      event: 'sched_waking',
      fields: { comm: 'migration/0', pid: '18', prio: '120', target_cpu: '000' },
    },
  );
  // A command name with spaces stays whole.
  assert.equal(
    parseSchedLine(line('Web Content', 9, 0, '2.5', 'sched_waking', 'pid=1'))!.comm,
    'Web Content',
  );
  assert.equal(parseSchedLine('not a perf line'), null);
  assert.equal(parseSchedLine(''), null);
});

test('parseLabels: PID=name pairs, anything else ignored', () => {
  assert.deepEqual(
    [...parseLabels(['1234=weftA', 'junk', '=x', '99=iperf3'])],
    [
      [1234, 'weftA'],
      [99, 'iperf3'],
    ],
  );
});

test('analyseSched: idle time, idle while a task waits, by task and cause (a hand-worked trace)', () => {
  const r = analyseSched(TRACE, new Map([[100, 'alpha']]));
  assert.equal(r.cpus, 2);
  assert.equal(r.events, 8, 'switches and wakings only');
  near(r.last - r.first, 60, 'recorded');
  near(r.idle, 50, 'idle');
  near(r.idleWhileWaiting, 40, 'idle while waiting');
  near(r.busyWhileWaiting, 5, 'busy while waiting');
  const ms = (m: ReadonlyMap<string, number>): Record<string, number> =>
    Object.fromEntries([...m].map(([k, v]) => [k, Math.round(v * 1e6) / 1e3]));
  assert.deepEqual(ms(r.waitedByTask), { 'c:300': 20, alpha: 10, 'd:400': 10 });
  assert.deepEqual(ms(r.waitedByCause), {
    'c:300 woken by alpha': 20,
    'alpha preempted by c:300': 10,
    'd:400 woken by alpha': 10,
  });
  const text = formatSchedIdle(r).split('\n');
  assert.deepEqual(text.slice(0, 5), [
    'recorded     60.0 ms on 2 CPUs',
    'idle CPU time                             50.0 ms',
    '  of it while a task waited elsewhere     40.0 ms',
    'every CPU busy while a task waited         5.0 ms',
    'waiting while a CPU idled, by task:',
  ]);
  assert.equal(text[5], '      20.0 ms  c:300', 'longest first');
});

test('analyseSched: a recorded perf sched sample parses, and its totals hold together', () => {
  const text = readFileSync(join(FIXTURES, 'sched', 'perf-sched-script.txt'), 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const replayed = lines.filter((l) => /sched:sched_(switch|waking):/.test(l));
  assert.ok(
    lines.every((l) => parseSchedLine(l) !== null),
    'every recorded line is read',
  );
  const r = analyseSched(text);
  assert.equal(r.events, replayed.length);
  assert.equal(r.cpus, 2);
  assert.equal(r.first, parseSchedLine(lines[0]!)!.time);
  assert.equal(r.last, parseSchedLine(replayed[replayed.length - 1]!)!.time);
  const span = r.last - r.first;
  assert.ok(span > 0.05 && span < 0.1, `${span} s recorded`);
  assert.ok(r.idle >= 0 && r.idle <= r.cpus * span + 1e-9);
  assert.ok(r.idleWhileWaiting <= r.idle + 1e-9);
  assert.ok(r.busyWhileWaiting > 0.5 * span, 'two busy loops on two CPUs: somebody always waits');
  const waited = [...r.waitedByTask.values()].reduce((a, b) => a + b, 0);
  assert.ok(waited >= r.idleWhileWaiting - 1e-9, 'each waiting task is charged its stretch');
});
