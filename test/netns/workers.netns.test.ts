/**
 * `--workers` in namespaces (needs root; CI runs as root): a multi-queue TUN with a worker thread
 * per extra queue and an SO_REUSEPORT socket group steered by outer source port
 * (src/dataplane/queue-devices.ts). Many concurrent TCP flows must arrive byte-exact, spread over
 * both queues, and a flow sent by queue k of one weft node must be received by queue k of its weft
 * peer (no flow changes queue, so nothing is reordered between queues). Peer changes must reach
 * the worker threads, and kernel VXLAN peers must interoperate.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { DataplaneStats } from '../../src/dataplane/node';
import type { ChildConfig, PeerJson } from '../helpers/dataplane-child';
import {
  cleanupFor,
  createUnderlay,
  readWeftStats,
  requireRoot,
  setupKernelVsWeft,
  startWeftVsKernel,
  tcpTransfer,
  uniqueName,
  type Netns,
  type Proc,
  type TransferResult,
} from '../helpers/netns';
import { unexpectedDrops } from '../../src/testing/weft-link';

const CHILD = join(__dirname, '..', 'helpers', 'dataplane-child.js');
const MAC_A = '0e:00:00:00:0a:01';
const MAC_B = '0e:00:00:00:0b:02';
const FLOWS = 16;

async function startChild(ns: Netns, cfg: ChildConfig): Promise<Proc> {
  const p = ns.spawn(`dataplane-child ${ns.name}`, process.execPath, [CHILD, JSON.stringify(cfg)]);
  await p.waitForLine(/^ready$/, 15_000);
  return p;
}

async function command(p: Proc, line: string, reply: RegExp): Promise<string> {
  const from = p.lines.length;
  p.child.stdin!.write(`${line}\n`);
  return p.waitForLine(reply, 5000, from);
}

async function childStats(p: Proc): Promise<DataplaneStats> {
  const line = await command(p, 'stats', /^stats \{/);
  return JSON.parse(line.slice(6)) as DataplaneStats;
}

/**
 * settledStats reads every node's stats until their packet counters stop moving (two reads 50 ms
 * apart agree, within 3 s). A transfer's last segments (its closing ACKs) can still be between
 * the nodes when the transfer's processes exit; counters compared across nodes, or before and
 * after a change, must not depend on whether those were counted yet.
 */
async function settledStats(...ps: Proc[]): Promise<DataplaneStats[]> {
  const key = (s: DataplaneStats): string =>
    [s.egress.packets, s.ingress.packets]
      .concat((s.queues ?? []).flatMap((q) => [q.egressPackets, q.ingressPackets, q.egressDrops]))
      .join(',');
  let prev = await Promise.all(ps.map(childStats));
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const next = await Promise.all(ps.map(childStats));
    if (next.map(key).join(';') === prev.map(key).join(';')) return next;
    prev = next;
  }
  return prev;
}

function nodeConfig(
  local: string,
  address: string,
  mac: string,
  peers: PeerJson[],
  backend: ChildConfig['backend'] = 'vxlan',
): ChildConfig {
  return {
    backend,
    dev: uniqueName('wk'),
    local,
    address,
    vni: 1,
    port: backend === 'vxlan' ? 8472 : 8285,
    vtepMac: mac,
    io: 'batch',
    peers,
    workers: 2,
  };
}

/** flows runs FLOWS concurrent 1 MB TCP transfers from `client` to `addr` in `server`. */
function flows(
  server: Netns,
  client: Netns,
  addr: string,
  bind: string,
  basePort: number,
): Promise<TransferResult[]> {
  return Promise.all(
    Array.from({ length: FLOWS }, (_, i) =>
      tcpTransfer(server, client, { addr, bind, port: basePort + i, bytes: 1 << 20 }),
    ),
  );
}

function assertExact(rs: TransferResult[]): void {
  rs.forEach((r, i) => {
    assert.equal(r.bytesReceived, r.bytesSent, `flow ${i}: bytes`);
    assert.equal(r.sha256Received, r.sha256Sent, `flow ${i}: SHA-256`);
  });
}

function queue(s: DataplaneStats, q: number): NonNullable<DataplaneStats['queues']>[number] {
  const e = s.queues?.find((x) => x.queue === q);
  assert.ok(e, `queue ${q} in ${JSON.stringify(s.queues)}`);
  return e;
}

