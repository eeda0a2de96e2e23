/**
 * The dataplane allocates nothing per packet: a million packets through each plain direction
 * (PlainEgress.drain, PlainIngress.drain) over the non-allocating replay devices, between two forced GCs,
 * grow the heap by less than a byte per packet and trigger no garbage collection. A control step
 * that allocates one small object per packet is caught by the same measurement, so the check can
 * fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gcCounter, getGc, measureHeap } from '../../bench/harness';
import { buildPipelines, type Pipeline } from '../../bench/pipeline';
import { BATCH } from '../../bench/packets';

const CALLS = 4000; // x BATCH (256) = ~1M packets

async function bytesPerPacket(step: () => void): Promise<{ perPacket: number; gcs: number }> {
  const gcs = gcCounter();
  try {
    const m = await measureHeap(step, 500, CALLS, getGc(), gcs.count);
    return { perPacket: m.bytes / (CALLS * BATCH), gcs: m.gcs };
  } finally {
    gcs.stop();
  }
}

async function assertNoAlloc(p: Pipeline): Promise<void> {
  const before = p.delivered();
  const r = await bytesPerPacket(p.step);
  p.check();
  assert.equal(p.delivered() - before, (500 + CALLS) * BATCH, `${p.name}: every packet delivered`);
  assert.equal(r.gcs, 0, `${p.name}: ${r.gcs} GCs during ${CALLS * BATCH} packets`);
  assert.ok(r.perPacket < 1, `${p.name}: ${r.perPacket.toFixed(3)} B/packet`);
}

const pipelines = buildPipelines();

test('PlainEgress.drain allocates nothing per packet (replay TUN, 10k routes, VXLAN)', async () => {
  await assertNoAlloc(pipelines.egress);
});

test('PlainIngress.drain allocates nothing per packet (replay socket, VXLAN decap, TUN write)', async () => {
  await assertNoAlloc(pipelines.ingress);
});

test('control: one small object per packet is caught by the same measurement', async () => {
  const keep: { i: number }[] = new Array<{ i: number }>(BATCH);
  const r = await bytesPerPacket(() => {
    pipelines.egress.step();
    for (let i = 0; i < BATCH; i++) keep[i] = { i };
  });
  assert.ok(
    r.gcs > 0 || r.perPacket >= 8,
    `an allocating step went unseen: ${r.perPacket} B/packet, ${r.gcs} GCs`,
  );
});
