#!/usr/bin/env node
// Checks the import graph of src/: fails on an import circle between modules, and on an import in
// a forbidden direction between folders (the layering docs/architecture.md describes).
// Usage: node scripts/check-imports.js [--graph] [--root DIR]   (--graph prints every edge; --root
// checks DIR/src instead of this checkout's, for the script's own test)
// Every import counts for the directions (an upward `import type` is still an upward arrow); type-only
// imports (`import type`, `export type ... from`), which the compiler erases, do not make a circle.
// Dynamic `import()` and `require()` count as runtime edges.
'use strict';
const { readdirSync, readFileSync, statSync, existsSync } = require('node:fs');
const { join, dirname, relative, resolve } = require('node:path');

const rootArg = process.argv.indexOf('--root');
const ROOT = rootArg > 0 ? resolve(process.argv[rootArg + 1]) : join(__dirname, '..');
const SRC = join(ROOT, 'src');

/**
 * FORBIDDEN lists [from folder, to folders]: no module under `from` may import one under `to`.
 * Lower layers never reach up: wire (headers) < encap, offload (algorithms) < dataplane (drivers).
 */
const FORBIDDEN = [
  [
    'src/wire',
    ['src/encap', 'src/offload', 'src/dataplane', 'src/io', 'src/route', 'src/control', 'src/daemon'],
  ],
  ['src/encap', ['src/offload', 'src/dataplane', 'src/io', 'src/daemon']],
  ['src/offload', ['src/dataplane', 'src/encap', 'src/daemon']],
  ['src/io', ['src/dataplane', 'src/offload', 'src/daemon']],
  ['src/route', ['src/dataplane', 'src/offload', 'src/daemon']],
  ['src/dataplane', ['src/daemon', 'src/cli']],
];

/**
 * HOT_PATH lists the folders whose modules run per packet: they import module by module, never a
 * folder's index.ts (its re-exports are getters V8 does not always inline, see explain/decode.ts).
 * CONTROL_PATH exempts the modules of those folders that only set the hot path up: path prefixes,
 * so that `node.ts` split into `node-*.ts` stays exempt.
 */
const HOT_PATH = ['src/dataplane', 'src/encap', 'src/offload', 'src/wire'];
const CONTROL_PATH = ['src/dataplane/node', 'src/dataplane/queue-worker', 'src/dataplane/workers'];

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

// import ... from 'x' | export ... from 'x' | import 'x' | import('x') | require('x')
const SPEC =
  /(?:^|\n)\s*((?:import|export)\b[^'"`;]*?)\bfrom\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;

function resolveSpec(fromFile, spec) {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(fromFile), spec);
  for (const cand of [base + '.ts', join(base, 'index.ts')]) if (existsSync(cand)) return cand;
  return null;
}

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"])\/\/.*$/gm, '$1');
}

const rel = (p) => relative(ROOT, p).split('\\').join('/');
const files = walk(SRC, []).sort();
const edges = new Map(); // every import
const runtime = new Map(); // imports that survive compilation
for (const f of files) {
  const text = stripComments(readFileSync(f, 'utf8'));
  const to = new Set();
  const rt = new Set();
  for (const m of text.matchAll(SPEC)) {
    const spec = m[2] ?? m[3] ?? m[4] ?? m[5];
    const r = resolveSpec(f, spec);
    if (r === null) continue;
    to.add(r);
    if (m[1] === undefined || !/^\s*(?:import|export)\s+type\b/.test(m[1])) rt.add(r);
  }
  edges.set(f, [...to].sort());
  runtime.set(f, [...rt].sort());
}

const problems = [];
for (const [from, tos] of edges) {
  for (const to of tos) {
    for (const [dir, banned] of FORBIDDEN) {
      if (!rel(from).startsWith(dir + '/')) continue;
      for (const b of banned)
        if (rel(to).startsWith(b + '/'))
          problems.push(`forbidden: ${rel(from)} -> ${rel(to)} (${dir} must not import ${b})`);
    }
  }
}

for (const [from, tos] of edges) {
  const r = rel(from);
  if (
    !HOT_PATH.some((d) => r.startsWith(d + '/')) ||
    CONTROL_PATH.some((c) => r.startsWith(c)) ||
    r.endsWith('/index.ts')
  )
    continue;
  for (const to of tos)
    if (rel(to).endsWith('/index.ts'))
      problems.push(`index import: ${r} -> ${rel(to)} (hot-path modules import the module itself)`);
}

// Tarjan's strongly connected components: every component of more than one module is a circle.
let index = 0;
const idx = new Map();
const low = new Map();
const onStack = new Set();
const stack = [];
function strong(v) {
  idx.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  onStack.add(v);
  for (const w of runtime.get(v) ?? []) {
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    const self = (runtime.get(v) ?? []).includes(v);
    if (comp.length > 1 || self) problems.push(`circle: ${comp.map(rel).sort().join(' <-> ')}`);
  }
}
for (const f of files) if (!idx.has(f)) strong(f);

if (process.argv.includes('--graph'))
  for (const [f, tos] of edges) for (const t of tos) console.log(`${rel(f)} -> ${rel(t)}`);
if (problems.length > 0) {
  for (const p of problems) console.error(`check-imports: ${p}`);
  process.exit(1);
}
console.log(
  `check-imports: ${files.length} modules, ${[...edges.values()].reduce((n, t) => n + t.length, 0)} imports, no circle, no forbidden direction, no index import on the hot path`,
);
