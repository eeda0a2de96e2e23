/**
 * The offload egress allocates nothing per super-packet on its VXLAN scatter-gather path, stages
 * 2-5 included: TSO headers, one route decision per super-packet with the VXLAN header copied to
 * the other segments (stage 5r), train grouping and forming, the send. The reads are the kernel's
 * own IPv4 and IPv6 super-packets (test/fixtures/offload, sequence numbers above 2^31) and their
 * plain ACK-sized packets, copied into the read slots each step as the kernel's read() does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gcCounter, getGc, measureHeap } from '../../bench/harness';
import { EgressStages } from '../../src/dataplane/egress';
import { OffloadEgress } from '../../src/dataplane/egress-offload';
import { makeVxlanConfig, newDropCounters, sumCounters } from '../../src/encap';
import type { PacketBatch } from '../../src/io/packet-batch';
import { macToBuffer } from '../../src/net/addr';
import { isGso } from '../../src/offload/tso';
import { CountingSink } from '../../src/testing/egress-rig';
import { peerSpec, routerFor } from '../../src/testing/routes';

const CALLS = 20_000;

/** fixtureReads: the fixture's largest IPv4 and IPv6 super-packet, and two plain packets. */
function fixtureReads(): Buffer[] {
  const b = readFileSync(
    join(__dirname, '..', '..', '..', 'test', 'fixtures', 'offload', 'kernel-vnet-tcp.bin'),
  );
  let v4 = Buffer.alloc(0);
  let v6 = Buffer.alloc(0);
  const plain: Buffer[] = [];
  for (let o = 0; o < b.length;) {
    const len = b.readUInt32LE(o);
    const r = b.subarray(o + 4, o + 4 + len);
    o += 4 + len;
    if (!isGso(r, 0)) {
      // Plain TCP (IPv4 to the receiver) only: the fixture's MLD packets have no route.
      if (plain.length < 2 && r[10]! >> 4 === 4 && r[10 + 16] === 10 && r[10 + 19] === 2)
        plain.push(Buffer.from(r));
      continue;
    }
    if (r[10]! >> 4 === 4 && r.length > v4.length) v4 = Buffer.from(r);
    if (r[10]! >> 4 === 6 && r.length > v6.length) v6 = Buffer.from(r);
  }
  return [plain[0]!, v4, plain[1]!, v6];
}

/** CopyVnetTun copies its reads into the read slots on every armed read, as read() does. */
class CopyVnetTun {
  private armed = false;
  constructor(private readonly reads: Buffer[]) {}
  onReadable(): void {}
  arm(): void {
    this.armed = true;
  }
  readBatch(batch: PacketBatch): number {
    if (!this.armed) return (batch.count = 0);
    this.armed = false;
    for (let k = 0; k < this.reads.length; k++) {
      const p = this.reads[k]!;
      const at = batch.dataOffset(k);
      p.copy(batch.buffer, at);
      batch.offsets[k] = at;
      batch.lengths[k] = p.length;
    }
    return (batch.count = this.reads.length);
  }
}

test('OffloadEgress (VXLAN scatter-gather, one decision per super-packet) allocates nothing per super-packet', async () => {
  const reads = fixtureReads();
  assert.equal(reads.length, 4);
  const router = routerFor([peerSpec('10.250.0.0/24', '192.0.2.2'), peerSpec('fd00:77::/64', '192.0.2.2')]);
  const drops = newDropCounters();
  const stages = new EgressStages(
    { writeBatch: () => 0 },
    router,
    {
      backend: 'vxlan',
      vxlan: makeVxlanConfig({ localMac: macToBuffer('0e:00:00:00:00:01') }),
      port: 8472,
      pathMtu: 1450,
    },
    drops,
  );
  const tun = new CopyVnetTun(reads);
  const sink = new CountingSink();
  const egress = new OffloadEgress(tun, sink, stages, { prefix: 22, pathMtu: 1450 });
  const step = (): void => {
    tun.arm();
    egress.drain();
  };
  step();
  const perStep = sink.datagrams;
  assert.ok(perStep > 20, `${perStep} datagrams per step`);
  assert.equal(egress.stats.superPackets, 2);
  assert.equal(sumCounters(drops), 0, `drops ${drops.join(',')}`);
  const hits = router.hits;
  const gcs = gcCounter();
  try {
    const m = await measureHeap(step, 2000, CALLS, getGc(), gcs.count);
    const perSuper = m.bytes / (CALLS * 2);
    assert.equal(sink.datagrams, perStep * (1 + m.steps), 'every step sent everything');
    assert.equal(m.gcs, 0, `${m.gcs} GCs during ${CALLS * 2} super-packets`);
    assert.ok(perSuper < 1, `${perSuper.toFixed(3)} B/super-packet`);
  } finally {
    gcs.stop();
  }
  // The IPv4 segments after the first of each super-packet counted as the cache hits they were.
  assert.ok(router.hits > hits, 'route lookups counted');
});
