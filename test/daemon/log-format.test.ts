/**
 * `weft run` logs: JSON lines for machines (stderr is a pipe or a file, the default under systemd
 * and in containers), text for a person at a terminal, and `--log-format` / FLANNELD_LOG_FORMAT to
 * choose. The terminal cases run weft under script(1), which gives it a real pseudo-terminal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { formatLogLine, formatTextLine, parseLogLine, resolveLogFormat } from '../../src/daemon/log';
import { WEFT_BIN } from '../helpers/paths';

const BAD = ['run', '--subnet-lease-renew-margin', '0'];
const TEXT_LINE =
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR --subnet-lease-renew-margin: must be in 1\.\.1439 \(minutes\) \(got "0"\) code=WEFT_ERR_CONFIG field=--subnet-lease-renew-margin$/;

/** onTty runs weft with stdout and stderr on a pseudo-terminal; returns what the terminal showed. */
function onTty(args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const cmd = [process.execPath, WEFT_BIN, ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  return { status: r.status, out: r.stdout.replace(/\r/g, '').trim() };
}

function onPipe(args: string[], env: Record<string, string> = {}): { status: number | null; err: string } {
  const r = spawnSync(process.execPath, [WEFT_BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  return { status: r.status, err: r.stderr.trim() };
}

test('text lines: time, level, message, key=value fields (quoted when they need it)', () => {
  const now = new Date('2026-11-25T10:00:00Z');
  assert.equal(
    formatTextLine(
      'info',
      'Subnet added: 10.244.2.0/24 via 192.0.2.3',
      { lease: 'a b', n: 3, ok: true },
      now,
    ),
    '2026-11-25T10:00:00.000Z INFO  Subnet added: 10.244.2.0/24 via 192.0.2.3 lease="a b" n=3 ok=true',
  );
  assert.equal(
    formatTextLine('warn', 'x', { err: new Error('boom') }, now),
    '2026-11-25T10:00:00.000Z WARN  x err=boom',
  );
  assert.equal(
    formatTextLine('error', 'x', { o: { a: 1 } }, now),
    '2026-11-25T10:00:00.000Z ERROR x o={"a":1}',
  );
  // JSON stays exactly what machines parse.
  assert.deepEqual(parseLogLine(formatLogLine('info', 'm', { a: 1 }, now)), {
    ts: '2026-11-25T10:00:00.000Z',
    level: 'info',
    msg: 'm',
    fields: { a: 1 },
  });
  assert.equal(resolveLogFormat('auto', true), 'text');
  assert.equal(resolveLogFormat('auto', false), 'json');
  assert.equal(resolveLogFormat('json', true), 'json');
  assert.equal(resolveLogFormat('text', false), 'text');
});

test('weft run: JSON on a pipe, text on a terminal, --log-format and FLANNELD_LOG_FORMAT choose', () => {
  const pipe = onPipe(BAD);
  assert.equal(pipe.status, 2);
  const json = parseLogLine(pipe.err);
  assert.ok(json, `a JSON line on a pipe: ${pipe.err}`);
  assert.equal(json.fields?.field, '--subnet-lease-renew-margin');

  const tty = onTty(BAD);
  assert.equal(tty.status, 2);
  assert.match(tty.out, TEXT_LINE);

  assert.match(onPipe([...BAD, '--log-format', 'text']).err, TEXT_LINE);
  assert.match(onPipe(BAD, { FLANNELD_LOG_FORMAT: 'text' }).err, TEXT_LINE);
  assert.ok(parseLogLine(onTty([...BAD, '--log-format=json']).out), 'json asked for on a terminal');
  assert.ok(parseLogLine(onTty(BAD, { FLANNELD_LOG_FORMAT: 'json' }).out));

  const bad = onPipe(['run', '--log-format', 'yaml']);
  assert.equal(bad.status, 2);
  assert.match(bad.err, /--log-format: must be one of: auto, json, text/);
});
