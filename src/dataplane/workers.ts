/**
 * workers: the `--workers N` setting (weft link, and weft run / FLANNELD_WORKERS): how many
 * forwarding queues a node runs, one TUN queue and one thread each (see node.ts, queue-devices.ts).
 */
import { ConfigError } from '../errors';

/** MAX_WORKERS bounds `--workers` (TUN allows 256 queues; more threads than cores buys nothing). */
export const MAX_WORKERS = 16;

/** workersRule is the `--workers` rule: null for an integer in 1..MAX_WORKERS, else the rule text. */
export function workersRule(n: number): string | null {
  return Number.isInteger(n) && n >= 1 && n <= MAX_WORKERS
    ? null
    : `must be an integer from 1 to ${MAX_WORKERS}`;
}

/** parseWorkers parses a `--workers` value; ConfigError naming `field` when bad. */
export function parseWorkers(text: string, field = '--workers'): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  const rule = workersRule(n);
  if (rule) throw new ConfigError(field, rule, JSON.stringify(text));
  return n;
}

/** checkWorkers throws ConfigError naming `--workers` unless `n` is a valid worker count. */
export function checkWorkers(n: number): void {
  const rule = workersRule(n);
  if (rule) throw new ConfigError('--workers', rule, String(n));
}
