/**
 * traffic-rules: what flanneld's traffic manager does for `--ip-masq`, `--iptables-forward-rules`
 * and `--iptables-resync` (flannel `main.go` + `pkg/trafficmngr/iptables`), on top of
 * src/control/iptables.ts.
 *
 * Start, in flannel's order:
 *   1. masquerade (`--ip-masq`): when the previous subnet.env names another network or subnet,
 *      delete the rules built from those; create/flush FLANNEL-POSTRTG; write the rules;
 *   2. forward (`--iptables-forward-rules`, default on): create/flush FLANNEL-FWD; write the rules;
 *   3. every `--iptables-resync` seconds, check each set; reinstall a set with any rule missing.
 * Failures are logged with the command, the rule and iptables' stderr, counted by chain
 * (`weft_iptables_errors_total`) and retried by the next resync; they never stop the daemon.
 * `stop` ends the resync and leaves the rules installed, as flanneld does; `removeNew` (a start
 * that failed later) deletes the rules and the chains this start created.
 */
import {
  FWD_CHAIN,
  IptablesRule,
  Iptables,
  MASQ_CHAIN,
  forwardRules,
  masqRules,
  ruleText,
} from '../control/iptables';
import { WeftError } from '../errors';
import type { DaemonCounters } from '../metrics/metrics';
import type { Logger } from './log';

/** RuleSet is one chain's rules as installed and resynced together. */
export interface RuleSet {
  readonly chain: string;
  readonly table: 'nat' | 'filter';
  readonly rules: readonly IptablesRule[];
}

/** TrafficRulesOptions configures TrafficRules. */
export interface TrafficRulesOptions {
  readonly iptables: Iptables;
  readonly log: Logger;
  readonly counters: DaemonCounters;
  /** Cluster network, e.g. `10.244.0.0/16`. */
  readonly network: string;
  /** Own lease subnet, e.g. `10.244.3.0/24`. */
  readonly subnet: string;
  readonly ipMasq: boolean;
  readonly randomFullyDisable: boolean;
  readonly forwardRules: boolean;
  /** Seconds between checks (`--iptables-resync`). */
  readonly resyncSeconds: number;
  /** Network and subnet from the previous subnet.env, when it had both. */
  readonly previous: { network: string; subnet: string } | null;
}

/** MAX_TIMER_MS is the longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function errFields(e: unknown): Record<string, unknown> {
  return e instanceof WeftError ? { error: e.message, code: e.code } : { error: String(e) };
}

/** TrafficRules installs flannel's masquerade and forward chains and keeps them installed. */
export class TrafficRules {
  /** The rule sets in installation order (masquerade first, as flannel). */
  sets: RuleSet[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Chains (`table/chain`) that did not exist before this start. */
  private readonly newChains = new Set<string>();

  constructor(private readonly o: TrafficRulesOptions) {}

  private countError(chain: string): void {
    const m = this.o.counters.iptablesErrors;
    m.set(chain, (m.get(chain) ?? 0) + 1);
  }

  /** start runs steps 1-3 of the module comment; never rejects. */
  async start(): Promise<void> {
    const o = this.o;
    let randomFully = false;
    try {
      randomFully = (await o.iptables.probe()).randomFully && !o.randomFullyDisable;
    } catch (e) {
      this.countError(o.ipMasq ? MASQ_CHAIN : FWD_CHAIN);
      o.log.error('Failed to setup IPTables: iptables not usable', errFields(e));
    }
    if (o.ipMasq) {
      const rules = masqRules({ network: o.network, podSubnet: o.subnet, randomFully });
      const prev = o.previous;
      if (prev && (prev.network !== o.network || prev.subnet !== o.subnet)) {
        o.log.info(
          `Current network or subnet (${o.network}, ${o.subnet}) is not equal to previous one (${prev.network}, ${prev.subnet}), trying to recycle old iptables rules`,
        );
        try {
          const old = masqRules({ network: prev.network, podSubnet: prev.subnet, randomFully });
          const n = await o.iptables.teardown(old.filter((r) => !rules.some((k) => sameRule(k, r))));
          o.log.info('deleted the previous masquerade rules', { rules: n });
        } catch (e) {
          this.countError(MASQ_CHAIN);
          o.log.error('Failed to delete the previous masquerade rules', errFields(e));
        }
      }
      o.log.info('Setting up masking rules', { network: o.network, subnet: o.subnet, randomFully });
      await this.install({ chain: MASQ_CHAIN, table: 'nat', rules }, true);
    }
    if (o.forwardRules) {
      o.log.info('Setting up forward rules', { network: o.network });
      await this.install({ chain: FWD_CHAIN, table: 'filter', rules: forwardRules(o.network) }, true);
    }
    if (this.sets.length > 0 && !this.stopped) this.schedule();
  }

  /** install creates/flushes the chain (first time only) and writes the set. */
  private async install(set: RuleSet, first: boolean): Promise<void> {
    if (first) {
      this.sets.push(set);
      try {
        const existed = await this.o.iptables.chainExists(set.table, set.chain);
        if (!existed) this.newChains.add(`${set.table}/${set.chain}`);
        await this.o.iptables.clearChain(set.table, set.chain);
      } catch (e) {
        this.countError(set.chain);
        this.o.log.error('Failed to setup IPTables. Error on creating the chain', {
          chain: set.chain,
          ...errFields(e),
        });
      }
    }
    try {
      await this.o.iptables.bootstrap(set.rules);
      this.o.log.info(first ? 'iptables rules installed' : 'iptables rules reinstalled', {
        chain: set.chain,
        rules: set.rules.length,
      });
    } catch (e) {
      this.countError(set.chain);
      this.o.log.error('Failed to bootstrap IPTables', { chain: set.chain, ...errFields(e) });
    }
  }

  private schedule(): void {
    // Node fires a delay above 2^31-1 ms (~24.8 days) after 1 ms instead: clamp, never spin.
    const ms = Math.min(this.o.resyncSeconds * 1000, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.resync().finally(() => {
        if (!this.stopped) this.schedule();
      });
    }, ms);
  }

