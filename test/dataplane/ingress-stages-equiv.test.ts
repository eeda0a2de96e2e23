/**
 * IngressStages.processBatch (the source checked once per run of one sender's datagrams, VXLAN
 * through VxlanDecapper) against the per-datagram reference: `findPeerBySource` and `vxlanDecap`
 * (or `flannelUdpDecap`) on every datagram. On random batches (datagrams from known peers, one
 * with an address above 2^31, and from strangers, in runs and interleaved; valid, padded, RCO and
 * single-byte-mutated frames; both backends) both leave the same descriptors, drop and anomaly
 * counters, packets, bytes and RCO frame count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IngressStages } from '../../src/dataplane/ingress';
import {
  DropReason,
  flannelUdpDecap,
  makeVxlanConfig,
  newAnomalyCounters,
  newDropCounters,
  vxlanDecap,
  type VxlanConfig,
} from '../../src/encap';
import { PacketBatch } from '../../src/io/packet-batch';
import { ipv4ToU32 } from '../../src/net/addr';
import type { Backend } from '../../src/route/peer';
import { RouteTable } from '../../src/route/route-table';
import type { Router } from '../../src/route/router';
import { peerSpec, routerFor } from '../../src/testing/routes';
import { checksumAdd, checksumFinish } from '../../src/wire/checksum';
import { VXLAN_FLAG_RCO, setVxlanRco, writeVxlanHeader } from '../../src/wire/vxlan';

const LOCAL_MAC = Buffer.from('0a0000000002', 'hex');
const PEER_MAC = Buffer.from('0a0000000001', 'hex');
const PEERS = ['192.0.2.1', '203.0.113.7']; // the second is above 2^31 as a u32
const STRANGERS = ['192.0.2.99', '203.0.113.99'];

function router(backend: Backend): Router {
  return routerFor(PEERS.map((ip, i) => peerSpec(`10.244.${i + 1}.0/24`, ip, backend, PEER_MAC)));
}

/** Datagram is one received payload: sender, kind of frame, and an optional byte change. */
interface Datagram {
  from: number;
  kind: number;
  payload: number;
  edit: [number, number] | null;
}

/** write puts datagram `d` at buf[off..) for `backend` and returns its length. */
function write(buf: Buffer, off: number, d: Datagram, backend: Backend, cfg: VxlanConfig): number {
  const vx = backend === 'vxlan';
  const ip = vx ? off + 22 : off;
  const v6 = d.kind === 1;
  const ipHdr = v6 ? 40 : 20;
  const ipLen = ipHdr + 8 + d.payload;
  const padding = d.kind === 2 ? 6 : 0;
  buf.fill(0, off, ip + ipLen + padding);
  if (vx) {
    writeVxlanHeader(buf, off, cfg.vni);
    LOCAL_MAC.copy(buf, off + 8);
    PEER_MAC.copy(buf, off + 14);
    buf.writeUInt16BE(v6 ? 0x86dd : 0x0800, off + 20);
    if (d.kind === 3) setVxlanRco(buf, off, 14 + ipHdr, true);
  }
  if (v6) {
    buf.writeUInt32BE(0x6000_0000, ip);
    buf.writeUInt16BE(8 + d.payload, ip + 4);
    buf[ip + 6] = 17;
    buf[ip + 7] = 64;
  } else {
    buf[ip] = 0x45;
    buf.writeUInt16BE(ipLen, ip + 2);
    buf[ip + 8] = 64;
    buf[ip + 9] = 17;
    buf.writeUInt32BE(0x0af4_0101, ip + 12);
    buf.writeUInt32BE(0x0af4_0202, ip + 16);
    buf.writeUInt16BE(checksumFinish(checksumAdd(buf, ip, 20, 0)), ip + 10);
  }
  buf.writeUInt16BE(8 + d.payload, ip + ipHdr + 4);
  const len = ip - off + ipLen + padding;
  if (d.edit !== null) buf[off + (d.edit[0] % len)] = d.edit[1];
  return len;
}

const datagram = fc.record({
  from: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...PEERS.map((p) => ipv4ToU32(p))) },
    { weight: 1, arbitrary: fc.constantFrom(...STRANGERS.map((p) => ipv4ToU32(p))) },
  ),
  kind: fc.integer({ min: 0, max: 3 }),
  payload: fc.integer({ min: 0, max: 200 }),
  edit: fc.option(fc.tuple(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 255 })), { freq: 4 }),
});
/** Runs of one sender's datagrams, as GRO trains arrive. */
const batchOf = fc.array(
  fc.tuple(datagram, fc.integer({ min: 1, max: 6 })).map(([d, k]) => Array.from({ length: k }, () => d)),
  { minLength: 1, maxLength: 10 },
);

