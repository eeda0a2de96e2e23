#!/usr/bin/env node
// Runs the compiled test files (dist/test/**/*.test.js) with node:test.
// Usage: node scripts/run-tests.js [--unit | --netns] [substring ...]
//   --unit   only the unit tests: no root, no namespaces, no servers (run a few files at a time)
//   --netns  only *.netns.test.js: real namespaces, veth, TUN, kernel VXLAN, etcd; root (one at a time)
//   neither  both, unit first; the exit status fails if either half fails
// Substrings keep only files whose path contains one of them.
'use strict';
const { existsSync, readdirSync, statSync } = require('node:fs');
const { availableParallelism } = require('node:os');
const { join, relative } = require('node:path');
const { spawnSync } = require('node:child_process');

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const netnsOnly = args.includes('--netns');
const filters = args.filter((a) => a !== '--unit' && a !== '--netns');
const root = join(__dirname, '..');
const files = walk(join(root, 'dist', 'test'), [])
  // A compiled file whose source was renamed or removed is stale: tsc does not delete it.
  .filter((f) => existsSync(join(root, relative(join(root, 'dist'), f).replace(/\.js$/, '.ts'))))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
const isNetns = (f) => f.endsWith('.netns.test.js');
const halves = [];
if (!netnsOnly)
  halves.push({ name: 'unit', files: files.filter((f) => !isNetns(f)), concurrency: availableParallelism() });
// Network tests create namespaces and TUN devices; running files one at a time keeps them apart.
if (!unitOnly) halves.push({ name: 'netns', files: files.filter(isNetns), concurrency: 1 });
if (halves.every((h) => h.files.length === 0)) {
  console.error('run-tests: no test files found (did the build run?)');
  process.exit(1);
}
let status = 0;
for (const h of halves) {
  if (h.files.length === 0) continue;
  console.error(`run-tests: ${h.name}: ${h.files.length} files`);
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${h.concurrency}`, ...h.files], {
    stdio: 'inherit',
  });
  if (r.status !== 0) status = r.status === null ? 1 : r.status;
}
process.exit(status);
