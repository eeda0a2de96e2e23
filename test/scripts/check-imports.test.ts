/**
 * scripts/check-imports.js, the layering check `npm run lint` runs: over small trees written to a
 * temporary directory, it passes a clean one and names each kind of violation in a bad one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths';

const SCRIPT = join(REPO_ROOT, 'scripts', 'check-imports.js');

/** check writes `files` (path under src/ -> source) to a fresh tree and runs the script on it. */
function check(files: Record<string, string>): { status: number | null; out: string } {
  const root = mkdtempSync(join(tmpdir(), 'check-imports-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      const f = join(root, 'src', path);
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, text);
    }
    const r = spawnSync(process.execPath, [SCRIPT, '--root', root], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const CLEAN = {
  'wire/ipv4.ts': 'export const IPV4 = 4;\n',
  'encap/index.ts': "export * from './encap';\n",
  'encap/encap.ts': "import { IPV4 } from '../wire/ipv4';\nexport const E = IPV4;\n",
  'dataplane/egress.ts': "import { E } from '../encap/encap';\nexport const G = E;\n",
  // node.ts sets the hot path up: it may use an index.
  'dataplane/node.ts': "import { E } from '../encap';\nexport const N = E;\n",
};

test('a tree that imports downwards, module by module, passes', () => {
  const r = check(CLEAN);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /5 modules, 4 imports, no circle/);
});

test('io importing the dataplane is upward, even as a type', () => {
  const r = check({
    ...CLEAN,
    'io/tun-device.ts': "import type { G } from '../dataplane/egress';\nexport type T = typeof G;\n",
  });
  assert.equal(r.status, 1);
  assert.match(r.out, /forbidden: src\/io\/tun-device\.ts -> src\/dataplane\/egress\.ts/);
});

test('a circle, an upward import and an index import on the hot path are each named', () => {
  const r = check({
    'wire/a.ts': "import { B } from '../dataplane/b';\nexport const A = 1 + B;\n",
    'dataplane/b.ts': "import { A } from '../wire/a';\nexport const B = A;\n",
    'encap/index.ts': "export * from './c';\n",
    'encap/c.ts': 'export const C = 1;\n',
    'dataplane/d.ts': "import { C } from '../encap';\nexport const D = C;\n",
  });
  assert.equal(r.status, 1);
  assert.match(r.out, /circle: src\/dataplane\/b\.ts <-> src\/wire\/a\.ts/);
  assert.match(r.out, /forbidden: src\/wire\/a\.ts -> src\/dataplane\/b\.ts/);
  assert.match(r.out, /index import: src\/dataplane\/d\.ts -> src\/encap\/index\.ts/);
});

test('a circle through a type-only import is not a circle (the compiler erases it)', () => {
  const r = check({
    'io/socket.ts': "import type { Io } from './io';\nexport class S { io: Io | null = null; }\n",
    'io/io.ts':
      "export interface Io { x: number }\nexport async function open() { return import('./socket'); }\n",
  });
  assert.equal(r.status, 0, r.out);
});
