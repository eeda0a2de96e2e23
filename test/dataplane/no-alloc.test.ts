/**
 * The dataplane allocates nothing per packet: a million packets through each plain direction
 * (PlainEgress.drain, PlainIngress.drain) over the non-allocating replay devices, between two
 * forced GCs, grow the heap by less than a byte per packet and trigger no garbage collection. The
 * same holds per super-packet for TSO (the offload egress's segmentation stage, scatter-gather and
 * copying) and for the gathered TCP coalescer (the offload ingress's merge stage), on the kernel's
 * own super-packets, whose sequence numbers are above 2^31. Control steps that allocate one small
 * object per packet, or per super-packet, are caught by the same measurements, so the checks can
 * fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isGso, TcpCoalescer, TsoSegmenter } from '../../src/offload';
import {
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_SIZE,
} from '../../src/wire/virtio-net-hdr';
import { gcCounter, getGc, measureHeap } from '../../bench/harness';
import { buildPipelines, type Pipeline } from '../../bench/pipeline';
import { BATCH } from '../../bench/packets';

const CALLS = 4000; // x BATCH (256) = ~1M packets

async function bytesPerPacket(step: () => void): Promise<{ perPacket: number; gcs: number; steps: number }> {
  const gcs = gcCounter();
  try {
    const m = await measureHeap(step, 500, CALLS, getGc(), gcs.count);
    return { perPacket: m.bytes / (CALLS * BATCH), gcs: m.gcs, steps: m.steps };
  } finally {
    gcs.stop();
  }
}

async function assertNoAlloc(p: Pipeline): Promise<void> {
  const before = p.delivered();
  const r = await bytesPerPacket(p.step);
  p.check();
  assert.equal(p.delivered() - before, r.steps * BATCH, `${p.name}: every packet delivered`);
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

// TSO: one step cuts the largest IPv4 and the largest IPv6 kernel super-packet of the fixture,
// headers only (VXLAN egress) and copied (flannel-UDP egress), every other time with RCO's
// partial checksums. Coalescing: one step merges their segments back.
const TSO_WARMUP = 10_000;
const TSO_CALLS = 60_000; // x 4 super-packets: ~3 MB of heap if each allocated a 12-byte number

function kernelSuperPackets(): Buffer[] {
  const b = readFileSync(
    join(__dirname, '..', '..', '..', 'test', 'fixtures', 'offload', 'kernel-vnet-tcp.bin'),
  );
  let v4 = Buffer.alloc(0);
  let v6 = Buffer.alloc(0);
  for (let o = 0; o < b.length;) {
    const len = b.readUInt32LE(o);
    const r = b.subarray(o + 4, o + 4 + len);
    o += 4 + len;
    if (!isGso(r, 0)) continue;
    if (r[1] === VIRTIO_NET_HDR_GSO_TCPV4 && r.length > v4.length) v4 = Buffer.from(r);
    if (r[1] === VIRTIO_NET_HDR_GSO_TCPV6 && r.length > v6.length) v6 = Buffer.from(r);
  }
  return [v4, v6];
}

function tsoStep(): { step: () => void; superPackets: () => number; segments: () => number } {
  const pkts = kernelSuperPackets();
  for (const p of pkts) assert.ok(p.length > 10_000, 'a large kernel super-packet');
  const seg = new TsoSegmenter();
  const hdrs = Buffer.alloc(256 * 64);
  const dst = Buffer.alloc(200_000);
  let supers = 0;
  let segs = 0;
  const step = (): void => {
    for (const p of pkts) {
      const len = p.length - VIRTIO_NET_HDR_SIZE;
      const a = seg.segmentHeaders(p, 0, VIRTIO_NET_HDR_SIZE, len, hdrs, 0, 256, hdrs.length, 22);
      seg.partialChecksums = (supers & 2) !== 0;
      const b = seg.segment(p, 0, VIRTIO_NET_HDR_SIZE, len, dst, 0, dst.length, 0);
      seg.partialChecksums = false;
      if (a < 2 || b < 2) throw new Error(`TSO refused a kernel super-packet: ${a}, ${b}`);
      supers += 2;
      segs += a + b;
    }
  };
  return { step, superPackets: () => supers, segments: () => segs };
}

/**
 * perSuperPacket measures `step` over measureHeap's windows, which keep the cleanest one: a
 * one-off (code the compiler installs late on a busy machine, some 100-200 KB) lands in one window
 * only, an allocation per super-packet in all.
 */
