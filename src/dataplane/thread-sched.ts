/**
 * thread-sched: how a forwarding thread of `weft run` is scheduled.
 *
 * The kernel's VXLAN forwards in softirq, ahead of every task. weft's forwarding threads are
 * tasks, and under the default policy (SCHED_OTHER) a thread woken by a packet waits for a CPU
 * whenever both are busy: in a 10,000-lease churn `perf sched` showed every late ping (4-124 ms)
 * spent "runnable, not running" on a forwarding thread while the CPUs ran the control plane of
 * either weft node, its `ip -batch` children, libuv's threadpool and unrelated processes. `nice`
 * does not help across processes: with autogroup (one group per session) or cgroups (one per
 * service or pod) the kernel first shares the CPU between groups, and the control plane's burst is
 * charged to weft's own group. So a forwarding thread asks for SCHED_RR at priority
 * FORWARDING_RT_PRIORITY (the lowest real-time one): woken by a packet, it preempts any
 * SCHED_OTHER task at once, in any group.
 *
 * Like softirq, which hands over to ksoftirqd (a normal task) when it keeps a CPU busy, a
 * forwarding thread that keeps a CPU busy (sustained traffic) goes back to SCHED_OTHER, so that a
 * saturated dataplane cannot starve the control plane, the kubelet or ssh. It has to decide soon:
 * a real-time thread is woken the moment a packet arrives and so reads tiny batches, which costs
 * a flood 15 % of its small-packet rate and a third more CPU per byte (bench/README.md). So the
 * thread samples its own CPU time and its loops' batch counters every SAMPLE_MS (a timer on its
 * event loop: one clock read each, nothing per packet):
 *
 *   rr    -> other  a sample window busier than DEMOTE_SHARE of a CPU, or with more batches than
 *                   DEMOTE_BATCH_RATE a second (a stream: woken per packet, a real-time thread
 *                   reads one-datagram batches at a moderate CPU share and preempts the
 *                   stream's own sender and receiver at every packet)
 *   other -> rr     every window under PROMOTE_SHARE and PROMOTE_BATCH_RATE for the quiet hold
 *                   (QUIET_HOLD_MS)
 *
 * Hysteresis against flapping: the two thresholds are apart (a load between them stays where it
 * is), promotion needs a quiet hold, and a thread demoted again within FLAP_WINDOW_MS of its
 * promotion (bursty traffic) doubles its hold, up to MAX_QUIET_HOLD_MS; a demotion after a longer
 * real-time stretch resets it. CPU the thread spends on control messages (a new peer table during
 * a lease churn) is not traffic and is left out (`control`), so a churn does not demote it.
 *
 * `WEFT_FORWARDING_SCHED=other` keeps the forwarding threads on SCHED_OTHER. Without
 * CAP_SYS_NICE, or with real-time group scheduling that gives weft's cgroup no real-time budget,
 * the kernel refuses (EPERM) and the thread stays on SCHED_OTHER; `stats().forwarding` says why.
 */
import { ConfigError } from '../errors';

/** FORWARDING_SCHED_ENV names the environment variable that picks the policy. */
export const FORWARDING_SCHED_ENV = 'WEFT_FORWARDING_SCHED';

/** FORWARDING_RT_PRIORITY is the SCHED_RR priority (1: above every SCHED_OTHER task, below the kernel's own real-time threads). */
export const FORWARDING_RT_PRIORITY = 1;

/** DEMOTE_SHARE: a real-time forwarding thread busier than this (CPU time / wall time) drops to SCHED_OTHER. */
export const DEMOTE_SHARE = 0.5;

/** PROMOTE_SHARE: a demoted forwarding thread quieter than this goes back to SCHED_RR. */
export const PROMOTE_SHARE = 0.25;

/** DEMOTE_BATCH_RATE: a real-time forwarding thread running more batches a second (both directions) drops to SCHED_OTHER. */
export const DEMOTE_BATCH_RATE = 2000;

