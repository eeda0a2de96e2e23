/**
 * yield-budget: a forwarding loop hands its CPU over (sched_yield) after every `budget` packets it
 * moved, so that the tasks consuming what it just delivered get to run.
 *
 * Why: the kernel's softirq forwards at most netdev_budget packets before it lets tasks run (and
 * hands sustained work to ksoftirqd). A weft loop is a task whose fd stays readable under load, so
 * libuv's loop never sleeps: it reads, forwards and reads again. The scheduler's wake-affine
 * placement puts the tasks in a chain (the sending weft, the receiving weft, the receiving
 * application) on one CPU, and then the receiving weft delivers milliseconds of backlog into an
 * application socket whose reader cannot run until weft's slice ends. A default UDP receive buffer
 * (212,992 bytes) holds 256 64-byte datagrams: in a 64-byte iperf3 flood (`perf sched timehist`)
 * the sending weft ran 4.4 ms without sleeping, the receiving weft then 1.9 ms, and the server,
 * runnable on the same CPU, lost what did not fit while the other CPU ran the client alone.
 * Yielding after each budget lets the consumer drain between bursts. With nothing else runnable
 * on the CPU, sched_yield returns at once (one system call per budget). Under SCHED_RR (`weft
 * run`'s forwarding threads while they use under half a CPU) it only rotates among real-time
 * threads, so the application does not get the CPU: there the yield does nothing, and a 64-byte
 * flood through `weft run` measured 0.82-0.86 x `weft link`'s rate (docs/performance.md).
 *
 * `WEFT_YIELD_BUDGET` (packets, default YIELD_BUDGET; 0 never yields) sets the budget.
 */
import { ConfigError } from '../errors';
import { loadBinding } from '../io/binding';

/** YIELD_BUDGET_ENV names the environment variable that sets the budget. */
export const YIELD_BUDGET_ENV = 'WEFT_YIELD_BUDGET';

/**
 * YIELD_BUDGET is the default: packets a loop moves between yields. Half of what a default UDP
 * receive buffer holds of 64-byte datagrams (256), so one budget never fills an idle reader's
 * buffer; measured in bench/README.md ("Yielding the CPU between bursts").
 */
export const YIELD_BUDGET = 128;

/** MAX_YIELD_BUDGET bounds the variable (larger is the same as never yielding under any load). */
export const MAX_YIELD_BUDGET = 1_000_000;

/** parseYieldBudget reads WEFT_YIELD_BUDGET (unset or empty: YIELD_BUDGET); ConfigError naming the variable and the rule. */
export function parseYieldBudget(value: string | undefined): number {
  const v = (value ?? '').trim();
  if (v === '') return YIELD_BUDGET;
  if (!/^\d+$/.test(v) || Number(v) > MAX_YIELD_BUDGET) {
    throw new ConfigError(
      YIELD_BUDGET_ENV,
      `must be an integer from 0 (never yield) to ${MAX_YIELD_BUDGET}`,
      v,
    );
  }
  return Number(v);
}

/** YieldBudget counts packets and yields the thread's CPU each time `budget` of them have passed. */
export class YieldBudget {
  /** Times the loop yielded. */
  yields = 0;
  private left: number;

  /**
   * YieldBudget yields through `yieldFn` (null: never, e.g. an addon without threadYield) every
   * `budget` packets (0: never).
   */
  constructor(
    private readonly yieldFn: (() => void) | null,
    readonly budget: number = YIELD_BUDGET,
  ) {
    this.left = budget;
  }

  /** spend charges `n` packets just forwarded; when the budget is used up, yields and refills it. */
  spend(n: number): void {
    if (this.budget === 0 || this.yieldFn === null) return;
    this.left -= n;
    if (this.left > 0) return;
    this.left = this.budget;
    this.yields++;
    this.yieldFn();
  }
}

/**
 * defaultYieldBudget is a loop's budget: the addon's threadYield (sched_yield of the calling
 * thread) every WEFT_YIELD_BUDGET packets. Throws ConfigError on a bad WEFT_YIELD_BUDGET.
 */
export function defaultYieldBudget(env: NodeJS.ProcessEnv = process.env): YieldBudget {
  const budget = parseYieldBudget(env[YIELD_BUDGET_ENV]);
  return new YieldBudget(loadBinding().threadYield ?? null, budget);
}
