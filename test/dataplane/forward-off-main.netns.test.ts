/**
 * `forwardOffMain` (what `weft run` uses; needs root, CI runs as root): no queue forwards on the
 * main thread, so a main thread busy with the control plane (a burst of lease changes, a GC pause)
 * does not stall a packet. A weft node in one namespace, flannel's kernel VXLAN in the other; the
 * node's main thread is blocked for 1.5 s (a busy loop, on SIGUSR2) while the kernel side pings
 * through it every 50 ms. With queue 0 on the main thread (the control case) the pings queue up
 * behind the block; off it, they are answered as usual. Counters still reach `stats()`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  addKernelFlannelPeer,
  cleanupFor,
  requireRoot,
  setupKernelVsWeft,
  sleep,
  uniqueName,
} from '../helpers/netns';
import type { DataplaneStats } from '../../src/dataplane/node';

const NODE_JS = join(__dirname, '..', '..', 'src', 'dataplane', 'node.js');
const BLOCK_MS = 1500;

/** childScript runs a DataplaneNode; SIGUSR2 blocks its main thread, SIGUSR1 prints its stats. */
function childScript(o: {
  dev: string;
  local: string;
  peerIp: string;
  peerMac: string;
  offMain: boolean;
}): string {
  return `
    const { DataplaneNode } = require(${JSON.stringify(NODE_JS)});
    (async () => {
      const mac = (s) => Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
      const node = new DataplaneNode({
        backend: 'vxlan', dev: ${JSON.stringify(o.dev)}, local: ${JSON.stringify(o.local)},
        address: '10.244.1.0/32', vni: 1, port: 8472, vtepMac: Buffer.from([14, 0, 0, 0, 20, 1]),
        io: 'batch', forwardOffMain: ${o.offMain},
        peers: [{ subnet: '10.244.0.0/24', publicIp: ${JSON.stringify(o.peerIp)}, publicIpU32: ${o.peerIp.split('.').reduce((a, b) => a * 256 + Number(b), 0)},
                  vtepMac: mac(${JSON.stringify(o.peerMac)}), backend: 'vxlan' }],
      });
      await node.start();
      process.on('SIGUSR2', () => {
        const end = Date.now() + ${BLOCK_MS};
        while (Date.now() < end);
        console.log('unblocked');
      });
      process.on('SIGUSR1', async () => {
        await node.refreshStats();
        console.log('stats ' + JSON.stringify({ offMain: node.forwardsOffMain, stats: node.stats() }));
      });
      process.once('SIGTERM', () => void node.stop().then(() => process.exit(0)));
      setInterval(() => undefined, 1 << 30);
      console.log('ready');
    })().catch((e) => { console.error(e); process.exit(1); });`;
}

/** rtts parses the per-reply times of ping's output, in ms. */
function rtts(out: string): number[] {
  return [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

async function blockedPings(offMain: boolean, t: Parameters<typeof cleanupFor>[0]) {
  const c = cleanupFor(t);
  const { u, k } = setupKernelVsWeft(c);
  const node = u.b.spawn('weft node', process.execPath, [
    '-e',
    childScript({ dev: uniqueName('wfm'), local: u.bIp, peerIp: u.aIp, peerMac: k.mac, offMain }),
  ]);
  await node.waitForLine(/^ready$/, 20_000);
  addKernelFlannelPeer(u.a, k, { subnet: '10.244.1.0/24', mac: '0e:00:00:00:14:01', publicIp: u.bIp });
  // Warm up (ARP is not involved: flannel's neighbour entry is permanent).
  const pinger = u.a.spawn('ping', 'ping', [
    '-n',
    '-i',
    '0.05',
    '-c',
    '60',
    '-W',
    '3',
    '-I',
    k.podIp,
    '10.244.1.1',
  ]);
  await sleep(700);
  node.signal('SIGUSR2');
  await node.waitForLine(/^unblocked$/, 10_000);
  await pinger.waitForLine(/packets transmitted/, 20_000);
  node.signal('SIGUSR1');
  const line = await node.waitForLine(/^stats /, 10_000);
  const r = JSON.parse(line.slice(6)) as { offMain: boolean; stats: DataplaneStats };
  await node.stop();
  return { times: rtts(pinger.lines.join('\n')), ...r };
}

test('forwardOffMain: a blocked main thread does not stall forwarding; counters still add up', async (t) => {
  requireRoot();
  const r = await blockedPings(true, t);
  assert.equal(r.offMain, true);
  assert.ok(r.times.length >= 50, `most of 60 pings answered (${r.times.length})`);
  const worst = Math.max(...r.times);
  t.diagnostic(`worst ping ${worst} ms while the main thread was blocked ${BLOCK_MS} ms`);
  assert.ok(worst < BLOCK_MS / 3, `no ping waited for the main thread (worst ${worst} ms)`);
  assert.deepEqual(
    r.stats.queues?.map((q) => q.queue),
    [0],
  );
  assert.equal(r.stats.workers?.alive, 1, 'queue 0 forwards on its worker');
  assert.ok(r.stats.egress.packets >= r.times.length, `egress counted (${r.stats.egress.packets})`);
  assert.ok(r.stats.ingress.packets >= r.times.length, `ingress counted (${r.stats.ingress.packets})`);
  assert.ok(Object.keys(r.stats.tun).length > 0 && Object.keys(r.stats.udp).length > 0, 'I/O counters');
});

test('control: with queue 0 on the main thread the same block stalls the pings', async (t) => {
  requireRoot();
  const r = await blockedPings(false, t);
  assert.equal(r.offMain, false);
  const worst = Math.max(...r.times);
  t.diagnostic(`worst ping ${worst} ms while the main thread was blocked ${BLOCK_MS} ms`);
  assert.ok(worst >= BLOCK_MS / 2, `a ping waited for the blocked main thread (worst ${worst} ms)`);
});
