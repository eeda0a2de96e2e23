/**
 * Counters of a real DataplaneQueue to the scrape (`weft_egress_regrouped_batches_total`,
 * `weft_cpu_yields_total`): the queue runs
 * its offload egress on an in-memory TUN (virtio-net header reads, like the kernel's) and a real
 * UDP socket on loopback (no root needed), its snapshot goes through nodeStats like `weft run`'s,
 * and the registry reads it when scraped. A batch with two peers interleaved packet by packet is
 * regrouped (one train per peer); a batch of one peer is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataplaneQueue } from '../../src/dataplane/queue';
import { nodeStats } from '../../src/dataplane/node-stats';
import { newAnomalyCounters, newDropCounters } from '../../src/encap';
import { BatchUdpSocket } from '../../src/io/batch-udp-socket';
import type { Tun } from '../../src/io/tun';
import { createMetricsRegistry, newDaemonCounters } from '../../src/metrics/metrics';
import { macToBuffer } from '../../src/net/addr';
import { ChannelTun, FakeVnetTun, ipv4, peerSpec, routerFor, udp } from '../../src/testing';
import { YieldBudget } from '../../src/dataplane/yield-budget';

/** dgram is a 92-byte inner UDP packet from a local pod to `dst`. */
function dgram(dst: string, seq: number): Buffer {
  const payload = Buffer.alloc(64);
  payload.writeUInt32BE(seq, 0);
  return ipv4('10.244.0.5', dst, 17, udp(4000, 5001, payload));
}

const REGROUPED = /^weft_egress_regrouped_batches_total (\d+)$/m;

/** queueWithRegistry is an offload DataplaneQueue on an in-memory TUN, scraped through nodeStats. */
function queueWithRegistry(t: { after(fn: () => void): void }) {
  const sock = BatchUdpSocket.bindSync({ address: '127.0.0.1', port: 0 });
  t.after(() => sock.close());
  const router = routerFor([peerSpec('10.244.1.0/24', '127.0.0.2'), peerSpec('10.244.2.0/24', '127.0.0.3')]);
  const tun = new FakeVnetTun();
  const queue = new DataplaneQueue(
    0,
    {
      backend: 'vxlan',
      vni: 1,
      vtepMac: macToBuffer('0e:00:00:00:00:01'),
      port: 8472,
      pathMtu: 1450,
      mtu: 1450,
      underlayMtu: 1500,
      outer: null,
      batchSize: 64,
      flowCounters: false,
    },
    { tun: new ChannelTun('fake0'), offloadTun: tun as unknown as Tun, recv: sock, send: sock, raw: null },
    router,
  );
  assert.ok(queue.offEgress, 'the queue runs the offload egress');
  const reg = createMetricsRegistry(
    {
      dataplane: () => ({
        stats: () =>
          nodeStats({
            parts: [queue.snapshot()],
            running: true,
            startedAt: Date.now(),
            routes: { peers: 2, swaps: 0 },
            offloadRefused: null,
            srcPort: { mode: 'fixed', port: sock.port, min: sock.port, max: sock.port },
            workers: { count: 1, alive: 1, exits: 0 },
            underlayMtu: 1500,
            pathMtu: 1450,
          }),
        egressDrops: queue.counters.egressDrops,
        ingressDrops: queue.counters.ingressDrops,
        anomalies: newAnomalyCounters(),
      }),
      counters: newDaemonCounters(),
      ready: () => true,
      lease: () => null,
    },
    { defaults: false },
  );
  return { queue, tun, reg };
}

test('metrics: weft_egress_regrouped_batches_total counts the batches the offload egress regrouped', async (t) => {
  const { queue, tun, reg } = queueWithRegistry(t);
  assert.ok(queue.offEgress);
  const scrape = async (): Promise<number> => {
    const m = REGROUPED.exec(await reg.metrics());
    assert.ok(m, 'weft_egress_regrouped_batches_total is exported');
    return Number(m[1]);
  };
  assert.match(await reg.metrics(), /^# TYPE weft_egress_regrouped_batches_total counter$/m);
  assert.equal(await scrape(), 0);

  // One TUN read batch: two peers interleaved packet by packet -> regrouped into two trains.
  for (let k = 0; k < 20; k++) tun.queue.push(dgram(k % 2 === 0 ? '10.244.1.7' : '10.244.2.9', k));
  queue.offEgress.drain();
  assert.equal(tun.queue.length, 0, 'everything read');
  assert.equal(queue.egress.packets, 20, 'every packet forwarded');
  assert.equal(await scrape(), 1);

  // One peer only: already grouped, nothing moves, the counter stays.
  for (let k = 0; k < 20; k++) tun.queue.push(dgram('10.244.1.7', k));
  queue.offEgress.drain();
  assert.equal(queue.egress.packets, 40);
  assert.equal(await scrape(), 1);
  assert.deepEqual(newDropCounters(), queue.counters.egressDrops, 'no egress drops');
});

test('metrics: weft_cpu_yields_total counts the egress loop giving up its CPU after its packet budget', async (t) => {
  const { queue, tun, reg } = queueWithRegistry(t);
  assert.ok(queue.offEgress);
  let yielded = 0;
  queue.offEgress.cpuYield = new YieldBudget(() => yielded++, 8);
  const scrape = async (direction: string): Promise<number> => {
    const m = new RegExp(`^weft_cpu_yields_total\\{direction="${direction}"\\} (\\d+)$`, 'm').exec(
      await reg.metrics(),
    );
    assert.ok(m, `weft_cpu_yields_total{direction="${direction}"} is exported`);
    return Number(m[1]);
  };
  assert.match(await reg.metrics(), /^# TYPE weft_cpu_yields_total counter$/m);
  assert.equal(await scrape('egress'), 0);
  // Two read batches of 6 packets: the budget of 8 runs out once, in the second.
  for (const base of [0, 6]) {
    for (let k = 0; k < 6; k++) tun.queue.push(dgram('10.244.1.7', base + k));
    queue.offEgress.drain();
  }
  assert.equal(queue.egress.packets, 12, 'every packet forwarded');
  assert.equal(yielded, 1, 'the loop yielded once');
  assert.equal(await scrape('egress'), 1);
  assert.equal(await scrape('ingress'), 0, 'nothing received, no ingress yield');
});
