import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const MODULE = join(__dirname, '..', '..', 'src', 'dataplane', 'young-generation.js');

/**
 * A child node process: optionally caps, starts a worker thread (which resets V8's flags) and
 * re-applies as queue-workers.ts does, then keeps 300,000 objects alive through scavenges (what
 * parsing 10,000 leases does) and prints its young generation's size in MiB.
 */
function youngGenMiB(cap: boolean, nodeArgs: string[] = []): number {
  const script = `
    const v8 = require('node:v8');
    const { Worker } = require('node:worker_threads');
    const yg = require(${JSON.stringify(MODULE)});
    const capped = ${cap} ? yg.capYoungGeneration() : false;
    const w = new Worker('setTimeout(() => {}, 10)', { eval: true });
    w.once('online', yg.reapplyYoungGenerationCap);
    w.on('exit', () => {
      const keep = [];
      for (let i = 0; i < 300000; i++) keep.push({ a: 'x' + i, b: [i, i + 1] });
      const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
      console.log(JSON.stringify({ capped, mib: s.space_size / 1048576, n: keep.length }));
    });`;
  const out = execFileSync(process.execPath, [...nodeArgs, '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const r = JSON.parse(out) as { capped: boolean; mib: number };
  assert.equal(r.capped, cap && nodeArgs.length === 0);
  return r.mib;
}

test('capYoungGeneration keeps the nursery at its initial size, also after a worker starts', () => {
  const grown = youngGenMiB(false);
  const capped = youngGenMiB(true);
  assert.ok(grown >= 8, `without the cap V8 grows the nursery (${grown} MiB)`);
  assert.ok(capped <= 4, `with the cap it stays small (${capped} MiB)`);
});

test('capYoungGeneration leaves an explicit --max-semi-space-size alone', () => {
  const mib = youngGenMiB(true, ['--max-semi-space-size=8']);
  assert.ok(mib > 4, `the operator's 8 MiB semi-spaces are used (${mib} MiB)`);
});