  /**
   * resync checks every set once and reinstalls a set with a missing rule (flannel's
   * ensureIPTables); resolves with the chains reinstalled. Never rejects.
   */
  async resync(): Promise<string[]> {
    const done: string[] = [];
    for (const set of this.sets) {
      if (this.stopped) break;
      let missing: IptablesRule[];
      try {
        missing = await this.o.iptables.missing(set.rules);
      } catch (e) {
        this.countError(set.chain);
        this.o.log.error('Failed to ensure iptables rules', { chain: set.chain, ...errFields(e) });
        continue;
      }
      if (missing.length === 0) continue;
      this.o.log.warn('Some iptables rules are missing; deleting and recreating rules', {
        chain: set.chain,
        missing: missing.map((r) => `-t ${r.table} ${ruleText(r)}`),
      });
      const m = this.o.counters.iptablesReinstalls;
      m.set(set.chain, (m.get(set.chain) ?? 0) + 1);
      await this.install(set, false);
      done.push(set.chain);
    }
    return done;
  }

  /**
   * removeNew undoes a start that failed after the rules went in: ends the resync, then deletes
   * the rules of every chain this start created (the jump from POSTROUTING / FORWARD included)
   * and the chain. Chains that were there before (a previous run's) stay, with their rules.
   * Resolves with the chains removed.
   */
  async removeNew(): Promise<string[]> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running.catch(() => undefined);
    const removed: string[] = [];
    for (const set of [...this.sets].reverse()) {
      if (!this.newChains.has(`${set.table}/${set.chain}`)) continue;
      await this.o.iptables.teardown(set.rules);
      await this.o.iptables.deleteChain(set.table, set.chain);
      removed.push(set.chain);
    }
    this.sets = this.sets.filter((s) => !removed.includes(s.chain));
    return removed;
  }

  /** stop ends the resync (waiting for a check in progress); the rules stay installed. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running.catch(() => undefined);
    if (this.sets.length > 0) {
      this.o.log.info('iptables rules left in place, as flanneld leaves them', {
        chains: this.sets.map((s) => s.chain),
      });
    }
  }
}

function sameRule(a: IptablesRule, b: IptablesRule): boolean {
  return a.table === b.table && a.chain === b.chain && a.spec.join('\0') === b.spec.join('\0');
}
