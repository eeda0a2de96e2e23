/**
 * leases: `weft run` with 10,000 flannel leases in the embedded store (issue 13.2 targets).
 *
 *   node dist/bench/leases.js [--leases 10000] [--churn 1000] [--weft PATH] [--json OUT]
 *
 * Two nodes in namespaces (the Testbed's underlay, Network 10.244.0.0/16 with SubnetLen 30 so
 * that 10,000 leases fit). The store is filled with N leases in flannel's exact JSON before node1
 * starts; node2 is a real weft peer the forwarding RTT is measured against. Figures:
 * - ready: spawn of node1 to its `ready` line (all N routes in the kernel by then);
 * - idle CPU (% of one core, utime+stime from /proc over 10 s, also split by thread: main,
 *   forwarding, other) 3 s after all routes are in, and again 25 s later (steady, without the
 *   start's one-off garbage collection), and RSS after settling;
 * - one new lease: file renamed in -> its route in node1's table;
 * - churn: `--churn` changes (half new leases, half deletions of existing ones) written over one
 *   second -> node1's table matches; ping RTT node1 -> node2 (every 50 ms) before and during.
 *   the same over the underlay alone (no weft on the path) is the control for machine load;
 * - forwarding: each node's forwarding threads' policy and demotion/promotion counts
 *   (`/debug/stats` `forwarding`, src/dataplane/thread-sched.ts) before the churn and after it
 *   settled: a churn is control work and should not demote them (an older build without the
 *   endpoint's `forwarding` gives empty lists);
 * `--weft PATH` runs another build (e.g. an older checkout's bin/weft) for comparison.
 * `--sched DIR` records the scheduler (`perf sched record -k CLOCK_MONOTONIC`, all CPUs) over the
 * churn into DIR/sched.data, and writes DIR/meta.json: both nodes' PIDs and forwarding thread ids,
 * every ping (receive time on CLOCK_MONOTONIC, RTT) and the churn's start and end, so that a late
 * ping can be matched with what each thread was doing (`perf sched timehist --state`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_METRICS_PORT, Testbed, TestbedNode } from '../src/testing/testbed';
import type { ThreadSchedStats } from '../src/dataplane/thread-sched';
import { cpuSeconds, rssMiB } from '../src/benchsuite/harness';
import { netnsExec } from '../src/testing/netns';
import { Proc } from '../src/testing/proc';
import { sh, sleep, waitFor } from '../src/testing/shell';

const CONFIG = '{"Network":"10.244.0.0/16","SubnetLen":30,"Backend":{"Type":"vxlan","VNI":1}}';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}

function leaseValue(i: number): string {
  const ip = `198.51.100.${(i % 250) + 1}`;
  const mac = `02:${[(i >> 16) & 255, (i >> 8) & 255, i & 255, 1, 2].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
  return `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;
}

/** subnetOf is the i-th /30 from the top of 10.244.0.0/16 (the allocator picks from the bottom). */
function keyOf(i: number): string {
  const v = 0x0af4fffc - i * 4;
  return `10.244.${(v >> 8) & 255}.${v & 255}-30`;
}

function writeLease(dir: string, tmpDir: string, key: string, value: string): void {
  const tmp = path.join(tmpDir, `b.${key}`);
  fs.writeFileSync(tmp, value);
  const exp = new Date(Date.now() + 6 * 3600_000);
  fs.utimesSync(tmp, exp, exp);
  fs.renameSync(tmp, path.join(dir, key));
}

function flannelRoutes(nd: TestbedNode): Set<string> {
  const out = sh('ip', ['-n', nd.ns, 'route', 'show', 'dev', 'flannel.1']);
  const s = new Set<string>();
  for (const l of out.split('\n')) if (l.trim()) s.add(l.split(' ')[0]!);
  return s;
}

/** until waits (polling every `every` ms) for `cond`; resolves with how long it took. */
async function until(cond: () => boolean, ms: number, what: string, every = 20): Promise<number> {
  const t0 = Date.now();
  await waitFor(cond, ms, what, undefined, every);
  return Date.now() - t0;
}

/** Ping is one echo reply: when it was printed (ms, CLOCK_MONOTONIC), its sequence number and RTT. */
interface Ping {
  atMono: number;
  seq: number;
  rtt: number;
}

/** monoOffsetMs is wall clock minus CLOCK_MONOTONIC (process.hrtime), in ms. */
function monoOffsetMs(): number {
  return Date.now() - Number(process.hrtime.bigint()) / 1e6;
}

/** pinger runs ping every 50 ms in the background; stop() returns the replies (RTTs in ms). */
function pinger(ns: string, src: string, dst: string): { stop: () => Promise<Ping[]> } {
  const args = ['-n', '-D', '-i', '0.05', '-I', src, dst];
  const p = new Proc(`ping ${dst}`, 'ip', netnsExec(ns, 'ping', args));
  return {
    stop: async () => {
      p.signal('SIGINT');
      await p.exited;
      const off = monoOffsetMs();
      return [...p.log.matchAll(/^\[([\d.]+)\].*icmp_seq=(\d+).*time=([\d.]+) ms/gm)].map((m) => ({
        atMono: Number(m[1]) * 1000 - off,
        seq: Number(m[2]),
        rtt: Number(m[3]),
      }));
    },
  };
}

