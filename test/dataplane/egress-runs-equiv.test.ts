/**
 * The offload egress decides once per scatter-gather super-packet (stage 5r of EgressStages: the
 * segments' route, size check and VXLAN header taken from the first segment). Its reference is the
 * same egress with `segmentRuns: false`, where every segment goes through the stages on its own (the
 * per-segment path `processBatch(b, true, null)`). These properties show the two do the same: on
 * random TUN reads (super-packets over IPv4 and IPv6 to routed, unrouted, link-scope and
 * wrong-backend destinations, with and without DF, malformed ones, plain packets with complete and
 * partial checksums, too big, too short, not IP) under VXLAN, flannel-UDP, VXLAN RCO,
 * `--src-port flow` lanes, `--debug` flow counters and a segment cap below the stages' path MTU,
 * both leave the same batch memory (every byte and descriptor) at every send, the same ICMP replies
 * in the TUN and the same counters: drops by reason, packets, bytes, ICMP replies, RCO frames, route
 * cache hits and misses, the offload stats and the flow table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EgressStages } from '../../src/dataplane/egress';
import { OffloadEgress } from '../../src/dataplane/egress-offload';
import { FlowTable } from '../../src/dataplane/flow-table';
import { makeVxlanConfig, newDropCounters } from '../../src/encap';
import { newIoCounters } from '../../src/io/counters';
import type { PacketBatch } from '../../src/io/packet-batch';
import { macToBuffer } from '../../src/net/addr';
import type { Backend } from '../../src/route/peer';
import { FakeVnetTun, ipv4, ipv6, peerSpec, routerFor, udp } from '../../src/testing';
import { checksumAdd, checksumFinish, checksumFold } from '../../src/wire/checksum';
import { pseudoSumIpv4, pseudoSumIpv6 } from '../../src/wire/tcp';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_SIZE,
  writeVnetHdr,
} from '../../src/wire/virtio-net-hdr';

/** Destinations: two peers of our backend, one of the other, no route, link scope. */
const DST4 = ['10.244.1.7', '10.244.2.9', '10.250.0.3', '10.99.0.1', '169.254.0.9'];
const DST6 = [
  'fd000000000000010000000000000007',
  'fd000000000000020000000000000009',
  'fd0000000000000a0000000000000003',
  'fd000000000000630000000000000001',
  'fe800000000000000000000000000009',
];
const SRC6 = 'fd000000000000000000000000000005';

interface Read {
  kind: 'super' | 'plain' | 'short' | 'notIp';
  v6: boolean;
  dst: number;
  mss: number;
  payload: number;
  options: number;
  flags: number;
  df: boolean;
  partial: boolean;
  udp: boolean;
  sport: number;
  bad: 'none' | 'gsoType' | 'csumStart' | 'gsoZero' | 'ecn';
}

const read: fc.Arbitrary<Read> = fc.record({
  kind: fc.constantFrom('super', 'super', 'super', 'super', 'plain', 'plain', 'short', 'notIp'),
  v6: fc.boolean(),
  dst: fc.constantFrom(0, 0, 0, 1, 1, 2, 3, 4),
  mss: fc.constantFrom(1398, 1378, 1448, 536, 8948, 100, 1),
  payload: fc.integer({ min: 0, max: 20000 }),
  options: fc.constantFrom(0, 12, 12, 40),
  flags: fc.constantFrom(0x10, 0x18, 0x18, 0x19, 0x90, 0x58, 0x11),
  df: fc.constantFrom(true, true, true, false),
  partial: fc.constantFrom(true, true, false),
  udp: fc.boolean(),
  sport: fc.integer({ min: 40000, max: 40005 }),
  bad: fc.constantFrom(
    'none',
    'none',
    'none',
    'none',
    'none',
    'none',
    'gsoType',
    'csumStart',
    'gsoZero',
    'ecn',
  ),
});

/** tcpHeader is a TCP header with `options` bytes of NOPs and checksum 0. */
function tcpHeader(sport: number, seq: number, flags: number, options: number): Buffer {
  const h = Buffer.alloc(20 + options, 1);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(5201, 2);
  h.writeUInt32BE(seq >>> 0, 4);
  h.writeUInt32BE(0x1234_5678, 8);
  h[12] = ((20 + options) / 4) << 4;
  h[13] = flags;
  h.writeUInt16BE(502, 14);
  h.writeUInt32BE(0, 16);
  return h;
}

