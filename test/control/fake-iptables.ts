/**
 * fake-iptables: an in-memory `iptables` / `iptables-restore` for unit tests of
 * src/control/iptables.ts and src/daemon/traffic-rules.ts. It models what those modules rely on:
 * tables with built-in and user chains, ordered rules, `-S` (a chain, or the whole table)/`-N`/`-F`/`-C`, `--version`, and
 * iptables-restore `--noflush` transactions of `-A`/`-D` lines that apply all or nothing.
 */
import type { IptablesRunner, ToolResult } from '../../src/control/iptables';

const BUILTIN: Record<string, string[]> = {
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** tokenize splits an iptables-restore line, honouring double quotes. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line))
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

/** FakeIptables is the state plus the runner that acts on it. */
export class FakeIptables {
  /** table -> chain -> rule specs (arguments joined by a space). */
  readonly tables = new Map<string, Map<string, string[]>>();
  /** Every call, as `cmd args...` (and the stdin of iptables-restore after a newline). */
  readonly calls: string[] = [];
  version = 'iptables v1.8.9 (nf_tables)';
  /** Return a result to fail a call (checked before the call acts), or null to let it run. */
  failWith: ((cmd: string, args: readonly string[]) => ToolResult | null) | null = null;

  constructor() {
    for (const [t, chains] of Object.entries(BUILTIN))
      this.tables.set(t, new Map(chains.map((c) => [c, []])));
  }

  /** rules lists a chain as `-A CHAIN spec` lines (what iptables-save shows for it). */
  rules(table: string, chain: string): string[] {
    return (this.tables.get(table)?.get(chain) ?? []).map((r) => `-A ${chain} ${r}`);
  }

  hasChain(table: string, chain: string): boolean {
    return this.tables.get(table)?.has(chain) ?? false;
  }

  /** add appends a rule directly (a foreign rule, or a rule left by an earlier run). */
  add(table: string, chain: string, spec: string): void {
    const t = this.tables.get(table)!;
    if (!t.has(chain)) t.set(chain, []);
    t.get(chain)!.push(spec);
  }

  /** remove deletes a rule directly (as an administrator's `iptables -D` would). */
  remove(table: string, chain: string, spec: string): void {
    const list = this.tables.get(table)!.get(chain)!;
    const i = list.indexOf(spec);
    if (i < 0) throw new Error(`fake: no rule ${chain} ${spec}`);
    list.splice(i, 1);
  }

  /**
   * listing is `iptables -t T -S`: policies, user chains, then every rule, with the comment in
   * iptables' quoting (bare when only `[A-Za-z0-9_-]`, else double quotes, `"\\'` escaped).
   */
  listing(table: string): string {
    const t = this.tables.get(table)!;
    const builtin = BUILTIN[table]!;
    const quote = (c: string): string =>
      /^[A-Za-z0-9_-]+$/.test(c) ? c : `"${c.replace(/(["\\'])/g, '\\$1')}"`;
    const render = (spec: string): string =>
      spec.replace(/--comment (.+?)(?= !? ?-[a-zA-Z]|$)/, (_m, c: string) => `--comment ${quote(c)}`);
    const lines = [
      ...builtin.map((c) => `-P ${c} ACCEPT`),
      ...[...t.keys()].filter((c) => !builtin.includes(c)).map((c) => `-N ${c}`),
    ];
    for (const [c, rules] of t) for (const r of rules) lines.push(`-A ${c} ${render(r)}`);
    return lines.join('\n') + '\n';
  }

  readonly run: IptablesRunner = async (cmd, args, input) => {
    this.calls.push(`${cmd} ${args.join(' ')}${input !== undefined && input !== '' ? `\n${input}` : ''}`);
    await Promise.resolve();
    const forced = this.failWith?.(cmd, args) ?? null;
    if (forced) return forced;
    if (cmd === 'iptables-restore') return this.restore(input ?? '');
    return this.iptables(args.filter((a) => a !== '-w'));
  };

  private ok(stdout = ''): ToolResult {
    return { code: 0, stdout, stderr: '' };
  }

  private iptables(a: string[]): ToolResult {
    if (a[0] === '--version') return this.ok(`${this.version}\n`);
    if (a[0] !== '-t') return { code: 2, stdout: '', stderr: `fake: unsupported ${a.join(' ')}` };
    const t = this.tables.get(a[1]!)!;
    const [op, chain, ...spec] = a.slice(2);
    const text = spec.join(' ');
    if (op === '-S' && chain === undefined) return this.ok(this.listing(a[1]!));
    switch (op) {
      case '-S':
        return t.has(chain!)
          ? this.ok([`-N ${chain}`, ...this.rules(a[1]!, chain!)].join('\n') + '\n')
          : { code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.\n' };
      case '-N':
        if (t.has(chain!)) return { code: 1, stdout: '', stderr: 'iptables: Chain already exists.\n' };
        t.set(chain!, []);
        return this.ok();
      case '-F':
        if (!t.has(chain!))
          return { code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.\n' };
        t.set(chain!, []);
        return this.ok();
      case '-X':
        if (!t.has(chain!))
          return { code: 1, stdout: '', stderr: 'iptables: No chain/target/match by that name.\n' };
        if (t.get(chain!)!.length > 0)
          return { code: 1, stdout: '', stderr: 'iptables: Directory not empty.\n' };
        t.delete(chain!);
        return this.ok();
      case '-C':
        return t.get(chain!)?.includes(text)
          ? this.ok()
          : {
              code: 1,
              stdout: '',
              stderr: 'iptables: Bad rule (does a matching rule exist in that chain?).\n',
            };
      default:
        return { code: 2, stdout: '', stderr: `fake: unsupported ${op}` };
    }
  }

  private restore(payload: string): ToolResult {
    const copy = new Map([...this.tables].map(([k, v]) => [k, new Map([...v].map(([c, r]) => [c, [...r]]))]));
    let table: Map<string, string[]> | null = null;
    const lines = payload.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '' || line === 'COMMIT') continue;
      if (line.startsWith('*')) {
        table = copy.get(line.slice(1)) ?? null;
        continue;
      }
      const [op, chain, ...spec] = tokenize(line);
      const fail = (why: string): ToolResult => ({
        code: 1,
        stdout: '',
        stderr: `iptables-restore: ${why}\nError occurred at line: ${i + 1}\n`,
      });
      if (!table) return fail('no table');
      const list = table.get(chain!);
      if (!list) return fail(`Chain '${chain}' does not exist`);
      const text = spec.join(' ');
      if (op === '-A') list.push(text);
      else if (op === '-D') {
        const k = list.indexOf(text);
        if (k < 0) return fail('Bad rule (does a matching rule exist in that chain?)');
        list.splice(k, 1);
      } else return fail(`unsupported ${op}`);
    }
    for (const [k, v] of copy) this.tables.set(k, v);
    return this.ok();
  }
}
