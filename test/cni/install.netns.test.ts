/**
 * `weft cni install --bundle`: a bundle runs with the checkout hidden (a private mount namespace
 * with a tmpfs over dist/); the plain install does not. Needs root (CI runs as root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installPlugin } from '../../src/cni/install';

const DIST = path.join(__dirname, '..', '..', '..', 'dist');

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cni-install-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** versionWithDistHidden runs `plugin` with CNI_COMMAND=VERSION while dist/ is an empty tmpfs. */
function versionWithDistHidden(plugin: string): { status: number | null; out: string } {
  const r = spawnSync(
    'unshare',
    ['-m', 'sh', '-c', 'mount -n -t tmpfs none "$1" && exec "$2"', 'sh', DIST, plugin],
    { env: { ...process.env, CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"0.3.1"}', encoding: 'utf8' },
  );
  return { status: r.status, out: r.stdout + r.stderr };
}

test('--bundle: the plugin runs with the checkout hidden; without it, it does not', (t) => {
  if (process.getuid?.() !== 0)
    throw new Error('this test needs root (a private mount namespace); CI runs as root');
  const dir = tmp(t);
  const bundled = installPlugin({ dir: path.join(dir, 'b'), bundle: true });
  assert.ok(fs.existsSync(path.join(dir, 'b', '.flannel.weft', 'cni', 'main.js')));
  const ok = versionWithDistHidden(bundled);
  assert.equal(ok.status, 0, ok.out);
  assert.match(ok.out, /"supportedVersions"/);
  const plain = installPlugin({ dir: path.join(dir, 'p') });
  const bad = versionWithDistHidden(plain);
  assert.notEqual(bad.status, 0, 'the non-bundled plugin needs dist/');
  assert.match(bad.out, /Cannot find module/);
});
