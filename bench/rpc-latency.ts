/**
 * rpc-latency: request/response latency through two `weft run` nodes, by request rate, with the
 * forwarding threads on SCHED_RR (the default) and on SCHED_OTHER (WEFT_FORWARDING_SCHED=other),
 * with the CPUs idle and with a competing busy loop on each CPU.
 *
 *   node dist/bench/rpc-latency.js [--time MS] [--rounds N] [--filter SUBSTRING] [--json OUT]   # root
 *
 * Two two-node testbeds (bench/leases.ts's, src/testing/testbed.ts: namespaces, underlay, embedded
 * store), one started plainly (SCHED_RR), one with WEFT_FORWARDING_SCHED=other; the pod addresses
 * are each subnet's `.1` on lo. A UDP echo server runs in node2's namespace; the client in node1's
 * sends one 64-byte request, waits for its answer, then sleeps (Atomics.wait, a futex:
 * sub-millisecond without spinning a CPU) until the next request is due: 200, 500, 1,000, 2,000,
 * 5,000 requests/s and unlimited (the next request as soon as the answer is in), `--time` ms per
 * rate (default 5000). One request in flight, as an RPC client has; a request without an answer
 * in 200 ms is counted lost. The two testbeds take turns, case by case and round by round
 * (`--rounds`, default 2), so both see the same machine. Before each case the SCHED_RR pair rests
 * until its forwarding threads are back on SCHED_RR (3 s at least), so every case starts there.
 * Per case: p50/p90/p99/p99.9/max latency, the rate reached, both daemons' CPU (% of one core)
 * and, from `/debug/stats` `forwarding` of both nodes, the demotions and promotions during it and
 * each thread's policy before and after; the summary is the median over rounds.
 * "cpu" load is one `node -e 'for(;;);'` per CPU (SCHED_OTHER), started by the bench: the same
 * session, so the same autogroup as the daemons, as a busy pod beside them would be.
 * Case names: `rr/idle/200`, `other/cpu/unlimited`...; `--filter` keeps those that contain it.
 */
import os from 'node:os';
import path from 'node:path';
import { parseBenchArgs, writeBenchRecord } from './harness';
import { cpuSeconds } from '../src/benchsuite/harness';
import { DEFAULT_METRICS_PORT, Testbed, type TestbedNode } from '../src/testing/testbed';
import { Proc } from '../src/testing/proc';
import { sleep, waitFor } from '../src/testing/shell';
import type { ThreadSchedStats } from '../src/dataplane/thread-sched';

const USAGE =
  'usage: node dist/bench/rpc-latency.js [--time MS per rate] [--filter SUBSTRING] [--json OUT]  (as root)';
const CONFIG = '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const RATES = [200, 500, 1000, 2000, 5000, 0] as const; // 0: unlimited
const PORT = 7007;
const REST_MS = 3000;

