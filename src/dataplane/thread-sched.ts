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
 * forwarding thread that used more than DEMOTE_SHARE of a CPU over an interval (sustained
 * traffic) goes back to SCHED_OTHER, so that a saturated dataplane cannot starve the control
 * plane, the kubelet or ssh; below PROMOTE_SHARE it asks for SCHED_RR again. The interval is the
 * worker's counter refresh (queue-workers.ts, every second).
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

/** MIN_INTERVAL_MS: shorter intervals (an on-demand counter refresh) are too noisy to decide on. */
const MIN_INTERVAL_MS = 500;

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
  /** The thread's CPU time over the last interval, as a share of one CPU. */
  cpuShare: number;
}

/** ThreadScheduler applies the policy to the calling thread and follows its CPU use (control path). */
export class ThreadScheduler {
  private policy: ForwardingSched = 'other';
  private refused: string | null = null;
  private demotions = 0;
  private demoted = false;
  private share = 0;
  private lastCpuNs = 0;
  private lastAtMs = 0;

  constructor(
    private readonly queue: number,
    private readonly tid: number | null,
    private readonly wanted: ForwardingSched,
    private readonly calls: SchedCalls,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** start asks for the wanted policy (call it on the forwarding thread, before it forwards). */
  start(): void {
    this.lastCpuNs = this.calls.threadCpuNs?.() ?? 0;
    this.lastAtMs = this.now();
    if (this.wanted === 'rr') this.set(true);
  }

  /**
   * tick measures the thread's CPU share since the last tick and demotes or promotes it (see the
   * module comment). Call it on the forwarding thread, between batches.
   */
  tick(): void {
    const cpu = this.calls.threadCpuNs?.();
    if (cpu === undefined) return;
    const at = this.now();
    const wall = at - this.lastAtMs;
    if (wall < MIN_INTERVAL_MS) return;
    this.share = (cpu - this.lastCpuNs) / 1e6 / wall;
    this.lastCpuNs = cpu;
    this.lastAtMs = at;
    if (this.wanted !== 'rr' || this.refused !== null) return;
    if (!this.demoted && this.share > DEMOTE_SHARE) {
      this.demoted = true;
      this.demotions++;
      this.set(false);
    } else if (this.demoted && this.share < PROMOTE_SHARE) {
      this.demoted = false;
      this.set(true);
    }
  }

  /** stats reports the thread's scheduling. */
  stats(): ThreadSchedStats {
    return {
      queue: this.queue,
      tid: this.tid,
      wanted: this.wanted,
      policy: this.policy,
      refused: this.refused,
      demotions: this.demotions,
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