/** PROMOTE_BATCH_RATE: a demoted thread must also run fewer batches a second than this to go back. */
export const PROMOTE_BATCH_RATE = 500;

/** SAMPLE_MS is how often a real-time forwarding thread samples its CPU time (its timer). */
export const SAMPLE_MS = 100;

/** QUIET_HOLD_MS is how long a demoted thread stays below PROMOTE_SHARE before SCHED_RR again. */
export const QUIET_HOLD_MS = 1000;

/** MAX_QUIET_HOLD_MS caps the quiet hold that flapping doubles. */
export const MAX_QUIET_HOLD_MS = 16_000;

/** FLAP_WINDOW_MS: a demotion this soon after a promotion is a flap (the hold doubles). */
export const FLAP_WINDOW_MS = 5000;

/** MIN_WINDOW_MS: a sample window shorter than this (an early tick) waits for the next one. */
const MIN_WINDOW_MS = SAMPLE_MS / 2;

/** MIN_REPORT_MS: the reported CPU share covers at least this long (stats every second). */
const MIN_REPORT_MS = 500;

/** ForwardingSched is the wanted policy: 'rr' (real-time when allowed) or 'other'. */
export type ForwardingSched = 'rr' | 'other';

/** parseForwardingSched reads WEFT_FORWARDING_SCHED (unset: rr); ConfigError naming the variable and the rule. */
export function parseForwardingSched(value: string | undefined): ForwardingSched {
  const v = (value ?? '').trim();
  if (v === '' || v === 'rr') return 'rr';
  if (v === 'other') return 'other';
  throw new ConfigError(FORWARDING_SCHED_ENV, 'must be rr or other', v);
}

/** SchedCalls are the native calls this module needs (src/io/binding.ts; fakes in tests). */
export interface SchedCalls {
  threadSetScheduler?(rr: boolean, priority: number): string | null;
  threadCpuNs?(): number;
}

/** ThreadSchedStats is one forwarding thread's scheduling, as `stats().forwarding` lists it. */
export interface ThreadSchedStats {
  queue: number;
  /** Linux thread id (null without /proc). */
  tid: number | null;
  wanted: ForwardingSched;
  /** The policy now: 'rr' (SCHED_RR) or 'other' (SCHED_OTHER). */
  policy: ForwardingSched;
  /** Why SCHED_RR was refused (errno name, or the addon lacks the call), or null. */
  refused: string | null;
  /** Times the thread dropped to SCHED_OTHER because it kept a CPU busy. */
  demotions: number;
  /** Times a demoted thread went back to SCHED_RR. */
  promotions: number;
  /** How long a demoted thread must stay quiet before SCHED_RR again (doubles while it flaps). */
  quietHoldMs: number;
  /** The thread's CPU time since the last report (about a second), as a share of one CPU. */
  cpuShare: number;
}

/** ThreadScheduler applies the policy to the calling thread and follows its CPU use (control path). */
export class ThreadScheduler {
  private policy: ForwardingSched = 'other';
  private refused: string | null = null;
  private demotions = 0;
  private promotions = 0;
  private demoted = false;
  private hold = QUIET_HOLD_MS;
  /** Start of the current run of quiet windows, or -1. */
  private quietSince = -1;
  private promotedAt = -Infinity;
  /** CPU time spent on control messages, left out of the windows and the report. */
  private controlNs = 0;
  private lastCpuNs = 0;
  private lastControlNs = 0;
  private lastAtMs = 0;
  private lastBatches = -1;
  private share = 0;
  private reportCpuNs = 0;
  private reportControlNs = 0;
  private reportAtMs = 0;