/** threadCpu is each thread's CPU seconds (utime + stime) from /proc/PID/task/TID/stat. */
function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(Number(t), (Number(f[11]) + Number(f[12])) / 100); // USER_HZ is 100 on Linux
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** idleSplit is the CPU % of one core over `seconds` spent by the main thread, the forwarding threads and the rest (V8's platform threads, libuv's threadpool). */
function idleSplit(
  pid: number,
  fwd: number[],
  a: Map<number, number>,
  b: Map<number, number>,
  seconds: number,
): { main: number; forwarding: number; other: number } {
  const r = { main: 0, forwarding: 0, other: 0 };
  for (const [tid, v] of b) {
    const d = ((v - (a.get(tid) ?? 0)) / seconds) * 100;
    if (tid === pid) r.main += d;
    else if (fwd.includes(tid)) r.forwarding += d;
    else r.other += d;
  }
  const round = (x: number): number => Math.round(x * 100) / 100;
  return { main: round(r.main), forwarding: round(r.forwarding), other: round(r.other) };
}

/** forwardingTids reads the forwarding threads' ids from a node's `dataplane started` line. */
function forwardingTids(p: Proc): number[] {
  const m = /"threads":\[([^\]]*)\]/.exec(p.log);
  return m ? [...m[1]!.matchAll(/tid (\d+)/g)].map((x) => Number(x[1])) : [];
}

/** Sched is a node's forwarding threads' scheduling, from its `/debug/stats` `forwarding`. */
interface Sched {
  policy: string[];
  demotions: number;
  promotions: number;
  quietHoldMs: number[];
}

