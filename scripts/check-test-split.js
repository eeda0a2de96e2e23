#!/usr/bin/env node
// Checks the test split by privilege (README "Building and testing"): a unit test is any
// test/**/*.test.ts not named *.netns.test.ts, and it must run without root, namespaces or
// servers. It fails if a unit test, or a test/ helper it imports (followed transitively), imports
// a root-only harness or asks for root. The netns half may use anything.
// Usage: node scripts/check-test-split.js   (exit 1 with one line per violation)
'use strict';
const { existsSync, readdirSync, readFileSync, statSync } = require('node:fs');
const { dirname, join, relative, resolve } = require('node:path');

const ROOT = join(__dirname, '..');

/** Modules that create namespaces, links, TUN devices or start servers (etcd, kube-apiserver). */
const ROOT_ONLY = [
  'test/helpers/netns.ts',
  'test/helpers/cni-node.ts',
  'test/helpers/dataplane-child.ts',
  'test/daemon/cluster-helpers.ts',
  'test/daemon/kube-helpers.ts',
  'src/testing/netns.ts',
  'src/testing/kernel-flannel.ts',
  'src/testing/weft-link.ts',
  'src/testing/etcd.ts',
  'src/testing/testbed.ts',
  'src/testing/kube-cluster.ts',
  'src/benchsuite/harness.ts',
];

/** Source text that only a root-only test has a reason to contain. */
const ROOT_ONLY_TEXT = [
  [/\brequireRoot\s*\(/, 'requireRoot()'],
  [/process\.getuid/, 'a root check (process.getuid)'],
  [/['"]netns['"]\s*,\s*['"](add|exec)['"]|ip netns (add|exec)/, '`ip netns add|exec`'],
];

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** importsOf returns the repository paths (.ts) of a file's relative imports and requires. */
function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const out = [];
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const base = resolve(dirname(file), m[1]);
    for (const cand of [base + '.ts', join(base, 'index.ts'), base]) {
      if (existsSync(cand) && statSync(cand).isFile()) {
        out.push(cand);
        break;
      }
    }
  }
  return out;
}

const rel = (p) => relative(ROOT, p).split('\\').join('/');
const units = walk(join(ROOT, 'test'), [])
  .filter((f) => !f.endsWith('.netns.test.ts'))
  .sort();
const problems = [];
for (const unit of units) {
  // Follow test/ helpers transitively; src/ modules are checked where a test file imports them
  // (src itself may import harnesses for the CLI's demo and bench commands).
  const seen = new Set([unit]);
  const queue = [[unit, [rel(unit)]]];
  while (queue.length > 0) {
    const [file, chain] = queue.shift();
    if (rel(file).startsWith('test/')) {
      const text = readFileSync(file, 'utf8');
      for (const [re, what] of ROOT_ONLY_TEXT)
        if (re.test(text)) problems.push(`${chain.join(' -> ')}: uses ${what}`);
    }
    for (const dep of importsOf(file)) {
      const r = rel(dep);
      if (ROOT_ONLY.includes(r)) {
        problems.push(`${chain.join(' -> ')}: imports the root-only ${r}`);
        continue;
      }
      if (r.startsWith('test/') && !seen.has(dep)) {
        seen.add(dep);
        queue.push([dep, [...chain, r]]);
      }
    }
  }
}
if (problems.length > 0) {
  console.error('check-test-split: these unit tests need root, namespaces or servers.');
  console.error('Rename the file (or move those tests) to *.netns.test.ts:');
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`check-test-split: ${units.length} unit test files need no root-only harness`);