async function perSuperPacket(step: () => void, perStep: number) {
  const gcs = gcCounter();
  try {
    const m = await measureHeap(step, TSO_WARMUP, TSO_CALLS, getGc(), gcs.count);
    return { perSuper: m.bytes / (TSO_CALLS * perStep), gcs: m.gcs, steps: m.steps };
  } finally {
    gcs.stop();
  }
}

test('TSO segmentation allocates nothing per super-packet (IPv4 and IPv6, scatter-gather and copying, seq > 2^31)', async (ctx) => {
  const t = tsoStep();
  const r = await perSuperPacket(t.step, 4);
  ctx.diagnostic(`${r.perSuper.toFixed(3)} B/super-packet, ${r.gcs} GCs`);
  assert.equal(t.superPackets(), r.steps * 4, 'every super-packet segmented');
  assert.ok(t.segments() >= t.superPackets() * 10, `${t.segments()} segments`);
  assert.equal(r.gcs, 0, `${r.gcs} GCs during ${TSO_CALLS * 4} super-packets`);
  assert.ok(r.perSuper < 1, `${r.perSuper.toFixed(3)} B/super-packet`);
});

/** coalesceStep: the kernel's IPv4 and IPv6 super-packets, cut by TSO, merged back each step. */
function coalesceStep(): { step: () => void; outputs: () => number } {
  const buf = Buffer.alloc(400_000);
  const seg = new TsoSegmenter();
  const offs: number[] = [];
  const lens: number[] = [];
  let at = 64;
  for (const p of kernelSuperPackets()) {
    const n = seg.segment(p, 0, VIRTIO_NET_HDR_SIZE, p.length - VIRTIO_NET_HDR_SIZE, buf, at, buf.length, 22);
    assert.ok(n > 2);
    for (let i = 0; i < n; i++) {
      offs.push(at + i * seg.stride + 22);
      lens.push(i < n - 1 ? seg.stride - 22 : seg.lastLen);
    }
    at += n * seg.stride + 64;
  }
  // finish rewrites each first segment's headers: the step puts the received bytes back first.
  const received = Uint8Array.from(buf.subarray(0, at));
  const inOff = Uint32Array.from(offs);
  const inLen = Uint32Array.from(lens);
  const co = new TcpCoalescer(128, 1450);
  const dOff = new Uint32Array(128);
  const dLen = new Uint32Array(128);
  const trains = new Uint16Array(128);
  let outputs = 0;
  const step = (): void => {
    buf.set(received, 0);
    co.begin(buf);
    for (let i = 0; i < inOff.length; i++) co.add(inOff[i]!, inLen[i]!);
    co.finish(dOff, dLen, trains);
    if (co.outputs !== 2) throw new Error(`coalescer: ${co.outputs} outputs, not 2 super-packets`);
    outputs += co.outputs;
  };
  return { step, outputs: () => outputs };
}

test('gathered TCP coalescing allocates nothing per super-packet (IPv4 and IPv6, seq > 2^31)', async (ctx) => {
  const c = coalesceStep();
  const r = await perSuperPacket(c.step, 2);
  ctx.diagnostic(`${r.perSuper.toFixed(3)} B/super-packet, ${r.gcs} GCs`);
  assert.equal(c.outputs(), r.steps * 2, 'every batch merged into its two super-packets');
  assert.equal(r.gcs, 0, `${r.gcs} GCs during ${TSO_CALLS * 2} super-packets`);
  assert.ok(r.perSuper < 1, `${r.perSuper.toFixed(3)} B/super-packet`);
});

test('control: one small object per super-packet is caught by the same measurement', async () => {
  const t = tsoStep();
  const keep: { i: number }[] = new Array<{ i: number }>(4);
  let i = 0;
  const r = await perSuperPacket(() => {
    t.step();
    for (let k = 0; k < 4; k++) keep[k] = { i: i++ };
  }, 4);
  assert.ok(
    r.gcs > 0 || r.perSuper >= 8,
    `an allocating step went unseen: ${r.perSuper} B/super-packet, ${r.gcs} GCs`,
  );
});