/** forwardingSched reads node `nd`'s forwarding threads' policy and demotion/promotion counts (or the error). */
function forwardingSched(tb: Testbed, nd: TestbedNode): Sched | { error: string } {
  const r = tb.httpGet(nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/stats`);
  if (r.status !== 200) return { error: `/debug/stats: ${r.status} ${r.body.slice(0, 200)}` };
  const f = (JSON.parse(r.body) as { forwarding?: ThreadSchedStats[] }).forwarding ?? [];
  return {
    policy: f.map((x) => x.policy),
    demotions: f.reduce((a, x) => a + x.demotions, 0),
    promotions: f.reduce((a, x) => a + x.promotions, 0),
    quietHoldMs: f.map((x) => x.quietHoldMs),
  };
}

function summary(pings: Ping[]): { n: number; median: number; p99: number; max: number } {
  const s = pings.map((p) => p.rtt).sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { n: s.length, median: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? NaN };
}

async function main(): Promise<void> {
  const n = Number(arg('leases', '10000'));
  const churn = Number(arg('churn', '1000'));
  const weftBin = arg('weft', '');
  const schedDir = arg('sched', '');
  const tb = await Testbed.create({
    store: 'embedded',
    tag: 'bl',
    nodes: 2,
    ...(weftBin ? { weftBin } : {}),
  });
  const results: Record<string, unknown> = {
    leases: n,
    churn,
    weft: weftBin || 'this checkout',
    date: new Date().toISOString(),
  };
  try {
    tb.writeConfig(CONFIG);
    const [nd1, nd2] = tb.nodes as [TestbedNode, TestbedNode];
    const dir = path.join(tb.storeDir, 'coreos.com', 'network', 'subnets');
    const tmpDir = path.join(tb.storeDir, 'bench-tmp');
    fs.mkdirSync(dir, { recursive: true });
    fs.mkdirSync(tmpDir, { recursive: true });
    for (let i = 0; i < n; i++) writeLease(dir, tmpDir, keyOf(i), leaseValue(i));

    const p2 = tb.startWeft(nd2);
    const r2 = await tb.waitReady(nd2, 300_000);
    const t0 = Date.now();
    const p1 = tb.startWeft(nd1);
    const r1 = await tb.waitReady(nd1, 300_000);
    results.readySeconds = (Date.now() - t0) / 1000;
    const routesAtReady = flannelRoutes(nd1).size;
    results.routesAtReady = routesAtReady;
    const sub1 = String(r1.subnet).split('/')[0]!.split('.').map(Number);
    const sub2 = String(r2.subnet).split('/')[0]!.split('.').map(Number);
    const pod1 = `${sub1[0]}.${sub1[1]}.${sub1[2]}.${sub1[3]! + 1}`;
    const pod2 = `${sub2[0]}.${sub2[1]}.${sub2[2]}.${sub2[3]! + 1}`;
    tb.execIn(nd1.ns, 'ip', ['addr', 'replace', `${pod1}/32`, 'dev', 'lo']);
    tb.execIn(nd2.ns, 'ip', ['addr', 'replace', `${pod2}/32`, 'dev', 'lo']);
    await until(() => flannelRoutes(nd1).size >= n + 1, 300_000, 'all routes in node1', 500);
    results.allRoutedSeconds = (Date.now() - t0) / 1000;

    await sleep(3000);
    const c0 = cpuSeconds(p1.pid);
    const t0s = threadCpu(p1.pid);
    await sleep(10_000);
    results.idleCpuPercent = ((cpuSeconds(p1.pid) - c0) / 10) * 100;
    results.idleCpuByThread = idleSplit(p1.pid, forwardingTids(p1), t0s, threadCpu(p1.pid), 10);
    // The same 25 s later: the first window still holds the collection of the start's garbage
    // (a one-off); this one is the steady idle cost.
    await sleep(15_000);
    const c1 = cpuSeconds(p1.pid);
    const t1s = threadCpu(p1.pid);
    await sleep(10_000);
    results.idleCpuLaterPercent = ((cpuSeconds(p1.pid) - c1) / 10) * 100;
    results.idleCpuLaterByThread = idleSplit(p1.pid, forwardingTids(p1), t1s, threadCpu(p1.pid), 10);
    results.rssMiB = rssMiB(p1.pid);

    const base = pinger(nd1.ns, pod1, pod2);
    await sleep(3000);
    results.rttIdle = summary(await base.stop());

    const newKey = keyOf(n + 10);
    const tNew = Date.now();
    writeLease(dir, tmpDir, newKey, leaseValue(n + 10));
    const dst = newKey.replace('-', '/');
    await until(
      () => sh('ip', ['-n', nd1.ns, 'route', 'show', 'exact', dst, 'dev', 'flannel.1']).trim() !== '',
      30_000,
      'new lease routed',
    );
    results.newLeaseRoutedMs = Date.now() - tNew;
    results.forwardingBeforeChurn = { node1: forwardingSched(tb, nd1), node2: forwardingSched(tb, nd2) };

    let perf: Proc | null = null;
    if (schedDir) {
      fs.mkdirSync(schedDir, { recursive: true });
      const data = path.join(schedDir, 'sched.data');
      perf = new Proc('perf sched', 'perf', ['sched', 'record', '-k', 'CLOCK_MONOTONIC', '-o', data]);
      await sleep(1500); // perf sets up its buffers on every CPU
    }
    const during = pinger(nd1.ns, pod1, pod2);
    // The control: the same two namespaces over the underlay alone (no weft on the path). When
    // it slows down too, the machine is busy, not weft's event loop.
    const control = pinger(nd1.ns, nd1.ip, nd2.ip);
    results.loadAverageAtChurn = os.loadavg()[0];
    await sleep(500);
    const adds = Math.floor(churn / 2);
    const dels = churn - adds;
    const addKeys = Array.from({ length: adds }, (_, i) => keyOf(n + 100 + i));
    const delKeys = Array.from({ length: dels }, (_, i) => keyOf(i * 3));
    const tChurn = Date.now();
    const churnStartMono = Date.now() - monoOffsetMs();
    const steps = 20;
    for (let s = 0; s < steps; s++) {
      for (let i = s; i < adds; i += steps) writeLease(dir, tmpDir, addKeys[i]!, leaseValue(n + 100 + i));
      for (let i = s; i < dels; i += steps) fs.unlinkSync(path.join(dir, delKeys[i]!));
      await sleep(1000 / steps);
    }
    results.churnWriteMs = Date.now() - tChurn;
    try {
      await until(
        () => {
          const r = flannelRoutes(nd1);
          return (
            addKeys.every((k) => r.has(k.replace('-', '/'))) &&
            delKeys.every((k) => !r.has(k.replace('-', '/')))
          );
        },
        120_000,
        'churn settled',
        200, // a full table listing costs CPU too: not too often, while RTT is measured
      );
      results.churnSettledMs = Date.now() - tChurn;
    } catch (e) {
      // An older build may not settle at all: record that and go on to the RTT figures.
      results.churnSettledMs = null;
      results.churnError = e instanceof Error ? e.message : String(e);
    }
    await sleep(1000);
    const churnPings = await during.stop();
    const controlPings = await control.stop();
    results.rttChurn = summary(churnPings);
    results.rttUnderlayChurn = summary(controlPings);
    results.forwardingAfterChurn = { node1: forwardingSched(tb, nd1), node2: forwardingSched(tb, nd2) };
    if (perf !== null) {
      perf.signal('SIGINT');
      await perf.exited;
      const meta = {
        bench: process.pid,
        node1: { pid: p1.pid, forwarding: forwardingTids(p1) },
        node2: { pid: p2.pid, forwarding: forwardingTids(p2) },
        churnStartMono,
        churnWriteMs: results.churnWriteMs,
        churnSettledMs: results.churnSettledMs,
        pings: churnPings,
        control: controlPings,
      };
      fs.writeFileSync(path.join(schedDir, 'meta.json'), JSON.stringify(meta) + '\n');
    }
    results.rssAfterChurnMiB = rssMiB(p1.pid);
    await sleep(15_000);
    results.rss15sAfterChurnMiB = rssMiB(p1.pid);
  } finally {
    await tb.cleanup();
  }
  const out = arg('json', '');
  if (out) fs.writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