/** The echo server: answers every datagram with itself. */
const SERVER = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(${PORT}, process.argv[1], () => process.stdout.write('listening\\n'));
`;

/**
 * The client: argv dst, rate (0 = unlimited), ms. One request in flight; prints JSON with the
 * latencies in microseconds (sorted), the requests sent and the lost ones.
 */
const CLIENT = `
const dgram = require('node:dgram');
const [dst, rateS, msS] = process.argv.slice(1);
const rate = Number(rateS), ms = Number(msS);
const s = dgram.createSocket('udp4');
const buf = Buffer.alloc(64);
const lat = new Float64Array(Math.max(1024, Math.ceil((rate || 50000) * ms / 1000) + 1024));
const park = new Int32Array(new SharedArrayBuffer(4));
let n = 0, sent = 0, lost = 0, seq = 0, t0 = 0, timer = null;
const now = () => Number(process.hrtime.bigint()) / 1e3;
const start = now(), end = start + ms * 1000;
function send() {
  const t = now();
  if (t >= end) { finish(); return; }
  if (rate > 0) {
    const due = start + (sent * 1e6) / rate;
    if (due > t) Atomics.wait(park, 0, 0, (due - t) / 1000);
  }
  seq++; buf.writeUInt32BE(seq, 0);
  t0 = now(); sent++;
  s.send(buf, ${PORT}, dst);
  timer = setTimeout(() => { lost++; send(); }, 200);
}
s.on('message', (m) => {
  if (m.readUInt32BE(0) !== seq) return;
  clearTimeout(timer);
  if (n < lat.length) lat[n++] = now() - t0;
  send();
});
function finish() {
  const l = Array.from(lat.subarray(0, n)).sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ sent, lost, seconds: (now() - start) / 1e6, lat: l }));
  s.close();
}
s.bind(0, () => send());
`;

/** RateResult is one case's figures. */
interface RateResult {
  case: string;
  round: number;
  sched: 'rr' | 'other';
  load: 'idle' | 'cpu';
  rate: number | 'unlimited';
  achievedPerSecond: number;
  answered: number;
  lost: number;
  p50us: number;
  p90us: number;
  p99us: number;
  p999us: number;
  maxUs: number;
  /** Each daemon's CPU over the rate, % of one core. */
  cpuPercent: { node1: number; node2: number };
  /** Demotions and promotions of all forwarding threads of a node during the rate. */
  demotions: { node1: number; node2: number };
  promotions: { node1: number; node2: number };
  /** Each node's forwarding threads' policy and CPU share (last second) right after the rate. */
  policyBefore: { node1: string[]; node2: string[] };
  policyAfter: { node1: string[]; node2: string[] };
  cpuShareAfter: { node1: number[]; node2: number[] };
}

function forwarding(tb: Testbed, nd: TestbedNode): ThreadSchedStats[] {
  const r = tb.httpGet(nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/stats`);
  if (r.status !== 200) throw new Error(`node${nd.index} /debug/stats: ${r.status} ${r.body}`);
  return (JSON.parse(r.body) as { forwarding?: ThreadSchedStats[] }).forwarding ?? [];
}

const sum = (xs: ThreadSchedStats[], k: 'demotions' | 'promotions'): number =>
  xs.reduce((a, x) => a + x[k], 0);

function quantile(sorted: number[], q: number): number {
  const v = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return v === undefined ? NaN : Math.round(v);
}

/** busyLoops starts one busy loop per CPU; returns a stop function. */
function busyLoops(): () => Promise<void> {
  const ps = os.cpus().map((_, i) => new Proc(`busy ${i}`, process.execPath, ['-e', 'for(;;);']));
  return async () => {
    for (const p of ps) p.signal('SIGKILL');
    await Promise.all(ps.map((p) => p.exited));
  };
}

/** Pair is one two-node testbed, its daemons and the echo server's address. */
interface Pair {
  sched: 'rr' | 'other';
  tb: Testbed;
  nd1: TestbedNode;
  nd2: TestbedNode;
  pid1: number;
  pid2: number;
  pod2: string;
}

async function startPair(sched: 'rr' | 'other', tb: Testbed): Promise<Pair> {
  if (sched === 'other') process.env.WEFT_FORWARDING_SCHED = 'other';
  else delete process.env.WEFT_FORWARDING_SCHED;
  tb.writeConfig(CONFIG);
  const [nd1, nd2] = tb.nodes as [TestbedNode, TestbedNode];
  const p1 = tb.startWeft(nd1);
  const p2 = tb.startWeft(nd2);
  delete process.env.WEFT_FORWARDING_SCHED;
  const r1 = await tb.waitReady(nd1, 30_000);
  const r2 = await tb.waitReady(nd2, 30_000);
  const pod = (r: Record<string, unknown>): string => {
    const b = String(r.subnet).split('/')[0]!.split('.').map(Number);
    return `${b[0]}.${b[1]}.${b[2]}.${b[3]! + 1}`;
  };
  const pod2 = pod(r2);
  tb.execIn(nd1.ns, 'ip', ['addr', 'replace', `${pod(r1)}/32`, 'dev', 'lo']);
  tb.execIn(nd2.ns, 'ip', ['addr', 'replace', `${pod2}/32`, 'dev', 'lo']);
  await waitFor(() => tb.routesOf(nd1).includes(`${String(r2.subnet)} dev`), 30_000, 'node1 routes');
  await waitFor(() => tb.routesOf(nd2).includes(`${String(r1.subnet)} dev`), 30_000, 'node2 routes');
  const server = tb.spawnIn(nd2.ns, 'echo server', process.execPath, ['-e', SERVER, pod2]);
  await waitFor(() => server.log.includes('listening'), 10_000, 'echo server');
  // Warm up the path (neighbour and FDB entries, the JIT) at a rate that does not demote.
  tb.execIn(nd1.ns, process.execPath, ['-e', CLIENT, pod2, '200', '1000'], { timeoutMs: 30_000 });
  return { sched, tb, nd1, nd2, pid1: p1.pid, pid2: p2.pid, pod2 };
}

