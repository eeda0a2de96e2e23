/**
 * Egress backpressure on a real underlay (needs root; CI runs as root).
 *
 * Setup: two namespaces joined by veth, a weft node in each (VXLAN), node A the sender. A's UDP
 * socket gets a tiny send buffer (NodeConfig.socketBufferSize, which `weft link` has no flag for,
 * so the nodes run as children of this file: `node stall.test.js --weft-stall-node ...`) and
 * A's veth a tbf qdisc: datagrams wait in the qdisc, stay charged to the socket, and sendmmsg
 * gets EAGAIN once a few of them are queued. (Without a qdisc veth hands each datagram to the
 * peer inside the send call, so the buffer never fills.)
 *
 * A TCP transfer from A to B then has to go through stall / resume many times. Both egress
 * drivers (OffloadEgress with `--io batch` offloads on, the plain Egress with offloads off) must:
 * count the stalls in `stats().egress.stalls` and `weft_egress_stalls_total` (one per EAGAIN the
 * socket saw), lose nothing they read from the TUN (reads = datagrams sent + counted drops), and
 * keep forwarding (the transfer completes byte-exact).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLinkArgs } from '../../src/cli/commands/link';
import { DataplaneNode, type DataplaneStats } from '../../src/dataplane/node';
import { createMetricsRegistry, newDaemonCounters } from '../../src/metrics/metrics';
import {
  cleanupFor,
  createUnderlay,
  ping,
  requireRoot,
  sleep,
  tcpTransfer,
  uniqueName,
  type Netns,
  type Proc,
} from '../helpers/netns';

/** NODE_FLAG makes this file run one dataplane node instead of the tests (see runNode). */
const NODE_FLAG = '--weft-stall-node';
const MAC_A = '0e:00:00:00:0a:01';
const MAC_B = '0e:00:00:00:0b:02';
/** SEND_BUFFER is A's requested SO_SNDBUF (the kernel doubles it): a few datagrams' worth. */
const SEND_BUFFER = 16 * 1024;

/**
 * runNode is the child mode: `weft link` flags after the send buffer size; prints `ready`, and on
 * SIGUSR1 one `stall-node: {"stats":..., "stallsMetric": N}` line; stops on SIGTERM.
 */
async function runNode(args: string[]): Promise<void> {
  const [sendBuffer, ...linkArgs] = args;
  const { config } = parseLinkArgs(linkArgs);
  const node = new DataplaneNode({ ...config, socketBufferSize: Number(sendBuffer) });
  await node.start();
  const registry = createMetricsRegistry(
    { dataplane: () => node, counters: newDaemonCounters(), ready: () => true, lease: () => null },
    { defaults: false },
  );
  const report = async (): Promise<void> => {
    // The exposition text, as a scrape sees it; -1 if the metric is missing.
    const m = /^weft_egress_stalls_total (\d+)$/m.exec(await registry.metrics());
    const line = { stats: node.stats(), stallsMetric: m ? Number(m[1]) : -1 };
    process.stdout.write(`stall-node: ${JSON.stringify(line)}\n`);
  };
  process.on('SIGUSR1', () => void report());
  const keepAlive = setInterval(() => undefined, 1 << 30);
  process.once('SIGTERM', () => {
    clearInterval(keepAlive);
    void node.stop().then(() => process.exit(0));
  });
  process.stdout.write('ready\n');
}

/** NodeReport is one SIGUSR1 answer of a child node. */
interface NodeReport {
  stats: DataplaneStats;
  stallsMetric: number;
}

