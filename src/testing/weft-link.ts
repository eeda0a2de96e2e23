/**
 * weft-link: `weft link` (the dataplane alone, peers from flags) as a lab process.
 */
import { join } from 'node:path';
import type { DataplaneStats } from '../dataplane/node';
import type { Netns } from './netns';
import type { Proc } from './proc';

/** WEFT_BIN is bin/weft of this checkout (this file runs from dist/src/testing). */
export const WEFT_BIN = join(__dirname, '..', '..', '..', 'bin', 'weft');

/** WeftLink is a started `weft link`: its process, VTEP MAC (null for flannel-UDP) and start line. */
export interface WeftLink {
  proc: Proc;
  mac: string | null;
  startLine: string;
}

/**
 * startWeftLink spawns `ip netns exec NS node bin/weft link ARGS`, waits for its "ready" line and
 * returns the process and the VTEP MAC from its start line. `env` (`NAME=value` strings) is set
 * through env(1), which execs node in place: the PID is still weft's.
 */
export async function startWeftLink(
  ns: Netns,
  args: readonly string[],
  timeoutMs = 10_000,
  env: readonly string[] = [],
): Promise<WeftLink> {
  const argv = [WEFT_BIN, 'link', ...args];
  const proc =
    env.length > 0
      ? ns.spawn(`weft link ${ns.name}`, 'env', [...env, process.execPath, ...argv])
      : ns.spawn(`weft link ${ns.name}`, process.execPath, argv);
  const startLine = await proc.waitForLine(/^weft link: dev /, timeoutMs);
  const m = /vtep-mac ([0-9a-f:]{17}|-)/.exec(startLine);
  if (!m) throw new Error(`no vtep-mac in start line: ${startLine}`);
  await proc.waitForLine(/^ready$/, timeoutMs);
  return { proc, mac: m[1] === '-' ? null : m[1]!, startLine };
}

/** WeftStats is the JSON object `weft link` prints after `stats ` on SIGUSR1 or every --stats interval. */
export type WeftStats = DataplaneStats;

/** readWeftStats sends SIGUSR1 to a `weft link` process and parses the next `stats {...}` line. */
export async function readWeftStats(proc: Proc, timeoutMs = 5000): Promise<WeftStats> {
  const from = proc.lines.length;
  proc.signal('SIGUSR1');
  const line = await proc.waitForLine(/^weft link: stats \{/, timeoutMs, from);
  return JSON.parse(line.slice(line.indexOf('{'))) as WeftStats;
}

/**
 * unexpectedDrops is `drops` without `link_scope`: the TUN's own IPv6 router solicitations, MLD
 * reports and duplicate address detection (namespaces keep IPv6 on, as a user's host does), whose
 * count depends on timing. Every other reason is kept, so asserting the result is `{}` still
 * fails on any drop the traffic under test caused.
 */
export function unexpectedDrops(drops: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(drops)) if (k !== 'link_scope' && v !== 0) out[k] = v;
  return out;
}