describe('--workers 2', () => {
  test('weft <-> weft: 16 flows byte-exact, both queues used, queue k feeds queue k', async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const u = createUnderlay(c);
    const a = await startChild(
      u.a,
      nodeConfig(u.aIp, '10.244.0.1/32', MAC_A, [
        { subnet: '10.244.1.0/24', publicIp: u.bIp, vtepMac: MAC_B },
      ]),
    );
    const b = await startChild(
      u.b,
      nodeConfig(u.bIp, '10.244.1.1/32', MAC_B, [
        { subnet: '10.244.0.0/24', publicIp: u.aIp, vtepMac: MAC_A },
      ]),
    );
    const n = u.a.ip('-d', 'link', 'show').match(/numqueues (\d+)/);
    assert.equal(n?.[1], '2', 'the TUN has two queues');
    assertExact(await flows(u.b, u.a, '10.244.1.1', '10.244.0.1', 5100));
    const [sa, sb] = await settledStats(a, b);
    for (const s of [sa, sb]) {
      assert.deepEqual(s.workers, { count: 2, alive: 2, exits: 0 });
      assert.ok(s.offload?.enabled && s.offload.gso && s.offload.gro, JSON.stringify(s.offload));
      assert.deepEqual(unexpectedDrops(s.drops), {}, 'no drops');
    }
    for (const q of [0, 1]) {
      assert.ok(
        queue(sa, q).egressPackets > 0,
        `sender queue ${q} carried flows: ${JSON.stringify(sa.queues)}`,
      );
      assert.equal(queue(sb, q).ingressPackets, queue(sa, q).egressPackets, `A queue ${q} -> B queue ${q}`);
      assert.equal(queue(sa, q).ingressPackets, queue(sb, q).egressPackets, `B queue ${q} -> A queue ${q}`);
    }
    assert.equal(
      sa.egress.packets,
      queue(sa, 0).egressPackets + queue(sa, 1).egressPackets,
      'the totals are the sum of the queues',
    );
  });

  test('flannel-UDP (port 8285: queue 0 sends from its own port), 16 flows byte-exact, queue k feeds queue k', async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const u = createUnderlay(c);
    const a = await startChild(
      u.a,
      nodeConfig(
        u.aIp,
        '10.244.0.1/32',
        MAC_A,
        [{ subnet: '10.244.1.0/24', publicIp: u.bIp, vtepMac: MAC_B }],
        'udp',
      ),
    );
    const b = await startChild(
      u.b,
      nodeConfig(
        u.bIp,
        '10.244.1.1/32',
        MAC_B,
        [{ subnet: '10.244.0.0/24', publicIp: u.aIp, vtepMac: MAC_A }],
        'udp',
      ),
    );
    // 8285 is odd: queue 1 sends from the bound port, queue 0 from an even ephemeral one.
    const ports = u.a.exec('ss', ['-Hunap']).match(/192\.0\.2\.1:(\d+)/g) ?? [];
    assert.ok(
      ports.some((p) => p.endsWith(':8285')),
      ports.join(' '),
    );
    assert.ok(
      ports.some((p) => !p.endsWith(':8285') && Number(p.split(':')[1]) % 2 === 0),
      ports.join(' '),
    );
    assertExact(await flows(u.b, u.a, '10.244.1.1', '10.244.0.1', 5500));
    const [sa, sb] = await settledStats(a, b);
    assert.deepEqual(unexpectedDrops(sa.drops), {});
    assert.deepEqual(unexpectedDrops(sb.drops), {});
    for (const q of [0, 1]) {
      assert.ok(queue(sa, q).egressPackets > 0, `queue ${q} carried flows: ${JSON.stringify(sa.queues)}`);
      assert.equal(queue(sb, q).ingressPackets, queue(sa, q).egressPackets, `A queue ${q} -> B queue ${q}`);
    }
  });

  test('--src-port flow with 2 workers: worker k sends from its own pool of ports p mod 2 = k, 16 flows byte-exact, queue k feeds queue k', async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const u = createUnderlay(c);
    const flow = { srcPort: 'flow' as const };
    const a = await startChild(u.a, {
      ...nodeConfig(u.aIp, '10.244.0.1/32', MAC_A, [
        { subnet: '10.244.1.0/24', publicIp: u.bIp, vtepMac: MAC_B },
      ]),
      ...flow,
    });
    const b = await startChild(u.b, {
      ...nodeConfig(u.bIp, '10.244.1.1/32', MAC_B, [
        { subnet: '10.244.0.0/24', publicIp: u.aIp, vtepMac: MAC_A },
      ]),
      ...flow,
    });
    assertExact(await flows(u.b, u.a, '10.244.1.1', '10.244.0.1', 5600));
    const [sa, sb] = await settledStats(a, b);
    assert.equal(sa.srcPort?.mode, 'flow');
    assert.equal(sa.srcPort?.raw, undefined, 'no raw socket with --io batch');
    const ports = sa.srcPort?.ports ?? [];
    assert.equal(ports.length, 32, `16 ports per worker: ${ports}`);
    // Queue 0's pool comes first in the stats, then queue 1's: residues 0 and 1.
    ports.forEach((p, i) => assert.equal(p % 2, i < 16 ? 0 : 1, `port ${p} of queue ${i < 16 ? 0 : 1}`));
    assert.ok((sa.offload?.gsoTrains ?? 0) > 0, `GSO kept: ${JSON.stringify(sa.offload)}`);
    assert.deepEqual(unexpectedDrops(sa.drops), {});
    for (const q of [0, 1]) {
      assert.ok(queue(sa, q).egressPackets > 0, `sender queue ${q}: ${JSON.stringify(sa.queues)}`);
      assert.equal(queue(sb, q).ingressPackets, queue(sa, q).egressPackets, `A queue ${q} -> B queue ${q}`);
    }
  });

  /**
   * peersAtRunTime adds peer B to node A at run time and then removes it, A holding `others` as
   * well: with no others every change rebuilds the table; with many, a change reaches the workers
   * as a difference (`peerDiff`).
   */
  async function peersAtRunTime(t: TestContext, others: PeerJson[]): Promise<void> {
    requireRoot();
    const c = cleanupFor(t);
    const u = createUnderlay(c);
    const cfgA = nodeConfig(u.aIp, '10.244.0.1/32', MAC_A, others);
    const a = await startChild(u.a, cfgA);
    await startChild(
      u.b,
      nodeConfig(u.bIp, '10.244.1.1/32', MAC_B, [
        { subnet: '10.244.0.0/24', publicIp: u.aIp, vtepMac: MAC_A },
      ]),
    );
    const peerB: PeerJson = { subnet: '10.244.1.0/24', publicIp: u.bIp, vtepMac: MAC_B };
    await command(a, `peers ${JSON.stringify([...others, peerB])}`, /^peers ok$/);
    assertExact(await flows(u.b, u.a, '10.244.1.1', '10.244.0.1', 5200));
    const [s1] = await settledStats(a);
    for (const q of [0, 1])
      assert.ok(queue(s1, q).egressPackets > 0, `queue ${q} routed: ${JSON.stringify(s1.queues)}`);
    assert.equal(s1.egressDrops.no_route ?? 0, 0, 'no queue lacked the new route');

    await command(a, `peers ${JSON.stringify(others)}`, /^peers ok$/);
    // updatePeers also removed the kernel route; put one back so that packets still reach weft,
    // where every queue must now find no route.
    u.a.ip('route', 'add', '10.244.1.0/24', 'dev', cfgA.dev);
    await Promise.all(
      Array.from(
        { length: FLOWS },
        (_, i) =>
          u.a.spawn(`socat-probe ${i}`, 'socat', [
            '-u',
            '/dev/null',
            `TCP:10.244.1.1:${5250 + i},bind=10.244.0.1,connect-timeout=1`,
          ]).exited,
      ),
    );
    const s2 = await childStats(a);
    for (const q of [0, 1]) {
      assert.ok(queue(s2, q).egressDrops > 0, `queue ${q} refused: ${JSON.stringify(s2.queues)}`);
    }
    assert.ok(
      (s2.egressDrops.no_route ?? 0) >= FLOWS,
      `dropped as no_route: ${JSON.stringify(s2.egressDrops)}`,
    );
    assert.equal(s2.egress.packets, s1.egress.packets, 'nothing was sent to the removed peer');
  }

  test('peers added and removed at run time reach the worker threads', (t) => peersAtRunTime(t, []));

  test('a small change to a large peer set reaches the worker threads as a difference', (t) =>
    peersAtRunTime(
      t,
      Array.from({ length: 30 }, (_, i) => ({
        subnet: `10.244.${100 + i}.0/24`,
        publicIp: `198.51.100.${10 + i}`,
        vtepMac: `0e:00:00:00:01:${(10 + i).toString(16).padStart(2, '0')}`,
      })),
    ));

  test('peers changed while the workers are still starting reach them too', async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const u = createUnderlay(c);
    const peerB: PeerJson = { subnet: '10.244.1.0/24', publicIp: u.bIp, vtepMac: MAC_B };
    // 16 queues start one after another; the peer arrives while they do.
    const a = await startChild(u.a, {
      ...nodeConfig(u.aIp, '10.244.0.1/32', MAC_A, []),
      workers: 16,
      racePeers: [peerB],
      racePeersAfterMs: 300,
    });
    await startChild(
      u.b,
      nodeConfig(u.bIp, '10.244.1.1/32', MAC_B, [
        { subnet: '10.244.0.0/24', publicIp: u.aIp, vtepMac: MAC_A },
      ]),
    );
    assertExact(await flows(u.b, u.a, '10.244.1.1', '10.244.0.1', 5700));
    const s = await childStats(a);
    assert.equal(s.workers?.count, 16);
    assert.equal(s.egressDrops.no_route ?? 0, 0, `every queue had the route: ${JSON.stringify(s.queues)}`);
    assert.ok(
      (s.queues ?? []).filter((q) => q.queue > 0 && q.egressPackets > 0).length > 0,
      'worker queues carried flows',
    );
  });

  test('weft (2 workers) <-> kernel VXLAN: 16 flows each way byte-exact, kernel flows spread over both queues', async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const kv = setupKernelVsWeft(c);
    const w = await startWeftVsKernel(kv, 'wkk', ['--workers', '2']);
    assertExact(await flows(kv.u.b, kv.u.a, '10.244.1.1', kv.k.podIp, 5300));
    assertExact(await flows(kv.u.a, kv.u.b, kv.k.podIp, '10.244.1.1', 5400));
    const s = await readWeftStats(w.proc);
    assert.equal(s.workers?.count, 2);
    for (const q of [0, 1]) {
      assert.ok(
        queue(s, q).ingressPackets > 0,
        `queue ${q} received kernel flows: ${JSON.stringify(s.queues)}`,
      );
    }
    assert.deepEqual(unexpectedDrops(s.drops), {}, 'no drops');
  });
});