/**
 * restUntilRr waits until every forwarding thread of a SCHED_RR pair is back on SCHED_RR (a
 * demoted thread's quiet hold doubles while it flaps, up to 16 s), at least REST_MS; returns ms.
 */
async function rest(p: Pair): Promise<number> {
  const t0 = Date.now();
  await sleep(REST_MS);
  if (p.sched === 'rr') {
    const rr = (nd: TestbedNode): boolean => forwarding(p.tb, nd).every((x) => x.policy === 'rr');
    await waitFor(
      () => rr(p.nd1) && rr(p.nd2),
      40_000,
      'forwarding threads back on SCHED_RR',
      undefined,
      1000,
    );
  }
  return Date.now() - t0;
}

function runCase(p: Pair, load: 'idle' | 'cpu', rate: number, ms: number, round: number): RateResult {
  const { tb, nd1, nd2 } = p;
  const f1 = forwarding(tb, nd1);
  const f2 = forwarding(tb, nd2);
  const c1 = cpuSeconds(p.pid1);
  const c2 = cpuSeconds(p.pid2);
  const t0 = Date.now();
  const raw = tb.execIn(nd1.ns, process.execPath, ['-e', CLIENT, p.pod2, String(rate), String(ms)], {
    timeoutMs: ms + 60_000,
  });
  const wall = (Date.now() - t0) / 1000;
  const cpu1 = ((cpuSeconds(p.pid1) - c1) / wall) * 100;
  const cpu2 = ((cpuSeconds(p.pid2) - c2) / wall) * 100;
  const g1 = forwarding(tb, nd1);
  const g2 = forwarding(tb, nd2);
  const r = JSON.parse(raw) as { sent: number; lost: number; seconds: number; lat: number[] };
  const name = `${p.sched}/${load}/${rate === 0 ? 'unlimited' : rate}`;
  const res: RateResult = {
    case: name,
    round,
    sched: p.sched,
    load,
    rate: rate === 0 ? 'unlimited' : rate,
    achievedPerSecond: Math.round(r.sent / r.seconds),
    answered: r.lat.length,
    lost: r.lost,
    p50us: quantile(r.lat, 0.5),
    p90us: quantile(r.lat, 0.9),
    p99us: quantile(r.lat, 0.99),
    p999us: quantile(r.lat, 0.999),
    maxUs: Math.round(r.lat[r.lat.length - 1] ?? NaN),
    cpuPercent: { node1: Math.round(cpu1 * 10) / 10, node2: Math.round(cpu2 * 10) / 10 },
    demotions: {
      node1: sum(g1, 'demotions') - sum(f1, 'demotions'),
      node2: sum(g2, 'demotions') - sum(f2, 'demotions'),
    },
    promotions: {
      node1: sum(g1, 'promotions') - sum(f1, 'promotions'),
      node2: sum(g2, 'promotions') - sum(f2, 'promotions'),
    },
    policyBefore: { node1: f1.map((x) => x.policy), node2: f2.map((x) => x.policy) },
    policyAfter: { node1: g1.map((x) => x.policy), node2: g2.map((x) => x.policy) },
    cpuShareAfter: { node1: g1.map((x) => x.cpuShare), node2: g2.map((x) => x.cpuShare) },
  };
  const pol = (x: { node1: string[]; node2: string[] }): string =>
    `${x.node1.join(',')}/${x.node2.join(',')}`;
  process.stdout.write(
    `${name.padEnd(22)} #${round} ${String(res.achievedPerSecond).padStart(6)}/s p50 ${res.p50us} us ` +
      `p99 ${res.p99us} us max ${res.maxUs} us lost ${res.lost} cpu ${res.cpuPercent.node1}/${res.cpuPercent.node2} % ` +
      `demotions ${res.demotions.node1}/${res.demotions.node2} promotions ${res.promotions.node1}/${res.promotions.node2} ` +
      `policy ${pol(res.policyBefore)} -> ${pol(res.policyAfter)}\n`,
  );
  return res;
}

