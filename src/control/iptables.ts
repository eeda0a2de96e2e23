/**
 * iptables: flannel's iptables rules for `--ip-masq` and `--iptables-forward-rules` (flannel
 * `pkg/trafficmngr/iptables/{iptables.go,iptables_restore.go}`, `pkg/trafficmngr/trafficmngr.go`),
 * installed with the `iptables` and `iptables-restore` commands, whichever variant the system has
 * (Debian: iptables-nft). IPv4 only, as weft leases IPv4 only.
 *
 * The rules, in flannel's order and with flannel's comments, so that a node that ran flanneld ends
 * with the same ruleset (and flanneld started later recognises weft's rules, and back):
 *
 *   nat     POSTROUTING      -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
 *           FLANNEL-POSTRTG  -m mark --mark 0x4000/0x4000 ... -j RETURN      (kube-proxy's mark)
 *                            -s POD -d NETWORK ... -j RETURN                 (pod -> cluster)
 *                            -s NETWORK -d POD ... -j RETURN                 (cluster -> pod)
 *                            ! -s NETWORK -d POD ... -j RETURN               (outside -> pod)
 *                            -s NETWORK ! -d 224.0.0.0/4 ... -j MASQUERADE [--random-fully]
 *                            ! -s NETWORK -d NETWORK ... -j MASQUERADE [--random-fully]
 *   filter  FORWARD          -m comment --comment "flanneld forward" -j FLANNEL-FWD
 *           FLANNEL-FWD      -s NETWORK ... -j ACCEPT;  -d NETWORK ... -j ACCEPT
 *
 * `--random-fully` is added when iptables is at least 1.6.2 (go-iptables' HasRandomFully) and
 * `--ip-masq-fully-random-disable` is not set.
 *
 * Lifecycle, as flannel's:
 *   - start: the chain is created, or flushed if it exists (`ClearChain`); then one
 *     `iptables-restore --noflush` transaction deletes those of the rules that exist and appends
 *     all of them, so they end up complete and in order (`ipTablesBootstrap`);
 *   - every resync period: each rule (and its chain) is checked; if any is missing, the same
 *     delete-and-append transaction runs again (`ensureIPTables`);
 *   - a changed network or subnet (from the previous subnet.env) first deletes the old rules;
 *   - shutdown leaves the rules in place: flannel stopped removing them so that a restart does
 *     not cut pods off (flannel PR #2239, issue #2237).
 *
 * Checks (resync, and which rules bootstrap deletes first) read each table once with
 * `iptables -t T -S` and look each rule up by the text iptables prints for it
 * (src/control/iptables-canonical.ts): one process per table per pass, where flannel's
 * go-iptables runs one `iptables -C` per rule. A rule whose printed text is not predicted is
 * checked with `iptables -C`, counted in `Iptables.stats.fallbackChecks`.
 *
 * Errors name the command (with the rule) and iptables' stderr (SystemError); a missing binary is
 * a ToolMissingError. Nothing here retries: the caller's resync does.
 */
import { spawn } from 'node:child_process';
import { SystemError, ToolMissingError } from '../errors';
import { TableListing, canonicalRuleText, parseTableListing } from './iptables-canonical';

/** MASQ_CHAIN is flannel's nat chain for `--ip-masq`. */
export const MASQ_CHAIN = 'FLANNEL-POSTRTG';
/** FWD_CHAIN is flannel's filter chain for `--iptables-forward-rules`. */
export const FWD_CHAIN = 'FLANNEL-FWD';
/** MASQ_COMMENT / FWD_COMMENT are the `-m comment` texts flannel puts on its rules. */
export const MASQ_COMMENT = 'flanneld masq';
export const FWD_COMMENT = 'flanneld forward';
/** KUBE_PROXY_MARK is kube-proxy's masquerade mark (flannel `trafficmngr.KubeProxyMark`). */
export const KUBE_PROXY_MARK = '0x4000/0x4000';
/** MULTICAST_V4 is never masqueraded. */
export const MULTICAST_V4 = '224.0.0.0/4';

