/**
 * thread-sched: the forwarding thread's policy over fake native calls and clock: SCHED_RR at start,
 * SCHED_OTHER within one sample window of keeping a CPU over half busy (or of a stream's batch
 * rate), SCHED_RR again after a quiet hold; no flapping on a borderline load; bursty traffic
 * doubling the hold; control messages left out; a refusal kept with its reason (and never
 * retried), an addon without the call, WEFT_FORWARDING_SCHED parsing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors';
import {
  DEMOTE_BATCH_RATE,
  DEMOTE_SHARE,
  FLAP_WINDOW_MS,
  FORWARDING_RT_PRIORITY,
  MAX_QUIET_HOLD_MS,
  PROMOTE_BATCH_RATE,
  PROMOTE_SHARE,
  QUIET_HOLD_MS,
  SAMPLE_MS,
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

/** run ticks every SAMPLE_MS for `ms` with the thread on a CPU for `share` of each window. */
function run(t: ThreadScheduler, busy: (ms: number, share: number) => void, ms: number, share: number): void {
  for (let done = 0; done < ms; done += SAMPLE_MS) {
    busy(SAMPLE_MS, share);
    t.tick();
  }
}

test('rr: SCHED_RR at start, SCHED_OTHER within one sample of a busy window, SCHED_RR after a quiet hold', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 42, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  assert.equal(t.adaptive, true);
  assert.deepEqual(f.s.calls, [[true, FORWARDING_RT_PRIORITY]]);
  assert.equal(t.stats().policy, 'rr');
  run(t, f.busy, 1000, 0.1);
  assert.equal(t.stats().policy, 'rr', 'a quiet thread stays real-time');
  assert.equal(t.stats().cpuShare, 0.1, 'the reported share covers the second since the last report');
  f.busy(SAMPLE_MS, DEMOTE_SHARE + 0.2);
  t.tick();
  assert.equal(t.stats().policy, 'other', 'one busy window demotes it');
  assert.equal(t.stats().demotions, 1);
  run(t, f.busy, 2000, 0.4);
  assert.equal(t.stats().policy, 'other', 'between the thresholds it stays where it is');
  run(t, f.busy, QUIET_HOLD_MS - SAMPLE_MS, 0.05);
  assert.equal(t.stats().policy, 'other', 'not before the quiet hold is over');
  run(t, f.busy, SAMPLE_MS, 0.05);
  assert.equal(t.stats().policy, 'rr', 'quiet for the hold: real-time again');
  assert.equal(t.stats().promotions, 1);
  assert.deepEqual(f.s.calls, [
    [true, 1],
    [false, 1],
    [true, 1],
  ]);
});

test('a busy window resets the quiet hold', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 1, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  run(t, f.busy, SAMPLE_MS, 1);
  assert.equal(t.stats().policy, 'other');
  run(t, f.busy, QUIET_HOLD_MS - SAMPLE_MS, 0);
  run(t, f.busy, SAMPLE_MS, PROMOTE_SHARE);
  run(t, f.busy, QUIET_HOLD_MS - SAMPLE_MS, 0);
  assert.equal(t.stats().policy, 'other', 'the quiet run restarted after the window at PROMOTE_SHARE');
  run(t, f.busy, SAMPLE_MS, 0);
  assert.equal(t.stats().policy, 'rr');
});

test('an early tick decides nothing; a late one decides on its whole window', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 1, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  f.busy(SAMPLE_MS / 4, 1);
  t.tick();
  assert.equal(t.stats().policy, 'rr', 'a quarter window at 100 % is too short to judge');
  f.busy(SAMPLE_MS, 0.3);
  t.tick();
  assert.equal(t.stats().policy, 'rr', '(25 + 30) / 125 = 0.44 of a CPU: stays');
  f.busy(10 * SAMPLE_MS, 0.6);
  t.tick();
  assert.equal(t.stats().policy, 'other');
});

test('a borderline load does not flap: demoted once, then held between the thresholds', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 1, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  // Windows alternating just above DEMOTE_SHARE and just under it, and some dips to PROMOTE_SHARE.
  for (let i = 0; i < 200; i++) {
    const share =
      i % 10 === 9 ? PROMOTE_SHARE + 0.01 : i % 2 === 0 ? DEMOTE_SHARE + 0.05 : DEMOTE_SHARE - 0.1;
    run(t, f.busy, SAMPLE_MS, share);
  }
  assert.equal(t.stats().demotions, 1);
  assert.equal(t.stats().promotions, 0);
  assert.equal(f.s.calls.length, 2, 'SCHED_RR at start, SCHED_OTHER once');
});