test('IngressStages.processBatch is the per-datagram source check and decap (VXLAN and flannel-UDP)', () => {
  for (const backend of ['vxlan', 'udp'] as const) {
    const rco = makeVxlanConfig({ localMac: LOCAL_MAC, rco: true });
    const plain = makeVxlanConfig({ localMac: LOCAL_MAC });
    for (const cfg of [plain, rco]) {
      const drops = newDropCounters();
      const anomalies = newAnomalyCounters();
      const r = router(backend);
      const stages = new IngressStages(r, { backend, vxlan: cfg }, drops, anomalies);
      const batch = new PacketBatch(64, 512);
      const refDrops = newDropCounters();
      const refAnomalies = newAnomalyCounters();
      let refPackets = 0;
      let refBytes = 0;
      let refRco = 0;
      fc.assert(
        fc.property(batchOf, (runs) => {
          const ds = runs.flat().slice(0, batch.capacity);
          for (let i = 0; i < ds.length; i++) {
            const at = batch.dataOffset(i);
            batch.offsets[i] = at;
            batch.lengths[i] = write(batch.buffer, at, ds[i]!, backend, cfg);
            batch.addrs[i] = ds[i]!.from;
          }
          batch.count = ds.length;
          // The reference, on the same bytes (decap writes nothing).
          const want: Array<[number, number]> = [];
          for (let i = 0; i < ds.length; i++) {
            const off = batch.offsets[i]!;
            const len = batch.lengths[i]!;
            if (r.table.findPeerBySource(batch.addrs[i]!) === undefined) {
              refDrops[DropReason.unknownSource]++;
              continue;
            }
            const inner =
              backend === 'vxlan'
                ? vxlanDecap(batch.buffer, off, len, cfg, refDrops, refAnomalies)
                : flannelUdpDecap(batch.buffer, off, len, refDrops);
            if (inner < 0) continue;
            if (backend === 'vxlan' && (batch.buffer[off + 1]! & VXLAN_FLAG_RCO) !== 0) refRco++;
            want.push([inner, len - (inner - off)]);
            refPackets++;
            refBytes += len - (inner - off);
          }
          const n = stages.processBatch(batch);
          assert.equal(n, want.length);
          assert.equal(batch.count, n);
          for (let k = 0; k < n; k++) {
            assert.equal(batch.offsets[k], want[k]![0], `descriptor ${k} offset`);
            assert.equal(batch.lengths[k], want[k]![1], `descriptor ${k} length`);
          }
          assert.deepEqual([...drops], [...refDrops]);
          assert.deepEqual([...anomalies], [...refAnomalies]);
          assert.equal(stages.packets, refPackets);
          assert.equal(stages.bytes, refBytes);
          assert.equal(stages.rcoFrames, refRco);
        }),
        { numRuns: 400 },
      );
      // The batches did exercise both verdicts of each check.
      assert.ok(drops[DropReason.unknownSource]! > 0 && stages.packets > 0, `${backend}: both verdicts`);
    }
  }
});

test('IngressStages.processBatch: a peer removed between batches is unknown in the next one', () => {
  const drops = newDropCounters();
  const r = router('vxlan');
  const cfg = makeVxlanConfig({ localMac: LOCAL_MAC });
  const stages = new IngressStages(r, { backend: 'vxlan', vxlan: cfg }, drops, newAnomalyCounters());
  const batch = new PacketBatch(8, 512);
  const d: Datagram = { from: ipv4ToU32(PEERS[0]!), kind: 0, payload: 10, edit: null };
  const fill = (): void => {
    for (let i = 0; i < 4; i++) {
      const at = batch.dataOffset(i);
      batch.offsets[i] = at;
      batch.lengths[i] = write(batch.buffer, at, d, 'vxlan', cfg);
      batch.addrs[i] = d.from;
    }
    batch.count = 4;
  };
  fill();
  assert.equal(stages.processBatch(batch), 4);
  r.swap(RouteTable.empty());
  fill();
  assert.equal(stages.processBatch(batch), 0);
  assert.equal(drops[DropReason.unknownSource], 4);
});