/** IptablesTable is the table a rule lives in. */
export type IptablesTable = 'nat' | 'filter';

/** IptablesRule is one rule: `-t TABLE -A CHAIN ...spec` (flannel `trafficmngr.IPTablesRule`). */
export interface IptablesRule {
  readonly table: IptablesTable;
  readonly chain: string;
  readonly spec: readonly string[];
}

/** MasqRuleOptions are the inputs of masqRules. */
export interface MasqRuleOptions {
  /** The cluster network (`Network`), e.g. `10.244.0.0/16`. */
  readonly network: string;
  /** This node's lease subnet, e.g. `10.244.3.0/24`. */
  readonly podSubnet: string;
  /** Append `--random-fully` to the MASQUERADE rules. */
  readonly randomFully: boolean;
}

/** masqRules returns flannel's `masqRules` for an IPv4 network and lease, in order. */
export function masqRules(o: MasqRuleOptions): IptablesRule[] {
  const c = ['-m', 'comment', '--comment', MASQ_COMMENT];
  const masq = o.randomFully ? ['MASQUERADE', '--random-fully'] : ['MASQUERADE'];
  const nat = (chain: string, spec: string[]): IptablesRule => ({ table: 'nat', chain, spec });
  const net = o.network;
  const pod = o.podSubnet;
  return [
    // The jump comes first so that a resync re-adds it together with the chain's rules.
    nat('POSTROUTING', [...c, '-j', MASQ_CHAIN]),
    // kube-proxy marks what it will masquerade itself; NATing it twice trips a kernel bug.
    nat(MASQ_CHAIN, ['-m', 'mark', '--mark', KUBE_PROXY_MARK, ...c, '-j', 'RETURN']),
    nat(MASQ_CHAIN, ['-s', pod, '-d', net, ...c, '-j', 'RETURN']),
    nat(MASQ_CHAIN, ['-s', net, '-d', pod, ...c, '-j', 'RETURN']),
    // Replies to outside clients of a pod (e.g. through a NodePort) keep the pod's address.
    nat(MASQ_CHAIN, ['!', '-s', net, '-d', pod, ...c, '-j', 'RETURN']),
    nat(MASQ_CHAIN, ['-s', net, '!', '-d', MULTICAST_V4, ...c, '-j', ...masq]),
    nat(MASQ_CHAIN, ['!', '-s', net, '-d', net, ...c, '-j', ...masq]),
  ];
}

/** forwardRules returns flannel's `forwardRules` for an IPv4 network, in order. */
export function forwardRules(network: string): IptablesRule[] {
  const c = ['-m', 'comment', '--comment', FWD_COMMENT];
  return [
    { table: 'filter', chain: 'FORWARD', spec: [...c, '-j', FWD_CHAIN] },
    { table: 'filter', chain: FWD_CHAIN, spec: ['-s', network, ...c, '-j', 'ACCEPT'] },
    { table: 'filter', chain: FWD_CHAIN, spec: ['-d', network, ...c, '-j', 'ACCEPT'] },
  ];
}

/** flannelChainOf is the flannel chain a rule is in or jumps to (checked before the rule), or null. */
export function flannelChainOf(r: IptablesRule): string | null {
  const last = r.spec[r.spec.length - 1];
  for (const ch of [FWD_CHAIN, MASQ_CHAIN]) if (r.chain === ch || last === ch) return ch;
  return null;
}

/** quoteArg renders one argument as iptables-save / iptables-restore shows it. */
function quoteArg(a: string): string {
  return /^[A-Za-z0-9_./:!,=+-]+$/.test(a) ? a : `"${a.replace(/(["\\])/g, '\\$1')}"`;
}

/** ruleText renders a rule as `-A CHAIN spec...` (iptables-save's form, comments quoted). */
export function ruleText(r: IptablesRule, op: '-A' | '-D' | '-C' = '-A'): string {
  return [op, r.chain, ...r.spec.map(quoteArg)].join(' ');
}

