/**
 * weft run's `--workers` (a weft flag, FLANNELD_WORKERS in the environment): forwarding workers,
 * one TUN queue each, 1..16.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { envName, flagsUsage, parseFlags } from '../../src/control/flags';
import { MAX_WORKERS, parseWorkers } from '../../src/dataplane/workers';
import { ConfigError } from '../../src/errors';

test('--workers defaults to 1 and is listed with FLANNELD_WORKERS', () => {
  const f = parseFlags([], {});
  assert.equal(f.workers, 1);
  assert.equal(f.explicit.has('workers'), false);
  assert.equal(envName('workers'), 'FLANNELD_WORKERS');
  assert.equal(MAX_WORKERS, 16);
  assert.match(
    flagsUsage(),
    /--workers value\n +forwarding workers: the TUN is opened multi-queue, one queue per worker thread \(default 1\) \[FLANNELD_WORKERS\]/,
  );
});

test('--workers from the command line or FLANNELD_WORKERS; the command line wins', () => {
  assert.equal(parseFlags(['--workers', '4'], {}).workers, 4);
  assert.equal(parseFlags(['--workers=16'], {}).workers, 16);
  assert.equal(parseFlags(['-workers', '1'], {}).workers, 1);
  const env = parseFlags([], { FLANNELD_WORKERS: '3' });
  assert.equal(env.workers, 3);
  assert.ok(env.explicit.has('workers'));
  assert.equal(parseFlags(['--workers=2'], { FLANNELD_WORKERS: '8' }).workers, 2);
});

test('bad --workers values are ConfigErrors naming the flag or variable', () => {
  const bad = (argv: string[], env: Record<string, string>, field: string, rule: RegExp): void =>
    assert.throws(
      () => parseFlags(argv, env),
      (e: unknown) => e instanceof ConfigError && e.field === field && rule.test(e.rule),
      `${argv.join(' ')} ${JSON.stringify(env)}`,
    );
  bad(['--workers', '0'], {}, '--workers', /^must be an integer from 1 to 16$/);
  bad(['--workers=17'], {}, '--workers', /^must be an integer from 1 to 16$/);
  bad(['--workers=-2'], {}, '--workers', /^must be an integer from 1 to 16$/);
  bad(['--workers', 'many'], {}, '--workers', /^must be an integer/);
  bad([], { FLANNELD_WORKERS: '32' }, 'FLANNELD_WORKERS', /^must be an integer from 1 to 16$/);
});

test('parseWorkers (weft link) takes decimal digits only', () => {
  assert.equal(parseWorkers('1', '--workers'), 1);
  assert.equal(parseWorkers('16', '--workers'), 16);
  for (const text of ['0', '17', '', ' 2', '+2', '2.0', '0x2', 'two']) {
    assert.throws(
      () => parseWorkers(text, '--workers'),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.field === '--workers' &&
        e.message === `--workers: must be an integer from 1 to 16 (${JSON.stringify(text)})`,
      text,
    );
  }
});

test('weft run --workers 0 exits 2 (a bad command line) before doing anything, logging the flag', () => {
  const weft = join(__dirname, '..', '..', '..', 'bin', 'weft');
  const r = spawnSync(process.execPath, [weft, 'run', '--workers', '0'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 2, r.stderr);
  const line = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as {
    level: string;
    msg: string;
    fields: Record<string, unknown>;
  };
  assert.equal(line.level, 'error');
  assert.deepEqual(line.fields, { code: 'WEFT_ERR_CONFIG', field: '--workers' });
  assert.equal(line.msg, '--workers: must be an integer from 1 to 16 (got "0")');
});
