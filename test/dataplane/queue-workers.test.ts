/**
 * QueueWorkers (the main thread's side of `--workers`) with stand-in worker scripts: a worker
 * that dies is counted, reported and has its fds closed by the main thread (so the kernel stops
 * steering packets to a queue nobody reads); a setup error comes back as the typed error it was;
 * counter snapshots are collected on request; a worker that ignores `stop` is terminated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemError } from '../../src/errors';
import { QueueWorkers } from '../../src/dataplane/queue-workers';
import type { QueueWorkerData } from '../../src/dataplane/queue-worker';

const dir = mkdtempSync(join(tmpdir(), 'weft-qw-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const p = join(dir, `${name}.js`);
  writeFileSync(
    p,
    `'use strict';\nconst { parentPort, workerData } = require('node:worker_threads');\nconst fs = require('node:fs');\n${body}\n`,
  );
  return p;
}

function data(queue: number): QueueWorkerData {
  // Only `queue` is read by the stand-ins; the rest is what the node would send.
  return { queue, queues: 2, dev: 'unused', vnetHdr: false, sockets: { local: '127.0.0.1', port: 0, backend: 'vxlan', bufferSize: 0, queue, queues: 2 }, rawBufferSize: null, params: {} as QueueWorkerData['params'], peers: [] }; // prettier-ignore
}

function fdOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

test('a worker that dies is counted, reported, and its fds are closed by the main thread', async () => {
  const crash = script(
    'crash',
    `const fd = fs.openSync('/dev/null', 'r');
     parentPort.postMessage({ type: 'ready', fds: [fd] });
     setTimeout(() => { throw new Error('boom in the hot path'); }, 50);`,
  );
  const exits: Array<[number, string]> = [];
  const pool = await QueueWorkers.start([data(1)], {
    script: crash,
    onExit: (q, why) => exits.push([q, why]),
  });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(pool.exits, 1);
  assert.equal(pool.alive, 0);
  assert.equal(exits.length, 1);
  assert.equal(exits[0]![0], 1);
  assert.match(exits[0]![1], /boom in the hot path/);
  await pool.stop();
});

test('the fds a dead worker reported are closed', async () => {
  // Open the fd here so the test knows its number; the worker reports it as its own.
  const fd = openSync('/dev/null', 'r');
  const crash = script(
    'crash-fd',
    `parentPort.postMessage({ type: 'ready', fds: [${fd}] });
     setTimeout(() => { throw new Error('boom'); }, 20);`,
  );
  const pool = await QueueWorkers.start([data(1)], { script: crash });
  assert.ok(fdOpen(fd), 'open while the worker runs');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(fdOpen(fd), false, 'closed once the worker died');
  await pool.stop();
});

test('a setup error comes back typed, and the workers started before it are stopped', async () => {
  const marker = join(dir, 'stopped-1');
  const mixed = script(
    'mixed',
    `if (workerData.queue === 2) {
       parentPort.postMessage({ type: 'error', error: { message: 'bind failed: EADDRINUSE', code: 'WEFT_ERR_SYSTEM', syscall: 'bind', errno: 'EADDRINUSE', field: null } });
     } else {
       parentPort.on('message', (m) => {
         if (m.type === 'stop') { fs.writeFileSync(${JSON.stringify(marker)}, 'yes'); parentPort.postMessage({ type: 'stopped' }); parentPort.close(); }
       });
       parentPort.postMessage({ type: 'ready', fds: [] });
     }`,
  );
  await assert.rejects(
    QueueWorkers.start([data(1), data(2)], { script: mixed }),
    (e: unknown) =>
      e instanceof SystemError &&
      e.syscall === 'bind' &&
      e.errno === 'EADDRINUSE' &&
      /worker 2/.test(e.message),
  );
  assert.ok(existsSync(marker), 'worker 1 was asked to stop and did');
});

test("refresh collects each worker's snapshot; stop ends the threads", async () => {
  const stats = script(
    'stats',
    `let n = 0;
     parentPort.on('message', (m) => {
       if (m.type === 'stats') parentPort.postMessage({ type: 'stats', id: m.id, snapshot: { queue: workerData.queue, n: ++n, flowTop: m.flowTop } });
       if (m.type === 'stop') { parentPort.postMessage({ type: 'stopped' }); parentPort.close(); }
     });
     parentPort.postMessage({ type: 'ready', fds: [] });`,
  );
  const pool = await QueueWorkers.start([data(1), data(2)], { script: stats, flowTop: 7 });
  assert.equal(pool.count, 2);
  await pool.refresh(3);
  const snaps = pool.latest() as unknown as Array<{ queue: number; n: number; flowTop: number }>;
  assert.deepEqual(
    snaps.map((s) => [s.queue, s.flowTop]),
    [
      [1, 3],
      [2, 3],
    ],
  );
  await pool.stop();
  assert.equal(pool.alive, 0);
  assert.equal(pool.exits, 0, 'asked to stop: not counted as a failure');
});

test('a worker that ignores stop is terminated and counted', async () => {
  const stubborn = script(
    'stubborn',
    `parentPort.on('message', () => {}); parentPort.postMessage({ type: 'ready', fds: [] });`,
  );
  const pool = await QueueWorkers.start([data(1)], { script: stubborn });
  const t0 = Date.now();
  await pool.stop();
  assert.ok(Date.now() - t0 < 5000, 'stop is bounded');
  assert.equal(pool.alive, 0);
  assert.equal(pool.exits, 1);
});

test("a worker that said 'stopped' but is slow to exit: the fd numbers it reported are left alone", async () => {
  // The worker closed its own fds before 'stopped', so by the time the stop times out their numbers
  // may belong to someone else: here an fd the main thread opened (the worker reports its number).
  const fd = openSync('/dev/null', 'r');
  const lingering = script(
    'lingering',
    `parentPort.on('message', (m) => {
       if (m.type === 'stop') { parentPort.postMessage({ type: 'stopped' }); setInterval(() => {}, 1000); }
     });
     parentPort.postMessage({ type: 'ready', fds: [${fd}] });`,
  );
  const pool = await QueueWorkers.start([data(1)], { script: lingering });
  try {
    await pool.stop();
    assert.equal(pool.alive, 0);
    assert.ok(fdOpen(fd), "an fd number reused after the worker's own close is not closed by main");
  } finally {
    if (fdOpen(fd)) closeSync(fd);
  }
});

test('stop called twice at once is one stop: the stubborn worker is counted once, its fds closed once', async () => {
  const fd = openSync('/dev/null', 'r');
  const stubborn = script(
    'stubborn-twice',
    `parentPort.on('message', () => {}); parentPort.postMessage({ type: 'ready', fds: [${fd}] });`,
  );
  const pool = await QueueWorkers.start([data(1)], { script: stubborn });
  const first = pool.stop();
  const second = pool.stop();
  assert.equal(first, second, 'the same promise');
  await Promise.all([first, second]);
  assert.equal(pool.exits, 1);
  assert.equal(fdOpen(fd), false, 'its fd was closed');
  // A third call after the fact changes nothing either.
  await pool.stop();
  assert.equal(pool.exits, 1);
});
