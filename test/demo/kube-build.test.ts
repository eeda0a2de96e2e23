/**
 * `weft demo --kube` on a machine without the Kubernetes binaries: it says it is building them,
 * passes the build's progress lines through and continues with what the build produced. The real
 * build takes 10-12 minutes, so a stand-in for scripts/kube.sh that behaves like it (progress on
 * stderr, binaries into $WEFT_KUBE_CACHE/<version>/bin) is used; a failing build is reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureKubeBinaries } from '../../src/demo/kube-demo';

const FAKE_BUILD = `#!/bin/bash
set -e
[ "$1" = build ] || exit 2
echo "kube.sh: building kube-apiserver and kube-controller-manager 9.9 from Debian's source package" >&2
echo "kube.sh: still building (1 min so far; log: x)" >&2
mkdir -p "$WEFT_KUBE_CACHE/9.9/bin"
for b in kube-apiserver kube-controller-manager kubectl; do printf '#!/bin/sh\\n' > "$WEFT_KUBE_CACHE/9.9/bin/$b"; chmod +x "$WEFT_KUBE_CACHE/9.9/bin/$b"; done
echo "$WEFT_KUBE_CACHE/9.9/bin"
`;

function withCache(t: { after(fn: () => void): void }): { dir: string; script: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-kube-cache-'));
  const saved = { cache: process.env.WEFT_KUBE_CACHE, bin: process.env.WEFT_KUBE_BIN };
  process.env.WEFT_KUBE_CACHE = path.join(dir, 'cache');
  delete process.env.WEFT_KUBE_BIN;
  t.after(() => {
    for (const [k, v] of [
      ['WEFT_KUBE_CACHE', saved.cache],
      ['WEFT_KUBE_BIN', saved.bin],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const script = path.join(dir, 'kube.sh');
  fs.writeFileSync(script, FAKE_BUILD, { mode: 0o755 });
  return { dir, script };
}

test('first run: says it builds, shows the progress, then uses the built binaries', async (t) => {
  const { dir, script } = withCache(t);
  const lines: string[] = [];
  const bin = await ensureKubeBinaries((s) => lines.push(s), script);
  assert.equal(bin, path.join(dir, 'cache', '9.9', 'bin'));
  const text = lines.join('\n');
  assert.match(
    text,
    /kube-apiserver is not built on this machine yet: building it now with scripts\/kube\.sh build/,
  );
  assert.match(text, /10-12 minutes on 2 cores, only on the first run/);
  assert.match(text, /kube\.sh: still building \(1 min so far/);
  // Second run: nothing to build, nothing said about building.
  const again: string[] = [];
  assert.equal(await ensureKubeBinaries((s) => again.push(s), script), bin);
  assert.deepEqual(again, []);
});

test('a failing build is an error naming the script', async (t) => {
  const { script } = withCache(t);
  fs.writeFileSync(script, '#!/bin/bash\necho "kube.sh: apt-get source failed" >&2\nexit 1\n');
  const lines: string[] = [];
  await assert.rejects(
    ensureKubeBinaries((s) => lines.push(s), script),
    /scripts\/kube\.sh build failed \(exit 1\)/,
  );
  assert.match(lines.join('\n'), /apt-get source failed/);
});
