/**
 * deploy/container/Dockerfile, checked without building it, in milliseconds (container-image.netns.test.ts
 * builds and runs it): every path the build copies from the context exists and is not excluded by
 * .dockerignore, the runtime stage carries the native addon where src/io/binding.ts loads it from,
 * and the image runs bin/weft.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { NATIVE_ADDON_PATH } from '../../src/io/binding';
import { REPO_ROOT } from '../helpers/paths';

const dockerfile = readFileSync(join(REPO_ROOT, 'deploy', 'container', 'Dockerfile'), 'utf8');
const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

/** copies lists the COPY instructions: sources, destination and the stage they come from. */
function copies(): Array<{ from: string | null; srcs: string[]; dst: string }> {
  const out: Array<{ from: string | null; srcs: string[]; dst: string }> = [];
  for (const line of dockerfile.split('\n')) {
    const m = /^COPY\s+(--from=(\S+)\s+)?(.+)$/.exec(line.trim());
    if (!m) continue;
    const parts = m[3]!.split(/\s+/);
    out.push({ from: m[2] ?? null, srcs: parts.slice(0, -1), dst: parts.at(-1)! });
  }
  return out;
}

test('every path the build copies from the context exists and is not dockerignored', () => {
  const fromContext = copies().filter((c) => c.from === null);
  assert.ok(fromContext.length >= 5);
  for (const c of fromContext) {
    for (const src of c.srcs) {
      assert.ok(existsSync(join(REPO_ROOT, src)), `${src} exists`);
      for (const pat of ignored) {
        assert.ok(src !== pat && !src.startsWith(`${pat}/`), `${src} is excluded by .dockerignore (${pat})`);
      }
    }
  }
  // What the host built must not leak into the image: the addons are compiled in the build stage.
  for (const p of ['node_modules', 'dist', 'native/build']) assert.ok(ignored.includes(p), `${p} ignored`);
});

test('the runtime stage carries the native addon where binding.ts loads it, and runs bin/weft', () => {
  const addon = relative(REPO_ROOT, NATIVE_ADDON_PATH);
  const runtime = copies().filter((c) => c.from === 'build');
  const carried = runtime.map((c) => c.dst.replace(/^\/opt\/weft\//, ''));
  assert.ok(carried.includes(addon), `${addon} copied into /opt/weft (got ${carried.join(', ')})`);
  for (const dir of ['bin', 'dist', 'node_modules', 'package.json']) assert.ok(carried.includes(dir), dir);
  assert.match(dockerfile, /^WORKDIR \/opt\/weft$/m);
  assert.match(dockerfile, /^ENTRYPOINT \["\/opt\/weft\/bin\/weft"\]$/m);
  // Runtime tools the commands call: ip (iproute2), iptables (weft run), libpcap (weft capture).
  const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  for (const pkg of ['iproute2', 'iptables', 'libpcap0.8'])
    assert.match(runtimeStage, new RegExp(`\\b${pkg}\\b`));
  assert.doesNotMatch(runtimeStage, /\bg\+\+|\bmake\b|libpcap-dev/, 'no toolchain in the runtime image');
});