/** summarise is the median over rounds of each case's p50, p99 and CPU, and its demotions in all. */
function summarise(results: RateResult[]): Array<Record<string, unknown>> {
  const med = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor((s.length - 1) / 2)] ?? NaN;
  };
  const by = new Map<string, RateResult[]>();
  for (const r of results) by.set(r.case, [...(by.get(r.case) ?? []), r]);
  return [...by].map(([name, rs]) => ({
    case: name,
    rounds: rs.length,
    achievedPerSecond: med(rs.map((r) => r.achievedPerSecond)),
    p50us: med(rs.map((r) => r.p50us)),
    p99us: med(rs.map((r) => r.p99us)),
    p99usEach: rs.map((r) => r.p99us),
    cpuPercent: Math.round(med(rs.map((r) => r.cpuPercent.node1 + r.cpuPercent.node2)) * 10) / 10,
    demotions: rs.reduce((a, r) => a + r.demotions.node1 + r.demotions.node2, 0),
    roundsEndingOther: rs.filter((r) => [...r.policyAfter.node1, ...r.policyAfter.node2].includes('other'))
      .length,
  }));
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2), USAGE, { '--rounds': 2 }, 5000);
  const rounds = args.extra['--rounds']!;
  const results: RateResult[] = [];
  const tbs: Testbed[] = [];
  let stopBusy: (() => Promise<void>) | null = null;
  try {
    const pairs: Pair[] = [];
    for (const sched of ['rr', 'other'] as const) {
      const tb = await Testbed.create({ store: 'embedded', tag: sched === 'rr' ? 'rlr' : 'rlo', nodes: 2 });
      tbs.push(tb);
      pairs.push(await startPair(sched, tb));
    }
    for (const load of ['idle', 'cpu'] as const) {
      const todo = RATES.filter((rate) =>
        pairs.some((p) => `${p.sched}/${load}/${rate === 0 ? 'unlimited' : rate}`.includes(args.filter)),
      );
      if (todo.length === 0) continue;
      if (load === 'cpu') stopBusy = busyLoops();
      for (const rate of todo) {
        // rr and other alternate, round by round, so that both see the same machine.
        for (let round = 1; round <= rounds; round++) {
          for (const p of pairs) {
            if (!`${p.sched}/${load}/${rate === 0 ? 'unlimited' : rate}`.includes(args.filter)) continue;
            await rest(p);
            results.push(runCase(p, load, rate, args.time, round));
          }
        }
      }
      if (stopBusy !== null) await stopBusy();
      stopBusy = null;
    }
  } finally {
    if (stopBusy !== null) await stopBusy();
    for (const tb of tbs) await tb.cleanup();
  }
  const summary = summarise(results);
  for (const s of summary) process.stdout.write(`${JSON.stringify(s)}\n`);
  const body = { msPerRate: args.time, rounds, filter: args.filter, summary, results };
  if (args.json !== null) writeBenchRecord(path.resolve(args.json), body);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