async function readReport(p: Proc): Promise<NodeReport> {
  const from = p.lines.length;
  p.signal('SIGUSR1');
  const line = await p.waitForLine(/^stall-node: \{/, 5000, from);
  return JSON.parse(line.slice(line.indexOf('{'))) as NodeReport;
}

async function startNode(ns: Netns, sendBuffer: number, args: string[]): Promise<Proc> {
  const p = ns.spawn(`stall-node ${ns.name}`, process.execPath, [
    __filename,
    NODE_FLAG,
    String(sendBuffer),
    ...args,
  ]);
  await p.waitForLine(/^ready$/, 10_000);
  return p;
}

async function stallPair(t: Parameters<typeof cleanupFor>[0], offload: boolean) {
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const common = ['--backend', 'vxlan', '--offload', offload ? 'on' : 'off'];
  const a = await startNode(u.a, SEND_BUFFER, [
    ...common, '--dev', uniqueName('sa'), '--local', u.aIp, '--address', '10.244.0.1/32',
    '--vtep-mac', MAC_A, '--peer', `10.244.1.0/24=${u.bIp},${MAC_B}`,
  ]); // prettier-ignore
  const b = await startNode(u.b, 0, [
    ...common, '--dev', uniqueName('sb'), '--local', u.bIp, '--address', '10.244.1.1/32',
    '--vtep-mac', MAC_B, '--peer', `10.244.0.0/24=${u.aIp},${MAC_A}`,
  ]); // prettier-ignore
  return { u, a, b };
}

/** drained reads reports until two in a row show no new egress traffic (the transfer's tail is out). */
async function drained(p: Proc): Promise<NodeReport> {
  let prev = await readReport(p);
  const deadline = Date.now() + 5000;
  for (;;) {
    await sleep(100);
    const r = await readReport(p);
    const e = r.stats.egress;
    if (e.packets === prev.stats.egress.packets && r.stats.udp.txPackets === prev.stats.udp.txPackets)
      return r;
    if (Date.now() > deadline) throw new Error(`egress still busy after 5 s: ${JSON.stringify(r.stats)}`);
    prev = r;
  }
}

/**
 * assertNothingLost checks the egress books of a quiet node: every TUN read became descriptors
 * (a TSO super-packet its segments) that were either sent as one datagram each or dropped with a
 * counted reason, and nothing a stall held back is still unsent.
 */
function assertNothingLost(s: DataplaneStats): void {
  const o = s.offload!;
  const drops = Object.values(s.egressDrops).reduce((a, b) => a + b, 0);
  const described = s.tun.rxPackets! - o.superPacketsIn + o.segmentsOut;
  const why = JSON.stringify({
    egress: s.egress,
    egressDrops: s.egressDrops,
    tun: s.tun,
    udp: s.udp,
    offload: o,
  });
  assert.equal(described, s.egress.packets + drops, `TUN reads = forwarded + dropped: ${why}`);
  assert.equal(s.udp.txPackets, s.egress.packets, `every forwarded packet left as a datagram: ${why}`);
  assert.equal(s.udp.txErrors, 0, why);
  assert.equal(s.egressDrops.send_error ?? 0, 0, why);
}

/** registerTests declares the tests (not in the child mode). */
function registerTests(): void {
  describe('egress stalls (socket buffer full) in namespaces', () => {
    for (const offload of [true, false]) {
      const path = offload ? 'offload path (TSO + UDP GSO)' : 'plain batch path (--offload off)';
      test(`${path}: stalls counted, nothing lost, forwarding resumes`, async (t) => {
        requireRoot();
        const { u, a } = await stallPair(t, offload);
        // 25 MB/s leaving A: an 8 MB transfer takes ~0.4 s and A's 32 KiB send buffer fills at
        // every burst. The qdisc limit is far above the buffer, so the qdisc itself drops nothing.
        u.a.exec('tc', [
          'qdisc', 'add', 'dev', u.aDev, 'root', 'tbf', 'rate', '200mbit', 'burst', '128kb', 'limit', '1mb',
        ]); // prettier-ignore

        const r = await tcpTransfer(u.b, u.a, {
          addr: '10.244.1.1',
          bind: '10.244.0.1',
          bytes: 8 << 20,
          timeoutMs: 20_000,
        });
        assert.equal(r.bytesReceived, r.bytesSent);
        assert.equal(r.sha256Received, r.sha256Sent, 'the transfer survived the stalls byte-exact');

        const { stats: s, stallsMetric } = await drained(a);
        const why = JSON.stringify({ egress: s.egress, udp: s.udp, offload: s.offload });
        assert.equal(s.offload!.enabled, offload, why);
        if (offload)
          assert.ok(s.offload!.superPacketsIn > 0 && s.offload!.gsoTrains > 0, `offloads carried it: ${why}`);
        assert.ok(s.egress.stalls > 0, `egress stalled: ${why}`);
        // Nothing else sends on the socket, so every EAGAIN it saw is one stall.
        assert.equal(s.egress.stalls, s.udp.txEagain, `one stall per EAGAIN: ${why}`);
        assert.equal(stallsMetric, s.egress.stalls, 'weft_egress_stalls_total reports the same count');
        assertNothingLost(s);

        // Forwarding continues after the last stall: TUN reads are on again.
        const before = s.egress.packets;
        const p = ping(u.a, '10.244.1.1', { count: 3, source: '10.244.0.1' });
        assert.equal(p.received, 3, p.output);
        const after = (await drained(a)).stats;
        assert.ok(
          after.egress.packets >= before + 3,
          `pings forwarded: ${after.egress.packets} after ${before}`,
        );
        assertNothingLost(after);
      });
    }
  });
}

if (process.argv[2] === NODE_FLAG) {
  runNode(process.argv.slice(3)).catch((err: unknown) => {
    process.stderr.write(`stall-node: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
} else {
  registerTests();
}
