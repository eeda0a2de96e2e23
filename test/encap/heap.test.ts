/**
 * The hot path allocates nothing per packet: run VXLAN encap + decap (and the other per-packet
 * helpers) over millions of packets and check (1) the heap does not grow without a collection in
 * between, and (2) no garbage collection at all ran during the loop: a per-packet allocation of even
 * 16 bytes would fill the young generation many times over and force scavenges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { HEADROOM } from '../../src/encap/constants';
import { newAnomalyCounters, newDropCounters, sumCounters } from '../../src/encap/drop-reason';
import { flannelUdpDecap, flannelUdpEncap } from '../../src/encap/flannel-udp';
import { flowSourcePort } from '../../src/encap/flow-hash';
import { writeOuterIPv4Udp } from '../../src/encap/outer';
import { vxlanDecap } from '../../src/encap/vxlan-decap';
import { vxlanEncap } from '../../src/encap/vxlan-encap';
import { makeVxlanConfig } from '../../src/encap/vxlan-config';
import { markRcoIfPartial } from '../../src/offload/vxlan-rco';
import { checksumFold } from '../../src/wire/checksum';
import { IP_PROTO_TCP } from '../../src/wire/ipv4';
import { pseudoSumIpv4 } from '../../src/wire/tcp';
import { CFG_A, CFG_B, MAC_B, SLOT } from './frames';
import { writeV4, writeV6 } from '../../src/testing/packets';

// node:test runs each file in its own process, so exposing gc here affects only this file.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const PACKETS = 2_000_000;

/** measure runs `fn` synchronously after a full GC; returns heap growth and GCs that ran meanwhile. */
async function measure(fn: () => void): Promise<{ growth: number; gcs: number }> {
  const starts: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) starts.push(e.startTime);
  });
  obs.observe({ entryTypes: ['gc'] });
  gc();
  gc();
  const t0 = performance.now();
  const before = process.memoryUsage().heapUsed;
  fn();
  const growth = process.memoryUsage().heapUsed - before;
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 50)); // gc entries are delivered asynchronously
  obs.disconnect();
  return { growth, gcs: starts.filter((t) => t >= t0 && t <= t1).length };
}
const SLOTS = 64;

test(`VXLAN encap + decap over ${PACKETS.toLocaleString('en')} packets: heap growth < 1 MB, no GC`, async () => {
  const buf = Buffer.alloc(SLOT * SLOTS);
  const lens = new Uint32Array(SLOTS);
  for (let s = 0; s < SLOTS; s++) {
    lens[s] =
      s % 4 === 3
        ? writeV6(buf, s * SLOT + HEADROOM, s, 2, 1000 + s)
        : writeV4(buf, s * SLOT + HEADROOM, { sport: 1000 + s, payload: 20 + s * 8 });
  }
  const drops = newDropCounters();
  const anomalies = newAnomalyCounters();
  let sink = 0;
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const s = i & (SLOTS - 1);
      const off = s * SLOT + HEADROOM;
      const len = lens[s];
      sink = (sink + flowSourcePort(buf, off, len, CFG_A.srcPortMin, CFG_A.srcPortMax)) & 0xffffff;
      const start = vxlanEncap(buf, off, len, MAC_B, CFG_A);
      const inner = vxlanDecap(buf, start, off + len - start, CFG_B, drops, anomalies);
      sink = (sink + inner) & 0xffffff;
    }
  };
  run(200_000); // warm-up: let the JIT settle
  const { growth, gcs } = await measure(() => run(PACKETS));
  assert.equal(sumCounters(drops), 0, 'every packet decapsulated');
  assert.ok(sink > 0);
  assert.ok(growth < 1024 * 1024, `heap grew by ${growth} bytes`);
  assert.equal(gcs, 0, 'no garbage collection during the loop');
});

test('flannel-UDP encap/decap + outer headers over 1,000,000 packets: heap growth < 1 MB, no GC', async () => {
  const buf = Buffer.alloc(SLOT);
  const len = writeV4(buf, HEADROOM, { ttl: 255 });
  const drops = newDropCounters();
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      buf[HEADROOM + 8] = 255; // keep the TTL from running out (the checksum goes stale; not verified here)
      flannelUdpEncap(buf, HEADROOM, len, drops);
      flannelUdpDecap(buf, HEADROOM, len, drops, true);
      writeOuterIPv4Udp(buf, HEADROOM, len, 0xc0000201, 0xc0000202, 50000, 8285);
    }
  };
  run(100_000);
  const { growth, gcs } = await measure(() => run(1_000_000));
  assert.equal(sumCounters(drops), 0);
  assert.ok(growth < 1024 * 1024, `heap grew by ${growth} bytes`);
  assert.equal(gcs, 0, 'no garbage collection during the loop');
});

test('VXLAN RCO: markRcoIfPartial + decap with rco over 1,000,000 packets: heap growth < 1 MB, no GC', async () => {
  const rcoA = makeVxlanConfig({ localMac: CFG_A.localMac, rco: true });
  const rcoB = makeVxlanConfig({ localMac: MAC_B, rco: true });
  const buf = Buffer.alloc(SLOT * 4);
  const lens = new Uint32Array(4);
  for (let s = 0; s < 4; s++) {
    const off = s * SLOT + HEADROOM;
    const len = writeV4(buf, off, { proto: IP_PROTO_TCP, sport: 1000 + s, payload: 200 });
    // A partial checksum, as a CHECKSUM_PARTIAL sender leaves it.
    buf.writeUInt16BE(checksumFold(pseudoSumIpv4(buf, off, IP_PROTO_TCP, len - 20)), off + 36);
    lens[s] = len;
  }
  const drops = newDropCounters();
  const anomalies = newAnomalyCounters();
  let marked = 0;
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const s = i & 3;
      const off = s * SLOT + HEADROOM;
      const len = lens[s]!;
      const start = vxlanEncap(buf, off, len, MAC_B, rcoA);
      if (markRcoIfPartial(buf, start, off, len)) marked++;
      vxlanDecap(buf, start, off + len - start, rcoB, drops, anomalies);
    }
  };
  run(100_000);
  marked = 0;
  const { growth, gcs } = await measure(() => run(1_000_000));
  assert.equal(marked, 1_000_000, 'every packet carried RCO');
  assert.equal(sumCounters(drops), 0, 'every RCO frame accepted');
  assert.ok(growth < 1024 * 1024, `heap grew by ${growth} bytes`);
  assert.equal(gcs, 0, 'no garbage collection during the loop');
});
