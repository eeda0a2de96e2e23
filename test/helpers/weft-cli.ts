/**
 * weft-cli: runs `bin/weft` as a child process and checks the CLI's one-line error convention.
 * Shared by the unit and the namespace halves of test/cli/errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { WEFT_BIN } from './paths';

/** CliResult is one finished `weft` run: exit status, output, and wall time in ms. */
export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** runWeft runs `weft ARGS`, behind the command `prefix` (e.g. a namespace's exec) when one is given. */
export function runWeft(args: string[], prefix: string[] = []): CliResult {
  const t0 = Date.now();
  const cmd = prefix.length > 0 ? prefix[0]! : process.execPath;
  const argv =
    prefix.length > 0 ? [...prefix.slice(1), process.execPath, WEFT_BIN, ...args] : [WEFT_BIN, ...args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

/** assertOneLine asserts the run failed with exit `code` and a single-line error matching `re`, no stack. */
export function assertOneLine(r: CliResult, code: number, re: RegExp): void {
  assert.equal(r.status, code, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
  assert.match(lines[0]!, re);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}