test('bursty traffic: each quick re-demotion doubles the quiet hold (capped); a long real-time stretch resets it', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 1, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  run(t, f.busy, SAMPLE_MS, 1);
  assert.equal(t.stats().quietHoldMs, QUIET_HOLD_MS, 'the first demotion is no flap');
  const holds: number[] = [];
  for (let burst = 0; burst < 8; burst++) {
    let quiet = 0;
    while (t.stats().policy === 'other') {
      run(t, f.busy, SAMPLE_MS, 0);
      quiet += SAMPLE_MS;
      assert.ok(quiet <= MAX_QUIET_HOLD_MS, 'promoted within the longest hold');
    }
    holds.push(quiet);
    run(t, f.busy, FLAP_WINDOW_MS / 2, 0);
    run(t, f.busy, SAMPLE_MS, 1);
    assert.equal(t.stats().policy, 'other');
  }
  assert.deepEqual(holds, [1000, 2000, 4000, 8000, 16000, 16000, 16000, 16000]);
  assert.equal(t.stats().demotions, 9);
  assert.equal(t.stats().promotions, 8);
  run(t, f.busy, MAX_QUIET_HOLD_MS, 0);
  assert.equal(t.stats().policy, 'rr');
  run(t, f.busy, FLAP_WINDOW_MS, 0);
  run(t, f.busy, SAMPLE_MS, 1);
  assert.equal(t.stats().policy, 'other');
  assert.equal(
    t.stats().quietHoldMs,
    QUIET_HOLD_MS,
    'real-time longer than the flap window: hold back to the base',
  );
});

test('a stream at a moderate CPU share: demoted on its batch rate; promoted once both are low', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 1, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  let batches = 0;
  /** window advances one SAMPLE_MS with `share` of a CPU and `rate` batches a second. */
  const window = (share: number, rate: number) => {
    f.busy(SAMPLE_MS, share);
    batches += (rate * SAMPLE_MS) / 1000;
    t.tick(batches);
  };
  window(0.3, DEMOTE_BATCH_RATE * 10); // the first window has no batch baseline
  assert.equal(t.stats().policy, 'rr');
  window(0.3, DEMOTE_BATCH_RATE);
  assert.equal(t.stats().policy, 'rr', 'at the rate, not above it: stays');
  window(0.3, DEMOTE_BATCH_RATE + 100);
  assert.equal(t.stats().policy, 'other', 'one window of a stream demotes it, though under half a CPU');
  for (let i = 0; i < 30; i++) window(0.1, PROMOTE_BATCH_RATE);
  assert.equal(t.stats().policy, 'other', 'quiet CPU, but still a stream: stays');
  for (let i = 0; i < QUIET_HOLD_MS / SAMPLE_MS; i++) window(0.1, PROMOTE_BATCH_RATE - 100);
  assert.equal(t.stats().policy, 'rr', 'sparse traffic again: real-time');
  assert.equal(t.stats().demotions, 1);
});

test('control messages are not traffic: their CPU time is left out of the share', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 1, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  const applied = t.control(() => {
    f.s.cpuNs += 80e6; // a peer table rebuilt for 80 ms of CPU...
    return 'table';
  });
  assert.equal(applied, 'table');
  f.busy(SAMPLE_MS, 0.1); // ...inside a window of 100 ms
  t.tick();
  assert.equal(t.stats().policy, 'rr');
  assert.throws(() =>
    t.control(() => {
      f.s.cpuNs += 90e6;
      throw new Error('bad diff');
    }),
  );
  f.busy(SAMPLE_MS, 0.1);
  t.tick();
  assert.equal(t.stats().policy, 'rr', 'left out even when the handler throws');
  f.busy(SAMPLE_MS, 0.9);
  t.tick();
  assert.equal(t.stats().policy, 'other', 'traffic still counts');
});

test('refused: stays SCHED_OTHER, says why, never asks again', () => {
  const f = fake('EPERM');
  const t = new ThreadScheduler(1, 7, 'rr', f.calls, () => f.s.nowMs);
  t.start();
  assert.equal(t.stats().policy, 'other');
  assert.equal(t.stats().refused, 'sched_setscheduler SCHED_RR: EPERM');
  assert.equal(t.adaptive, false, 'no timer to tick');
  run(t, f.busy, 1000, 0.9);
  run(t, f.busy, 2000, 0);
  assert.equal(f.s.calls.length, 1);
  assert.equal(t.stats().demotions, 0);
});

test('other: never asks for SCHED_RR; an addon without the call is a refusal with a reason', () => {
  const f = fake();
  const t = new ThreadScheduler(0, 1, 'other', f.calls, () => f.s.nowMs);
  t.start();
  assert.equal(t.adaptive, false);
  run(t, f.busy, 2000, 0.9);
  assert.equal(f.s.calls.length, 0);
  assert.equal(t.stats().cpuShare, 0.9, 'the share is still reported');
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
