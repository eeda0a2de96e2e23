import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { COMMANDS } from '../../src/cli/main';

const WEFT = join(__dirname, '..', '..', '..', 'bin', 'weft');

function weft(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [WEFT, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('weft with no command lists every command and exits 0', () => {
  const r = weft();
  assert.equal(r.status, 0);
  for (const name of Object.keys(COMMANDS)) assert.match(r.stdout, new RegExp(`^  ${name} `, 'm'));
});

for (const name of Object.keys(COMMANDS)) {
  test(`weft ${name} --help prints its usage and exits 0`, () => {
    for (const flag of ['--help', '-h', '-help']) {
      const r = weft(name, flag);
      assert.equal(r.status, 0, `${name} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`usage: weft ${name}`));
      assert.equal(r.stderr, '');
    }
    assert.equal(weft('help', name).stdout, weft(name, '--help').stdout);
  });
}

test('an unknown command exits 2 and says so', () => {
  const r = weft('no-such-command');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown or unavailable command 'no-such-command'/);
});

test('an unknown flag is a usage error: exit 2, error code and usage on stderr', () => {
  const r = weft('explain', '--no-such-flag');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\[WEFT_ERR_USAGE\]/);
  assert.match(r.stderr, /usage: weft explain/);
});