/** RestoreOp is one line of an iptables-restore transaction. */
export interface RestoreOp {
  readonly op: '-A' | '-D';
  readonly rule: IptablesRule;
}

/**
 * restorePayload renders `ops` as iptables-restore input: per table (in first-use order) a
 * `*table` line, the ops in order, then `COMMIT` (flannel `buildIPTablesRestorePayload`).
 */
export function restorePayload(ops: readonly RestoreOp[]): string {
  const byTable = new Map<string, string[]>();
  for (const o of ops) {
    const lines = byTable.get(o.rule.table) ?? [];
    lines.push(ruleText(o.rule, o.op));
    byTable.set(o.rule.table, lines);
  }
  let s = '';
  for (const [table, lines] of byTable) s += `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  return s;
}

/** parseIptablesVersion reads `iptables v1.8.9 (nf_tables)`; null when there is no version. */
export function parseIptablesVersion(
  text: string,
): { major: number; minor: number; patch: number; mode: string } | null {
  const m = /v(\d+)\.(\d+)\.(\d+)(?:\s+\(([^)]+)\))?/.exec(text);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), mode: m[4] ?? 'legacy' };
}

/** versionAtLeast compares a parsed version with a.b.c. */
function versionAtLeast(
  v: { major: number; minor: number; patch: number },
  a: number,
  b: number,
  c: number,
): boolean {
  if (v.major !== a) return v.major > a;
  if (v.minor !== b) return v.minor > b;
  return v.patch >= c;
}

/** ToolResult is one finished command. */
export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** IptablesRunner runs `iptables` or `iptables-restore` (a fake in unit tests). */
export type IptablesRunner = (
  cmd: 'iptables' | 'iptables-restore',
  args: readonly string[],
  input?: string,
) => Promise<ToolResult>;

/** runTool is the real IptablesRunner; a missing binary rejects with ToolMissingError. */
export const runTool: IptablesRunner = (cmd, args, input) =>
  new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new ToolMissingError(cmd, 'apt-get install iptables') : e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });

/** IptablesInfo is what `iptables --version` told us. */
export interface IptablesInfo {
  /** The version line, e.g. `iptables v1.8.9 (nf_tables)`. */
  readonly version: string;
  /** `nf_tables` or `legacy`. */
  readonly mode: string;
  /** MASQUERADE --random-fully is understood (>= 1.6.2). */
  readonly randomFully: boolean;
  /** `-w` (wait for the xtables lock) is understood (>= 1.4.20; iptables-restore: >= 1.6.2). */
  readonly wait: boolean;
  readonly restoreWait: boolean;
}

/** IptablesCheckStats counts the work of the check passes (missing, bootstrap, teardown). */
export interface IptablesCheckStats {
  /** `iptables -t T -S` listings run (one per table per pass). */
  tableReads: number;
  /** Rules found present or absent by their canonical text in a listing (no process). */
  textChecks: number;
  /** Rules whose canonical text is not predicted, checked with `iptables -C` (one process each). */
  fallbackChecks: number;
}

/**
 * RulesetView answers, for one check pass, whether chains and rules exist: each table is listed
 * once, on first use; a rule is looked up by its canonical text, or with `iptables -C` when that
 * text cannot be predicted. Chains created during the pass are recorded with chainCreated.
 */
class RulesetView {
  private readonly tables = new Map<IptablesTable, Promise<TableListing>>();
  private readonly created = new Set<string>();

  constructor(
    private readonly ipt: Iptables,
    private readonly stats: IptablesCheckStats,
  ) {}

  private listing(table: IptablesTable): Promise<TableListing> {
    let l = this.tables.get(table);
    if (!l) {
      l = this.ipt.listTable(table);
      this.tables.set(table, l);
    }
    return l;
  }

  async chainExists(table: IptablesTable, chain: string): Promise<boolean> {
    if (this.created.has(`${table}/${chain}`)) return true;
    return (await this.listing(table)).chains.has(chain);
  }

  /** chainCreated records a chain made in this pass (empty, so it holds none of the rules). */
  chainCreated(table: IptablesTable, chain: string): void {
    this.created.add(`${table}/${chain}`);
  }

  /** chainGone: `rule`'s flannel chain (the one it is in or jumps to) is absent. */
  async chainGone(rule: IptablesRule): Promise<boolean> {
    const ch = flannelChainOf(rule);
    return ch !== null && !(await this.chainExists(rule.table, ch));
  }

  async has(rule: IptablesRule): Promise<boolean> {
    const text = canonicalRuleText(rule.chain, rule.spec);
    if (text === null) {
      this.stats.fallbackChecks++;
      return this.ipt.exists(rule);
    }
    const l = await this.listing(rule.table);
    this.stats.textChecks++;
    return l.rules.has(text);
  }
}

/**
 * Iptables runs flannel's rule operations (go-iptables' ChainExists, ClearChain, Exists, and
 * flannel's bootstrap / ensure / teardown) through an IptablesRunner.
 */
export class Iptables {
  private info: IptablesInfo | null = null;
  /** How rule presence was decided, since construction (plain numbers; tests read them). */
  readonly stats: IptablesCheckStats = { tableReads: 0, textChecks: 0, fallbackChecks: 0 };
  /** One transaction or check pass at a time, as flannel's iptables-restore mutex. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly run: IptablesRunner = runTool) {}

  /** probe runs `iptables --version` (ToolMissingError when absent) and caches what it supports. */
  async probe(): Promise<IptablesInfo> {
    if (this.info) return this.info;
    const r = await this.run('iptables', ['--version']);
    const v = parseIptablesVersion(r.stdout + r.stderr);
    if (r.code !== 0 || v === null) {
      throw new SystemError('iptables --version', `exit ${r.code}`, (r.stderr || r.stdout).trim());
    }
    this.info = {
      version: (r.stdout || r.stderr).trim(),
      mode: v.mode,
      randomFully: versionAtLeast(v, 1, 6, 2),
      wait: versionAtLeast(v, 1, 4, 20),
      restoreWait: versionAtLeast(v, 1, 6, 2),
    };
    return this.info;
  }

  private async cmd(args: string[], what: string): Promise<ToolResult> {
    const info = await this.probe();
    const argv = info.wait ? ['-w', ...args] : args;
    const r = await this.run('iptables', argv);
    if (r.code !== 0 && r.code !== 1) throw this.fail(argv, r, what);
    return r;
  }

  private fail(argv: readonly string[], r: ToolResult, what?: string): SystemError {
    const stderr = (r.stderr || r.stdout).trim() || '(no output)';
    return new SystemError(
      `iptables ${argv.map(quoteArg).join(' ')}`,
      `exit ${r.code}`,
      what ? `${stderr} (${what})` : stderr,
    );
  }

  /** chainExists: `iptables -t T -S CHAIN` succeeds (exit 1 = no such chain). */
  async chainExists(table: IptablesTable, chain: string): Promise<boolean> {
    const r = await this.cmd(['-t', table, '-S', chain], `chain ${table}/${chain}`);
    return r.code === 0;
  }

  /** clearChain creates `chain`, or flushes it when it exists (go-iptables ClearChain). */
  async clearChain(table: IptablesTable, chain: string): Promise<void> {
    const exists = await this.chainExists(table, chain);
    const args = ['-t', table, exists ? '-F' : '-N', chain];
    const r = await this.cmd(args, `${exists ? 'flush' : 'create'} chain ${table}/${chain}`);
    if (r.code !== 0) throw this.fail(args, r);
  }

  /** deleteChain flushes and deletes `chain` (`-F`, `-X`); absent is fine. */
  async deleteChain(table: IptablesTable, chain: string): Promise<void> {
    if (!(await this.chainExists(table, chain))) return;
    for (const op of ['-F', '-X']) {
      const args = ['-t', table, op, chain];
      const r = await this.cmd(args, `${op === '-F' ? 'flush' : 'delete'} chain ${table}/${chain}`);
      if (r.code !== 0) throw this.fail(args, r);
    }
  }

  /** exists: `iptables -t T -C CHAIN spec` (exit 1 = absent). */
  async exists(rule: IptablesRule): Promise<boolean> {
    const r = await this.cmd(['-t', rule.table, '-C', rule.chain, ...rule.spec], ruleText(rule));
    return r.code === 0;
  }

  /**
   * view starts one check pass: each table is listed once (`iptables -t T -S`) when first needed,
   * and every later question about it is answered from that listing.
   */
  private view(): RulesetView {
    return new RulesetView(this, this.stats);
  }

  /** listTable runs `iptables -t T -S` (one process for the whole table); any failure throws. */
  async listTable(table: IptablesTable): Promise<TableListing> {
    this.stats.tableReads++;
    const info = await this.probe();
    const args = ['-t', table, '-S'];
    const argv = info.wait ? ['-w', ...args] : args;
    const r = await this.run('iptables', argv);
    if (r.code !== 0) throw this.fail(argv, r, `table ${table}`);
    return parseTableListing(r.stdout);
  }

  /** missing lists the rules that are absent (a rule whose flannel chain is gone counts as absent). */
  async missing(rules: readonly IptablesRule[]): Promise<IptablesRule[]> {
    return this.serial(async () => {
      const out: IptablesRule[] = [];
      const view = this.view();
      for (const r of rules) {
        if ((await view.chainGone(r)) || !(await view.has(r))) out.push(r);
      }
      return out;
    });
  }

  /**
   * bootstrap writes `rules` as flannel's ipTablesBootstrap does: missing flannel chains are
   * created, then one iptables-restore --noflush transaction deletes the rules that exist and
   * appends every rule, so the set is complete and in order. Resolves with the payload applied.
   */
  async bootstrap(rules: readonly IptablesRule[]): Promise<string> {
    return this.serial(async () => {
      const ops: RestoreOp[] = [];
      const created = new Set<string>();
      const view = this.view();
      for (const r of rules) {
        const ch = flannelChainOf(r);
        if (ch !== null && !created.has(`${r.table}/${ch}`)) {
          if (!(await view.chainExists(r.table, ch))) {
            await this.clearChain(r.table, ch);
            view.chainCreated(r.table, ch);
          }
          created.add(`${r.table}/${ch}`);
        }
        if (await view.has(r)) ops.push({ op: '-D', rule: r });
        ops.push({ op: '-A', rule: r });
      }
      const payload = restorePayload(ops);
      await this.restore(payload);
      return payload;
    });
  }

  /** teardown deletes those of `rules` that exist, in one transaction (flannel teardownIPTables). */
  async teardown(rules: readonly IptablesRule[]): Promise<number> {
    return this.serial(async () => {
      const ops: RestoreOp[] = [];
      const view = this.view();
      for (const r of rules) {
        if (await view.chainGone(r)) continue;
        if (await view.has(r)) ops.push({ op: '-D', rule: r });
      }
      if (ops.length > 0) await this.restore(restorePayload(ops));
      return ops.length;
    });
  }

  private async restore(payload: string): Promise<void> {
    const info = await this.probe();
    const args = info.restoreWait ? ['--noflush', '-w'] : ['--noflush'];
    const r = await this.run('iptables-restore', args, payload);
    if (r.code !== 0) {
      const rules = payload
        .split('\n')
        .filter((l) => l.startsWith('-'))
        .join('; ');
      throw new SystemError(
        `iptables-restore ${args.join(' ')}`,
        `exit ${r.code}`,
        `${(r.stderr || r.stdout).trim() || '(no output)'} (rules: ${rules})`,
      );
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
