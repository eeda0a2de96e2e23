/**
 * DataplaneNode.stop with `--workers 2` (needs root; CI runs as root): while the workers are being
 * asked for their last counters and stopped, `stats()` (served to /metrics during shutdown) must
 * still include their queues, so that counters summed over the queues never go backwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cleanupFor, createUnderlay, requireRoot, uniqueName } from '../helpers/netns';

const NODE_JS = join(__dirname, '..', '..', 'src', 'dataplane', 'node.js');

test("stats() and the drop counters keep the workers' queues while stop() is in progress", async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const dev = uniqueName('wks');
  const script = `
    const { DataplaneNode } = require(${JSON.stringify(NODE_JS)});
    (async () => {
      const node = new DataplaneNode({
        backend: 'vxlan', dev: ${JSON.stringify(dev)}, local: ${JSON.stringify(u.aIp)},
        address: '10.244.0.1/32', vni: 1, port: 8472, vtepMac: Buffer.from([14, 0, 0, 0, 10, 1]),
        io: 'batch', workers: 2,
        peers: [{ subnet: '10.244.1.0/24', publicIp: ${JSON.stringify(u.bIp)}, publicIpU32: 0xc0000202,
                  vtepMac: Buffer.from([14, 0, 0, 0, 11, 2]), backend: 'vxlan' }],
      });
      await node.start();
      // A datagram that is not VXLAN, from an odd source port: the reuseport program hands it to
      // queue 1 (the worker), which drops it.
      const s = require('node:dgram').createSocket('udp4');
      await new Promise((r) => s.bind(40001, ${JSON.stringify(u.aIp)}, r));
      await new Promise((r) => s.send(Buffer.alloc(8), 8472, ${JSON.stringify(u.aIp)}, r));
      s.close();
      await new Promise((r) => setTimeout(r, 200));
      await node.refreshStats();
      const sum = (a) => a.reduce((x, y) => x + y, 0);
      const look = () => ({ queues: node.stats().queues.map((q) => q.queue), drops: sum(node.ingressDrops) });
      const before = look();
      const stopping = node.stop();
      const during = look();
      await stopping;
      console.log('result ' + JSON.stringify({ before, during, after: look() }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const p = u.a.spawn('workers-stop child', process.execPath, ['-e', script]);
  const line = await p.waitForLine(/^result /, 20_000);
  type Look = { queues: number[]; drops: number };
  const r = JSON.parse(line.slice(7)) as { before: Look; during: Look; after: Look };
  assert.deepEqual(r.before, { queues: [0, 1], drops: 1 }, 'both queues before stop; the worker dropped one');
  assert.deepEqual(r.during, r.before, 'worker queue still counted while stopping');
  assert.deepEqual(r.after, r.before, 'worker queue kept after stop');
});