/** build turns one generated read into TUN bytes: virtio header + packet. */
function build(r: Read, k: number): Buffer {
  if (r.kind === 'short') return Buffer.alloc(1 + (k % VIRTIO_NET_HDR_SIZE));
  if (r.kind === 'notIp') {
    const b = Buffer.alloc(VIRTIO_NET_HDR_SIZE + 60, 0x55);
    b.fill(0, 0, VIRTIO_NET_HDR_SIZE);
    return b;
  }
  const isSuper = r.kind === 'super';
  const payload = Buffer.alloc(isSuper ? Math.min(r.payload, 65000) : r.payload % 1600);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + k) & 0xff;
  const l4proto = !isSuper && r.udp ? 17 : 6;
  const l4 =
    l4proto === 17
      ? udp(r.sport, 5001, payload)
      : Buffer.concat([tcpHeader(r.sport, 0x7fff_ff00 + k * 100_000, r.flags, r.options), payload]);
  const pkt = r.v6
    ? ipv6(l4proto, l4, SRC6, DST6[r.dst]!)
    : ipv4('10.244.0.5', DST4[r.dst]!, l4proto, l4, { df: r.df, id: k * 1000 });
  const ipHdr = r.v6 ? 40 : 20;
  const csumOff = l4proto === 17 ? 6 : 16;
  const ps = r.v6 ? pseudoSumIpv6(pkt, 0, l4proto, l4.length) : pseudoSumIpv4(pkt, 0, l4proto, l4.length);
  const partial = isSuper || r.partial;
  pkt.writeUInt16BE(
    partial ? checksumFold(ps) : checksumFinish(checksumAdd(pkt, ipHdr, l4.length, ps)),
    ipHdr + csumOff,
  );
  const v = Buffer.alloc(VIRTIO_NET_HDR_SIZE);
  let gsoType = isSuper
    ? r.v6
      ? VIRTIO_NET_HDR_GSO_TCPV6
      : VIRTIO_NET_HDR_GSO_TCPV4
    : VIRTIO_NET_HDR_GSO_NONE;
  let csumStart = ipHdr;
  let gso = isSuper ? r.mss : 0;
  if (isSuper && r.bad === 'gsoType') gsoType = VIRTIO_NET_HDR_GSO_UDP_L4;
  if (isSuper && r.bad === 'ecn') gsoType |= VIRTIO_NET_HDR_GSO_ECN;
  if (r.bad === 'csumStart') csumStart += 4;
  if (isSuper && r.bad === 'gsoZero') gso = 0;
  const hdrLen = isSuper ? ipHdr + 20 + r.options : 0;
  writeVnetHdr(v, 0, partial ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0, gsoType, hdrLen, gso, csumStart, csumOff);
  return Buffer.concat([v, pkt]);
}

interface Cfg {
  backend: Backend;
  rco: boolean;
  lanes: number;
  flows: boolean;
  stagesMtu: number;
  segMtu: number;
  readSlots: number;
}

const cfg: fc.Arbitrary<Cfg> = fc.record({
  backend: fc.constantFrom<Backend>('vxlan', 'vxlan', 'vxlan', 'udp'),
  rco: fc.constantFrom(false, false, true),
  lanes: fc.constantFrom(0, 0, 4, 16),
  flows: fc.boolean(),
  stagesMtu: fc.constantFrom(1450, 1450, 8950, 600, 90),
  segMtu: fc.constantFrom(0, 1450, 1450, 700),
  readSlots: fc.constantFrom(4, 8),
});

/** Snapshot is what one send leaves in the batch. */
interface Snapshot {
  /** The slots, then every descriptor array, whole. */
  memory: Buffer;
  count: number;
}

/** arrays are the batch's descriptor arrays. */
const arrays = (b: PacketBatch) => [
  b.offsets,
  b.lengths,
  b.addrs,
  b.ports,
  b.gsoSizes,
  b.tailOffsets,
  b.tailLengths,
  b.trains,
  b.lanes,
];

/** Recorder snapshots the whole batch at every send. */
class Recorder {
  readonly counters = newIoCounters();
  readonly sends: Snapshot[] = [];
  resetMtuSplit(): void {}
  onceWritable(): void {}
  sendBatchGso(b: PacketBatch, from = 0): number {
    const parts = [b.buffer, ...arrays(b).map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))];
    this.sends.push({ memory: Buffer.concat(parts), count: b.count - from });
    return b.count;
  }
}

/** ZeroedVnetTun is FakeVnetTun on a batch zeroed first (PacketBatch memory starts uninitialised). */
class ZeroedVnetTun extends FakeVnetTun {
  private seen: PacketBatch | null = null;
  override readBatch(batch: PacketBatch, max = batch.capacity): number {
    if (this.seen !== batch) {
      this.seen = batch;
      batch.buffer.fill(0);
      for (const a of arrays(batch)) a.fill(0);
    }
    return super.readBatch(batch, max);
  }
}

/** ReplyTun records the ICMP replies the stages write. */
class ReplyTun {
  readonly replies: Buffer[] = [];
  writeBatch(b: PacketBatch, start = 0, end = b.count): number {
    for (let i = start; i < end; i++) this.replies.push(Buffer.from(b.gather(i, false)));
    return end - start;
  }
}