  constructor(
    private readonly queue: number,
    private readonly tid: number | null,
    private readonly wanted: ForwardingSched,
    private readonly calls: SchedCalls,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** start asks for the wanted policy (call it on the forwarding thread, before it forwards). */
  start(): void {
    const cpu = this.calls.threadCpuNs?.() ?? 0;
    const at = this.now();
    this.lastCpuNs = this.reportCpuNs = cpu;
    this.lastAtMs = this.reportAtMs = at;
    if (this.wanted === 'rr') this.set(true);
  }

  /** adaptive is true while the policy follows the thread's CPU use (SCHED_RR wanted and allowed): tick it then. */
  get adaptive(): boolean {
    return this.wanted === 'rr' && this.refused === null && this.calls.threadCpuNs !== undefined;
  }

  /**
   * tick measures the thread's CPU share and batch rate since the last tick and demotes or
   * promotes it (see the module comment). Call it on the forwarding thread every SAMPLE_MS,
   * between batches, with the batches its loops ran so far (both directions; omitted: CPU only).
   */
  tick(batches = -1): void {
    const cpu = this.calls.threadCpuNs?.();
    if (cpu === undefined) return;
    const at = this.now();
    const wall = at - this.lastAtMs;
    if (wall < MIN_WINDOW_MS) return;
    const share = (cpu - this.lastCpuNs - (this.controlNs - this.lastControlNs)) / 1e6 / wall;
    const rate = batches >= 0 && this.lastBatches >= 0 ? ((batches - this.lastBatches) * 1000) / wall : 0;
    const from = this.lastAtMs;
    this.lastCpuNs = cpu;
    this.lastControlNs = this.controlNs;
    this.lastAtMs = at;
    this.lastBatches = batches;
    if (!this.adaptive) return;
    if (!this.demoted) {
      if (share <= DEMOTE_SHARE && rate <= DEMOTE_BATCH_RATE) return;
      this.demoted = true;
      this.demotions++;
      this.quietSince = -1;
      // Demoted again soon after a promotion: bursty traffic; wait longer before the next try.
      this.hold =
        at - this.promotedAt < FLAP_WINDOW_MS ? Math.min(this.hold * 2, MAX_QUIET_HOLD_MS) : QUIET_HOLD_MS;
      this.set(false);
      return;
    }
    if (share >= PROMOTE_SHARE || rate >= PROMOTE_BATCH_RATE) {
      this.quietSince = -1;
      return;
    }
    if (this.quietSince < 0) this.quietSince = from;
    if (at - this.quietSince < this.hold) return;
    this.demoted = false;
    this.promotions++;
    this.promotedAt = at;
    this.set(true);
  }

  /**
   * control runs `fn` (a control message handled on the forwarding thread) and leaves its CPU time
   * out of the thread's share: rebuilding a peer table is not traffic.
   */
  control<T>(fn: () => T): T {
    const f = this.calls.threadCpuNs;
    if (f === undefined) return fn();
    const before = f.call(this.calls);
    try {
      return fn();
    } finally {
      this.controlNs += f.call(this.calls) - before;
    }
  }

  /** stats reports the thread's scheduling; its CPU share covers the time since the last report. */
  stats(): ThreadSchedStats {
    const cpu = this.calls.threadCpuNs?.();
    const at = this.now();
    if (cpu !== undefined && at - this.reportAtMs >= MIN_REPORT_MS) {
      this.share =
        (cpu - this.reportCpuNs - (this.controlNs - this.reportControlNs)) / 1e6 / (at - this.reportAtMs);
      this.reportCpuNs = cpu;
      this.reportControlNs = this.controlNs;
      this.reportAtMs = at;
    }
    return {
      queue: this.queue,
      tid: this.tid,
      wanted: this.wanted,
      policy: this.policy,
      refused: this.refused,
      demotions: this.demotions,
      promotions: this.promotions,
      quietHoldMs: this.hold,
      cpuShare: Math.round(this.share * 1000) / 1000,
    };
  }

  private set(rr: boolean): void {
    const f = this.calls.threadSetScheduler;
    if (f === undefined) {
      if (rr) this.refused = 'the native addon has no threadSetScheduler (npm run build:native)';
      return;
    }
    const err = f.call(this.calls, rr, FORWARDING_RT_PRIORITY);
    if (err === null) this.policy = rr ? 'rr' : 'other';
    else if (rr) this.refused = `sched_setscheduler SCHED_RR: ${err}`;
  }
}
