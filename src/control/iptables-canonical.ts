/**
 * iptables-canonical: the text `iptables -S` prints for a rule weft writes, and the parse of a
 * whole table's `iptables -t T -S` listing, so that a resync decides which rules are present from
 * one listing per table instead of one `iptables -C` per rule.
 *
 * iptables prints a rule in its own canonical form, not as it was given (iptables 1.8
 * `iptables/iptables.c` print_rule / `nft-ipv4.c`, `libxtables` xtables_save_string,
 * `extensions/libxt_{comment,mark,MASQUERADE}.c`; checked against iptables-nft and
 * iptables-legacy 1.8.9):
 *   - `-s` then `-d`, before any match, whatever the order given; `!` before the option;
 *     the address masked to its prefix and always with a prefix (`10.244.1.7/16` ->
 *     `10.244.0.0/16`, `10.244.3.1` -> `10.244.3.1/32`); `0.0.0.0/0` is not printed;
 *   - matches in the order given; `--comment` unquoted when it is only `[A-Za-z0-9_-]`, else in
 *     double quotes with `"`, `\` and `'` escaped by a backslash; `--mark` in lower-case hex,
 *     `/mask` omitted when the mask is 0xffffffff;
 *   - `-j TARGET` last, then the target's options (`--random-fully`).
 * canonicalRuleText returns null for anything outside that list (an option it does not model, a
 * host name, a dotted netmask, an octal mark): the caller then asks iptables itself (`-C`).
 */
import { parseIpv4, parseIpv4Cidr, u32ToIpv4 } from '../net/addr';

/** TableListing is one table as `iptables -t T -S` printed it. */
export interface TableListing {
  /** Built-in (`-P`) and user (`-N`) chains. */
  readonly chains: ReadonlySet<string>;
  /** Every `-A CHAIN ...` line, exactly as printed. */
  readonly rules: ReadonlySet<string>;
}

/** parseTableListing reads `iptables -t T -S` output (other lines, e.g. warnings, are ignored). */
export function parseTableListing(text: string): TableListing {
  const chains = new Set<string>();
  const rules = new Set<string>();
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('-A ')) rules.add(line);
    else if (line.startsWith('-N ') || line.startsWith('-P ')) {
      const name = line.split(' ')[1];
      if (name) chains.add(name);
    }
  }
  return { chains, rules };
}

/** Targets whose `-S` text is just `-j NAME` (plus the options modelled below). */
const PLAIN_TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'MASQUERADE']);
/** Options each target prints back as given. */
const TARGET_OPTIONS: Record<string, ReadonlySet<string>> = {
  MASQUERADE: new Set(['--random-fully']),
};
/** A user chain name as iptables accepts it (a jump to it prints the name alone). */
const CHAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,28}$/;
/** libxtables' characters that need no quotes in xtables_save_string. */
const NO_QUOTE = /^[A-Za-z0-9_-]+$/;
/** XT_MAX_COMMENT_LEN less the NUL: iptables refuses longer comments. */
const MAX_COMMENT = 255;

/** saveString renders a string as libxtables' xtables_save_string does. */
export function saveString(s: string): string {
  return NO_QUOTE.test(s) ? s : `"${s.replace(/(["\\'])/g, '\\$1')}"`;
}

/**
 * canonicalCidr masks an IPv4 address or CIDR to its prefix (`/32` when none is given); null when
 * it is not one (leading zeros too, which iptables might read as octal).
 */
export function canonicalCidr(text: string): string | null {
  if (text.includes('/')) {
    const net = parseIpv4Cidr(text);
    return net === null ? null : `${u32ToIpv4(net.ip)}/${net.prefixLen}`;
  }
  const ip = parseIpv4(text);
  return ip === null ? null : `${u32ToIpv4(ip)}/32`;
}

/** parseU32 reads a mark number as strtoul(base 0) does, except octal (null). */
function parseU32(text: string): number | null {
  if (!/^(0x[0-9a-fA-F]+|[1-9][0-9]*|0)$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) && n <= 0xffffffff ? n : null;
}

/** canonicalMark renders `--mark value[/mask]` as libxt_mark prints it; null when not modelled. */
function canonicalMark(text: string): string | null {
  const [v, mask, extra] = text.split('/');
  if (extra !== undefined || v === undefined) return null;
  const value = parseU32(v);
  const m = mask === undefined ? 0xffffffff : parseU32(mask);
  if (value === null || m === null) return null;
  return m === 0xffffffff ? `0x${value.toString(16)}` : `0x${value.toString(16)}/0x${m.toString(16)}`;
}

/**
 * canonicalRuleText is the `-A CHAIN ...` line `iptables -S` prints for `chain` + `spec`, or null
 * when the spec uses something this module does not model (see the module comment).
 */
export function canonicalRuleText(chain: string, spec: readonly string[]): string | null {
  const addr: { '-s': string | null; '-d': string | null } = { '-s': null, '-d': null };
  const matches: string[] = [];
  let target: string[] | null = null;
  for (let i = 0; i < spec.length; i++) {
    if (target !== null) {
      // Only the target's own options may follow -j.
      const opts = TARGET_OPTIONS[target[1]!];
      if (!opts?.has(spec[i]!) || target.includes(spec[i]!)) return null;
      target.push(spec[i]!);
      continue;
    }
    let tok = spec[i]!;
    const negated = tok === '!';
    if (negated) tok = spec[++i] ?? '';
    if (tok === '-s' || tok === '-d') {
      const cidr = canonicalCidr(spec[++i] ?? '');
      if (cidr === null || addr[tok] !== null) return null;
      if (cidr.endsWith('/0')) {
        if (negated) return null;
        addr[tok] = '';
        continue;
      }
      addr[tok] = `${negated ? '! ' : ''}${tok} ${cidr}`;
      continue;
    }
    if (negated) return null;
    if (tok === '-m' && spec[i + 1] === 'comment' && spec[i + 2] === '--comment') {
      const text = spec[i + 3];
      if (text === undefined || text.length > MAX_COMMENT || /[\0\n]/.test(text)) return null;
      matches.push(`-m comment --comment ${saveString(text)}`);
      i += 3;
      continue;
    }
    if (tok === '-m' && spec[i + 1] === 'mark' && spec[i + 2] === '--mark') {
      const mark = canonicalMark(spec[i + 3] ?? '');
      if (mark === null) return null;
      matches.push(`-m mark --mark ${mark}`);
      i += 3;
      continue;
    }
    if (tok === '-j') {
      const name = spec[++i] ?? '';
      if (!PLAIN_TARGETS.has(name) && !CHAIN_NAME.test(name)) return null;
      // A name iptables knows as a target extension (LOG, SNAT...) prints options of its own.
      if (!PLAIN_TARGETS.has(name) && /^[A-Z]+$/.test(name)) return null;
      target = ['-j', name];
      continue;
    }
    return null;
  }
  if (target === null) return null;
  const parts = ['-A', chain, addr['-s'], addr['-d'], ...matches, ...target];
  return parts.filter((p) => p !== null && p !== '').join(' ');
}
