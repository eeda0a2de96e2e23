/**
 * `weft cni install` / `weft cni conflist`: the installed `flannel` file, refusing to replace a
 * file that is not weft's. The bundle that runs with the checkout hidden needs a private mount
 * namespace and lives in install.netns.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../src/errors';
import { STOCK_CONFLIST, installPlugin, pluginModules } from '../../src/cni/install';

const REPO = path.join(__dirname, '..', '..', '..');
const DIST = path.join(REPO, 'dist');
const WEFT = path.join(REPO, 'bin', 'weft');

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cni-install-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('install writes an executable `flannel` that runs this checkout with this node', (t) => {
  const dir = tmp(t);
  const file = installPlugin({ dir: path.join(dir, 'bin') });
  assert.equal(file, path.join(dir, 'bin', 'flannel'));
  assert.equal(fs.statSync(file).mode & 0o777, 0o755);
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.startsWith(`#!${process.execPath}\n`), text);
  assert.ok(text.includes(path.join(DIST, 'src', 'cni', 'main.js')), text);
  const r = spawnSync(file, [], { env: { CNI_COMMAND: 'VERSION' }, input: '{}', encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).supportedVersions, [
    '0.1.0',
    '0.2.0',
    '0.3.0',
    '0.3.1',
    '0.4.0',
    '1.0.0',
  ]);
  // Reinstalling over our own file is fine; no temporary file is left behind.
  installPlugin({ dir: path.join(dir, 'bin') });
  assert.deepEqual(fs.readdirSync(path.join(dir, 'bin')), ['flannel']);
});

test("install refuses to replace a file that is not weft's unless forced", (t) => {
  const dir = tmp(t);
  fs.writeFileSync(path.join(dir, 'flannel'), '\x7fELF flannel binary');
  assert.throws(
    () => installPlugin({ dir }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /exists and is not weft's plugin .*--force/);
      return true;
    },
  );
  assert.equal(fs.readFileSync(path.join(dir, 'flannel'), 'utf8'), '\x7fELF flannel binary');
  installPlugin({ dir, force: true });
  assert.match(fs.readFileSync(path.join(dir, 'flannel'), 'utf8'), /weft's flannel-compatible CNI plugin/);
});

test('the plugin imports only its own small module graph (no npm package, no dataplane)', () => {
  const mods = pluginModules(path.join(DIST, 'src', 'cni', 'main.js')).map((f) => path.relative(DIST, f));
  assert.ok(
    mods.every((m) => m.startsWith('src/')),
    mods.join(' '),
  );
  assert.ok(mods.length <= 15, mods.join(' '));
  assert.ok(!mods.some((m) => /dataplane|io\/|daemon|native/.test(m)), mods.join(' '));
});

test('weft cni conflist prints the stock 10-flannel.conflist; weft cni install DIR via the CLI', (t) => {
  const r = spawnSync(process.execPath, [WEFT, 'cni', 'conflist'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), STOCK_CONFLIST);
  const dir = tmp(t);
  const i = spawnSync(process.execPath, [WEFT, 'cni', 'install', dir, '--name', 'weft-flannel'], {
    encoding: 'utf8',
  });
  assert.equal(i.status, 0, i.stderr);
  assert.equal(i.stdout, `installed ${path.join(dir, 'weft-flannel')}\n`);
  const u = spawnSync(process.execPath, [WEFT, 'cni', 'nope'], { encoding: 'utf8' });
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown cni subcommand: nope/);
});
