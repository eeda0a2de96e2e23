/**
 * shell: the synchronous command runner, polling and naming helpers every lab piece (tests, the
 * demo's testbed, `weft bench`) builds on.
 */
import { execFileSync } from 'node:child_process';

/** ShOptions are the options of `sh`. */
export interface ShOptions {
  /** Bytes written to the command's stdin. */
  readonly input?: string | Buffer;
  /** Kill the command after this long (default 30 s). */
  readonly timeoutMs?: number;
}

/**
 * sh runs a command synchronously and returns its stdout; on failure it throws an error that names
 * the command, its exit status and its stderr (`command failed: ...`), with `stdout` attached.
 */
export function sh(cmd: string, args: readonly string[], opts: ShOptions = {}): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 30_000,
      // Node's default (1 MiB) kills a child that prints more, e.g. `weft capture -r` over a
      // 20,000-datagram capture (one line per frame): the output is what is under test.
      maxBuffer: 256 << 20,
      input: opts.input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (e) {
    const x = e as { stderr?: string; stdout?: string; status?: number | null; message: string };
    const err = new Error(
      `command failed: ${cmd} ${args.join(' ')} (status ${x.status ?? '?'}): ${(x.stderr || x.message).trim()}`,
    );
    (err as Error & { stdout?: string }).stdout = x.stdout;
    throw err;
  }
}

/** sleep resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * waitFor polls `cond` every `intervalMs` until it is true or `timeoutMs` passes; then it throws,
 * naming `what` and quoting `diag()` (e.g. the log of the process that should have made it true).
 */
export async function waitFor(
  cond: () => boolean,
  timeoutMs: number,
  what: string,
  diag?: () => string,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out (${timeoutMs} ms) waiting for ${what}${diag ? `; output:\n${diag()}` : ''}`);
    await sleep(intervalMs);
  }
}

let counter = 0;

/**
 * uniqueName returns `prefix` + pid + counter, at most 15 characters (a valid interface name), so
 * parallel runs and leftovers of a crashed run never collide. Keep the prefix short (<= 4 chars).
 */
export function uniqueName(prefix: string): string {
  counter++;
  const name = `${prefix}${process.pid}x${counter}`;
  if (name.length > 15) return `${prefix}${process.pid % 1_000_000}x${counter % 1000}`.slice(0, 15);
  return name;
}
