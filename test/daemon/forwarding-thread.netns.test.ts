/**
 * `weft run`'s forwarding thread, in namespaces (needs root; CI runs as root):
 * - its stats name it: /debug/stats has the TUN's I/O mode (`tunIo`, queue 0's TUN is on the
 *   worker) and the thread's id and scheduling (`forwarding`: SCHED_RR unless the kernel refused,
 *   and then why), the same thread id as the `dataplane started` line; /metrics has both too;
 * - when it dies (terminated by a `--require`d preload on SIGUSR2, as an exception in the thread
 *   would end it), /readyz answers 503, the daemon logs an error naming the thread and exits 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Testbed, DEFAULT_HEALTHZ_PORT, DEFAULT_METRICS_PORT } from '../../src/testing/testbed';
import { sleep } from '../../src/testing/shell';
import { CONFIG, needRoot } from './cluster-helpers';

const PRELOAD = path.join(__dirname, 'kill-forwarding-thread.js');

test('weft run: the forwarding thread in /debug/stats; its death means 503, an error naming it, exit 1', async (t) => {
  needRoot();
  const tb = await Testbed.create({ nodes: 1, tag: 'ft' });
  t.after(() => tb.cleanup());
  tb.writeConfig(CONFIG);
  const nd = tb.nodes[0]!;
  const saved = { opts: process.env.NODE_OPTIONS, url: process.env.KILL_FORWARDING_READYZ };
  process.env.NODE_OPTIONS = `${saved.opts ?? ''} --require ${PRELOAD}`.trim();
  process.env.KILL_FORWARDING_READYZ = `http://127.0.0.1:${DEFAULT_HEALTHZ_PORT}/readyz`;
  let p;
  try {
    p = tb.startWeft(nd);
  } finally {
    if (saved.opts === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = saved.opts;
    if (saved.url === undefined) delete process.env.KILL_FORWARDING_READYZ;
    else process.env.KILL_FORWARDING_READYZ = saved.url;
  }
  await tb.waitReady(nd, 30_000);

  const started = p.events.find((e) => e.msg === 'dataplane started');
  const threads = (started?.fields?.threads ?? []) as string[];
  const m = /^queue 0 tid (\d+)/.exec(threads[0] ?? '');
  assert.ok(m, `the start line names queue 0's thread: ${JSON.stringify(started?.fields)}`);
  const tid = Number(m[1]);
  assert.ok(tid !== p.pid, 'queue 0 forwards on a worker thread, not the main thread');

  const stats = tb.httpGet(nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/stats`);
  assert.equal(stats.status, 200, stats.body);
  const s = JSON.parse(stats.body) as {
    tunIo?: { mode: string; refused: string | null; ringCalls: number };
    forwarding?: Array<{
      queue: number;
      tid: number;
      policy: string;
      wanted: string;
      refused: string | null;
    }>;
  };
  assert.ok(s.tunIo, `tunIo in /debug/stats: ${stats.body.slice(0, 400)}`);
  assert.ok(['io_uring', 'readv'].includes(s.tunIo.mode), JSON.stringify(s.tunIo));
  if (s.tunIo.mode === 'readv') assert.ok(s.tunIo.refused, 'readv by default only with a reason');
  const f = s.forwarding?.[0];
  assert.ok(f, `forwarding in /debug/stats: ${JSON.stringify(s.forwarding)}`);
  assert.equal(f.queue, 0);
  assert.equal(f.tid, tid, 'the same thread as the start line');
  assert.equal(f.wanted, 'rr');
  // Root has CAP_SYS_NICE: SCHED_RR, unless the kernel refuses (then it must say why).
  assert.ok(f.policy === 'rr' || f.refused !== null, JSON.stringify(f));
  if (f.policy === 'rr') assert.match(threads[0]!, /SCHED_RR/);
  const metrics = tb.httpGet(nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/metrics`).body;
  assert.match(metrics, new RegExp(`^weft_tun_io_info\\{mode="${s.tunIo.mode}",refused="[^"]*"\\} 1$`, 'm'));
  assert.match(metrics, /^weft_tun_io_ring_batches_total \d+$/m);
  assert.match(
    metrics,
    new RegExp(`^weft_forwarding_thread_realtime\\{queue="0"\\} ${f.policy === 'rr' ? 1 : 0}$`, 'm'),
  );
  assert.match(metrics, /^weft_forwarding_thread_demotions_total\{queue="0"\} 0$/m);
  assert.equal(tb.httpGet(nd.ns, `http://127.0.0.1:${DEFAULT_HEALTHZ_PORT}/readyz`).status, 200);

  p.signal('SIGUSR2');
  const code = await Promise.race([p.exited, sleep(15_000).then(() => 'still running after 15 s')]);
  assert.equal(code, 1, `exit code after the forwarding thread died:\n${p.log.slice(-2000)}`);
  const err = p.events.find((e) => e.level === 'error' && /no forwarding thread is left/.test(e.msg));
  assert.ok(err, `an error line says why:\n${p.log.slice(-2000)}`);
  assert.match(err.msg, new RegExp(`forwarding thread of queue 0 \\(tid ${tid}\\)`), err.msg);
  assert.equal(err.fields?.tid, tid);
  assert.match(
    p.log,
    /kill-forwarding-thread: readyz 503/,
    `/readyz once the thread was gone:\n${p.log.slice(-2000)}`,
  );
});