/**
 * run pushes `batches` of reads through an offload egress (`runs`: stage 5r on) and returns
 * everything it left.
 */
function run(c: Cfg, batches: Buffer[][], runs: boolean) {
  const vx = c.backend === 'vxlan';
  const other: Backend = vx ? 'udp' : 'vxlan';
  const router = routerFor([
    peerSpec('10.244.1.0/24', '192.0.2.2', c.backend),
    peerSpec('10.244.2.0/24', '192.0.2.3', c.backend),
    peerSpec('10.250.0.0/24', '192.0.2.4', other),
    peerSpec('fd00:0:0:1::/64', '192.0.2.2', c.backend),
    peerSpec('fd00:0:0:2::/64', '192.0.2.3', c.backend),
    peerSpec('fd00:0:0:a::/64', '192.0.2.4', other),
  ]);
  // Route lookups made (IPv4 and IPv6): stage 5r skips them for a run's other segments.
  let lookups = 0;
  const lookupV4 = router.lookupV4.bind(router);
  const lookupV6 = router.lookupV6.bind(router);
  router.lookupV4 = (dst) => (lookups++, lookupV4(dst));
  router.lookupV6 = (b, o) => (lookups++, lookupV6(b, o));
  const tunOut = new ReplyTun();
  const drops = newDropCounters();
  const egressCfg = {
    backend: c.backend,
    vxlan: makeVxlanConfig({ localMac: macToBuffer('0e:00:00:00:00:01'), rco: vx && c.rco }),
    port: vx ? 8472 : 8285,
    pathMtu: c.stagesMtu,
    lanes: vx ? c.lanes : 0,
  };
  const tun = new ZeroedVnetTun();
  const sock = new Recorder();
  const opts = { prefix: vx ? 22 : 0, pathMtu: c.segMtu, rco: vx && c.rco, readSlots: c.readSlots };
  const flows = c.flows ? new FlowTable() : null;
  const stages = new EgressStages(tunOut, router, egressCfg, drops);
  stages.flows = flows;
  const egress = new OffloadEgress(tun, sock, stages, { ...opts, segmentRuns: runs });
  for (const reads of batches) {
    for (const p of reads) {
      tun.queue.push(p);
      tun.raw.add(p);
    }
    egress.drain();
  }
  return {
    sends: sock.sends,
    replies: tunOut.replies,
    drops: [...drops],
    stages: {
      packets: stages.packets,
      bytes: stages.bytes,
      icmpReplies: stages.icmpReplies,
      rcoFrames: stages.rcoFrames,
    },
    routes: { hits: router.hits, misses: router.misses },
    stats: { ...egress.stats },
    flows: flows === null ? null : flows.snapshot(1000),
    lookups,
  };
}

test('offload egress: one decision per super-packet leaves the same bytes, descriptors and counters as per segment', () => {
  let segmentsSeen = 0;
  let runsForwarded = 0;
  fc.assert(
    fc.property(
      cfg,
      fc.array(fc.array(read, { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 3 }),
      (c, gen) => {
        let k = 0;
        const batches = gen.map((rs) => rs.map((r) => build(r, k++)));
        // Each rig gets its own copies: the egress writes into what it reads.
        const copy = () => batches.map((rs) => rs.map((p) => Buffer.from(p)));
        const want = run(c, copy(), false);
        const got = run(c, copy(), true);
        assert.equal(got.sends.length, want.sends.length, 'sends');
        for (let s = 0; s < want.sends.length; s++) {
          assert.equal(got.sends[s]!.count, want.sends[s]!.count, `send ${s}: descriptors`);
          assert.ok(got.sends[s]!.memory.equals(want.sends[s]!.memory), `send ${s}: batch memory`);
        }
        assert.deepEqual(got.replies, want.replies, 'ICMP replies');
        assert.deepEqual(got.drops, want.drops, 'drops by reason');
        assert.deepEqual(got.stages, want.stages, 'stage counters');
        assert.deepEqual(got.routes, want.routes, 'route cache hits and misses');
        assert.deepEqual(got.stats, want.stats, 'offload stats');
        assert.deepEqual(got.flows?.flows, want.flows?.flows, 'flow table');
        assert.ok(got.lookups <= want.lookups, `${got.lookups} route lookups, ${want.lookups} per segment`);
        segmentsSeen += got.stats.segments;
        if (got.lookups < want.lookups) runsForwarded++;
      },
    ),
    { numRuns: 300 },
  );
  // The properties must have exercised stage 5r (fewer lookups for the same counts), not only drops.
  assert.ok(segmentsSeen > 1000, `${segmentsSeen} segments`);
  assert.ok(runsForwarded > 30, `${runsForwarded} cases where stage 5r saved route lookups`);
});
