/**
 * thread-sched: the forwarding thread's policy over fake native calls: SCHED_RR at start, back to
 * SCHED_OTHER while it keeps a CPU over half busy and SCHED_RR again once quiet, a refusal kept
 * with its reason (and never retried), an addon without the call, WEFT_FORWARDING_SCHED parsing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors';
import {
  DEMOTE_SHARE,
  FORWARDING_RT_PRIORITY,
  ThreadScheduler,
  parseForwardingSched,
  type SchedCalls,
} from '../../src/dataplane/thread-sched';

/** fake is a thread whose CPU time and clock the test moves; it records every policy change. */
function fake(refuse: string | null = null) {
  const s = { cpuNs: 0, nowMs: 0, calls: [] as Array<[boolean, number]> };
  const calls: SchedCalls = {
    threadSetScheduler: (rr, prio) => {
      s.calls.push([rr, prio]);
      return rr ? refuse : null;
    },
    threadCpuNs: () => s.cpuNs,
  };
  /** busy advances the clock by `ms` with the thread on a CPU for `share` of it. */
  const busy = (ms: number, share: number) => {
    s.nowMs += ms;
    s.cpuNs += ms * share * 1e6;
  };
  return { s, calls, busy };
}

test('rr: SCHED_RR at start, SCHED_OTHER while busy, SCHED_RR again once quiet', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 42, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  assert.deepEqual(f.s.calls, [[true, FORWARDING_RT_PRIORITY]]);
  assert.equal(t.stats().policy, 'rr');
  f.busy(1000, 0.1);
  t.tick();
  assert.equal(t.stats().policy, 'rr', 'a quiet thread stays real-time');
  f.busy(1000, DEMOTE_SHARE + 0.2);
  t.tick();
  assert.equal(t.stats().policy, 'other', 'a busy thread is demoted');
  assert.equal(t.stats().demotions, 1);
  assert.equal(t.stats().cpuShare, 0.7);
  f.busy(1000, 0.4);
  t.tick();
  assert.equal(t.stats().policy, 'other', 'between the thresholds it stays where it is');
  f.busy(1000, 0.05);
  t.tick();
  assert.equal(t.stats().policy, 'rr', 'quiet again: real-time again');
  assert.deepEqual(f.s.calls, [
    [true, 1],
    [false, 1],
    [true, 1],
  ]);
});

test('a tick sooner than half a second after the last one decides nothing', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 1, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  f.busy(100, 1);
  t.tick();
  assert.equal(t.stats().policy, 'rr');
  f.busy(900, 1);
  t.tick();
  assert.equal(t.stats().policy, 'other');
});

test('refused: stays SCHED_OTHER, says why, never asks again', () => {
  const f = fake('EPERM');
  const t = new ThreadScheduler(1, 7, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  assert.equal(t.stats().policy, 'other');
  assert.equal(t.stats().refused, 'sched_setscheduler SCHED_RR: EPERM');
  f.busy(1000, 0.9);
  t.tick();
  f.busy(1000, 0);
  t.tick();
  assert.equal(f.s.calls.length, 1);
  assert.equal(t.stats().demotions, 0);
});

test('other: never asks for SCHED_RR; an addon without the call is a refusal with a reason', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 1, 'other', f.calls, () => f.s.nowMs);
  t.start();
  f.busy(1000, 0);
  t.tick();
  assert.equal(f.s.calls.length, 0);
  assert.equal(t.stats().policy, 'other');
  assert.equal(t.stats().refused, null);
  const old = new ThreadScheduler(0, 1, 'rr', {}, () => 0);
  old.start();
  assert.equal(old.stats().policy, 'other');
  assert.match(old.stats().refused ?? '', /threadSetScheduler/);
});

test('WEFT_FORWARDING_SCHED: unset or rr, other; anything else names the variable', () => {
  assert.equal(parseForwardingSched(undefined), 'rr');
  assert.equal(parseForwardingSched(' rr '), 'rr');
  assert.equal(parseForwardingSched('other'), 'other');
  assert.throws(
    () => parseForwardingSched('fifo'),
    (e: unknown) =>
      e instanceof ConfigError && e.field === 'WEFT_FORWARDING_SCHED' && /rr or other/.test(e.message),
  );
});
