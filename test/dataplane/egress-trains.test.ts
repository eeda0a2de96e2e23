/**
 * Stage 4 of the offload egress (src/dataplane/egress-offload.ts, `formTrains` in udp-trains.ts)
 * over in-memory fakes: a TUN that hands out virtio-net-header packets, each in its own read slot
 * like the kernel's, and a socket that checks every message against the addon's sendmmsg rules
 * (native/src/batch.cc SendBatch: every member of a train exactly gso_size bytes but the last,
 * 1..gso_size; at most 64 datagrams and 65507 bytes; one destination and lane per message) and
 * records the datagrams it would put on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EgressStages } from '../../src/dataplane/egress';
import { OffloadEgress } from '../../src/dataplane/egress-offload';
import { makeVxlanConfig, newDropCounters } from '../../src/encap';
import { newIoCounters } from '../../src/io/counters';
import type { PacketBatch } from '../../src/io/packet-batch';
import { ipv4ToU32, macToBuffer } from '../../src/net/addr';
import type { Backend } from '../../src/route/peer';
import { ChannelTun, FakeVnetTun, ipv4, ipv6, peerSpec, routerFor, udp } from '../../src/testing';
import { internetChecksum } from '../../src/wire/checksum';
import { isGso } from '../../src/offload/tso';
import { flowSourcePort } from '../../src/encap/flow-hash';
import { VIRTIO_NET_HDR_SIZE } from '../../src/wire/virtio-net-hdr';

const PEER_B = '192.0.2.2';
const PEER_C = '192.0.2.3';
const MAC = macToBuffer('0e:00:00:00:00:02');

/** Message is one sendmmsg message: its datagrams (a train's segments, or one), destination, lane. */
interface Message {
  datagrams: Buffer[];
  addr: number;
  port: number;
  lane: number;
  gso: number;
  /** Descriptors the message took: 1 for a lone datagram or a contiguous train. */
  descriptors: number;
}

/** GsoRecorder applies SendBatch's rules to each message and records it; rule breaks throw. */
class GsoRecorder {
  readonly counters = newIoCounters();
  readonly messages: Message[] = [];
  resetMtuSplit(): void {}
  onceWritable(): void {}
  sendBatchGso(b: PacketBatch, from = 0): number {
    for (let i = from; i < b.count;) {
      const g = b.gsoSizes[i]!;
      const members = g > 0 && b.trains[i]! >= 2 ? b.trains[i]! : 1;
      assert.ok(i + members <= b.count, `train at ${i} cut by the batch end`);
      const datagrams: Buffer[] = [];
      if (members > 1) {
        for (let j = i; j < i + members; j++) {
          const d = b.gather(j, false);
          if (j + 1 < i + members) assert.equal(d.length, g, `member ${j - i} of a train must be gso_size`);
          else assert.ok(d.length >= 1 && d.length <= g, `last member ${d.length} of gso_size ${g}`);
          assert.equal(b.addrs[j], b.addrs[i], 'one destination per train');
          assert.equal(b.ports[j], b.ports[i], 'one port per train');
          assert.equal(b.lanes[j], b.lanes[i], 'one lane per train');
          datagrams.push(d);
        }
      } else {
        const d = b.gather(i, false);
        if (g > 0 && d.length > g) {
          assert.equal(b.tailLengths[i], 0, 'a contiguous train has no tail');
          for (let o = 0; o < d.length; o += g) datagrams.push(d.subarray(o, Math.min(o + g, d.length)));
        } else datagrams.push(d);
      }
      assert.ok(datagrams.length <= 64, `${datagrams.length} datagrams in one GSO message`);
      const total = datagrams.reduce((s, d) => s + d.length, 0);
      assert.ok(datagrams.length === 1 || total <= 65507, `GSO message of ${total} bytes`);
      this.messages.push({
        datagrams,
        addr: b.addrs[i]!,
        port: b.ports[i]!,
        lane: b.lanes[i]!,
        gso: g,
        descriptors: members,
      });
      i += members;
    }
    return b.count;
  }
  /** sizes is each message's datagram sizes. */
  sizes(): number[][] {
    return this.messages.map((m) => m.datagrams.map((d) => d.length));
  }
  /** datagrams is every datagram in wire order. */
  datagrams(): Buffer[] {
    return this.messages.flatMap((m) => m.datagrams);
  }
}

interface Rig {
  tun: FakeVnetTun;
  sock: GsoRecorder;
  egress: OffloadEgress;
  stages: EgressStages;
  prefix: number;
  /** Pool lanes (`--src-port flow`), 0: none. */
  lanes: number;
}

function rig(backend: Backend = 'vxlan', o: { lanes?: number; readSlots?: number } = {}): Rig {
  const vx = backend === 'vxlan';
  const peer = (subnet: string, ip: string) => peerSpec(subnet, ip, backend, MAC);
  const router = routerFor([
    peer('10.244.1.0/24', PEER_B),
    peer('10.244.2.0/24', PEER_C),
    peer('fd00:0:0:1::/64', PEER_B),
    peer('10.250.0.0/24', PEER_B),
  ]);
  const stages = new EgressStages(
    new ChannelTun(),
    router,
    {
      backend,
      vxlan: makeVxlanConfig({ localMac: macToBuffer('0e:00:00:00:00:01') }),
      port: vx ? 8472 : 8285,
      pathMtu: vx ? 1450 : 1472,
      lanes: o.lanes ?? 0,
    },
    newDropCounters(),
  );
  const tun = new FakeVnetTun();
  const sock = new GsoRecorder();
  const prefix = vx ? 22 : 0;
  const egress = new OffloadEgress(tun, sock, stages, { prefix, readSlots: o.readSlots });
  return { tun, sock, egress, stages, prefix, lanes: o.lanes ?? 0 };
}

/** dgram builds an IPv4 UDP packet of `size` bytes (>= 28) to `dst`, its payload numbered `seq`. */
function dgram(dst: string, size: number, seq: number, sport = 4000): Buffer {
  const payload = Buffer.alloc(size - 28);
  for (let k = 0; k < payload.length; k++) payload[k] = (seq * 31 + k) & 0xff;
  if (payload.length >= 4) payload.writeUInt32BE(seq, 0);
  return ipv4('10.244.0.5', dst, 17, udp(sport, 5001, payload));
}

/** laneOf is the pool lane of inner packet `p` among `lanes` (stage 2's hash). */
function laneOf(p: Buffer, lanes: number): number {
  return flowSourcePort(p, 0, p.length, 0, lanes - 1);
}

/** laneOfPort is the lane (of 16) of `dgram`'s flow from source port `sport` to 10.244.1.7. */
function laneOfPort(sport: number): number {
  return laneOf(dgram('10.244.1.7', 92, 0, sport), 16);
}

/** distinctLaneFlows finds `n` source ports whose flows to 10.244.1.7 hash to `n` different lanes. */
function distinctLaneFlows(n: number, lanes: number): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (let sport = 4000; out.length < n; sport++) {
    const l = laneOf(dgram('10.244.1.7', 92, 0, sport), lanes);
    if (seen.has(l)) continue;
    seen.add(l);
    out.push(sport);
  }
  return out;
}

/** send queues `pkts` on the TUN and drains them through the egress; returns them. */
function send(r: Rig, pkts: Buffer[]): Buffer[] {
  for (const p of pkts) r.tun.queue.push(p);
  r.egress.drain();
  assert.equal(r.tun.queue.length, 0, 'everything read');
  return pkts;
}

/** assertWire checks the datagrams on the wire are exactly `pkts`, encapsulated, in order. */
function assertWire(r: Rig, pkts: Buffer[]): void {
  const wire = r.sock.datagrams();
  assert.equal(wire.length, pkts.length);
  for (let k = 0; k < pkts.length; k++) {
    const d = wire[k]!;
    assert.equal(d.length, r.prefix + pkts[k]!.length, `datagram ${k}`);
    const want = Buffer.from(pkts[k]!);
    if (r.prefix > 0) assert.equal(d[0], 0x08, `datagram ${k}: VXLAN I flag`);
    else {
      // flannel-UDP forwards like a router: TTL - 1, header checksum updated.
      want[8]!--;
      want.writeUInt16BE(0, 10);
      want.writeUInt16BE(internetChecksum(want, 0, 20), 10);
    }
    assert.deepEqual(d.subarray(r.prefix), want, `datagram ${k}: inner packet byte-exact`);
  }
}

/**
 * assertWirePerFlow checks the datagrams on the wire are exactly `pkts`, encapsulated, each once,
 * with the packets of each flow (peer address + inner 5-tuple) in their original order; flows may
 * interleave differently. With lanes, each datagram's lane is its inner flow's hash.
 */
function assertWirePerFlow(r: Rig, pkts: Buffer[]): void {
  const wire = r.sock.messages.flatMap((m) => m.datagrams.map((d) => ({ d, lane: m.lane })));
  assert.equal(wire.length, pkts.length);
  const index = new Map(pkts.map((p, k) => [p.toString('hex'), k]));
  const lastOfFlow = new Map<string, number>();
  const seen = new Set<number>();
  for (const { d, lane } of wire) {
    assert.equal(d[0], 0x08, 'VXLAN I flag');
    const inner = d.subarray(r.prefix);
    const k = index.get(inner.toString('hex'));
    assert.ok(k !== undefined, 'a datagram that is one of the packets, byte-exact');
    assert.ok(!seen.has(k), `packet ${k} sent twice`);
    seen.add(k);
    const flow = inner.subarray(12, 24).toString('hex');
    const prev = lastOfFlow.get(flow) ?? -1;
    assert.ok(k > prev, `flow ${flow}: packet ${k} after ${prev}`);
    lastOfFlow.set(flow, k);
    if (r.lanes > 1)
      assert.equal(lane, laneOf(Buffer.from(inner), r.lanes), `packet ${k}: lane = its flow's hash`);
  }
}

test('plain packets from separate TUN read slots, equal sizes, one peer: ONE GSO train', () => {
  const r = rig();
  const pkts = send(
    r,
    Array.from({ length: 32 }, (_, k) => dgram('10.244.1.7', 92, k)),
  );
  assert.deepEqual(r.sock.sizes(), [Array(32).fill(22 + 92)]);
  assert.equal(r.sock.messages[0]!.gso, 22 + 92);
  assert.equal(r.sock.messages[0]!.addr, ipv4ToU32(PEER_B));
  assert.equal(r.egress.stats.trains, 1);
  assertWire(r, pkts);
  assert.equal(r.stages.packets, 32);
  assert.equal(r.stages.bytes, 32 * 92, 'inner bytes');
});

test('a shorter packet ends its train; a longer one starts the next', () => {
  const r = rig();
  const sizes = [100, 100, 100, 60, 100, 100, 200, 200, 100, 100, 300];
  const pkts = send(
    r,
    sizes.map((s, k) => dgram('10.244.1.7', s, k)),
  );
  const w = (s: number) => 22 + s;
  assert.deepEqual(r.sock.sizes(), [
    [w(100), w(100), w(100), w(60)],
    [w(100), w(100)],
    [w(200), w(200), w(100)],
    [w(100)],
    [w(300)],
  ]);
  assert.equal(r.egress.stats.trains, 3);
  assertWire(r, pkts);
});

test('different peers and different pool lanes never share a train; each gets one train per batch', () => {
  const r = rig();
  const pkts = send(r, [
    dgram('10.244.1.7', 92, 0),
    dgram('10.244.1.7', 92, 1),
    dgram('10.244.2.9', 92, 2),
    dgram('10.244.2.9', 92, 3),
    dgram('10.244.1.7', 92, 4),
  ]);
  assert.deepEqual(
    r.sock.messages.map((m) => [m.addr, m.datagrams.length]),
    [
      [ipv4ToU32(PEER_B), 3],
      [ipv4ToU32(PEER_C), 2],
    ],
  );
  assertWirePerFlow(r, pkts);

  // `--src-port flow`: sixteen lanes; flows 4000 and 4001 hash to different ones.
  const f = rig('vxlan', { lanes: 16 });
  const flows = [4000, 4000, 4000, 4001, 4001, 4000, 4000];
  const fp = send(
    f,
    flows.map((sport, k) => dgram('10.244.1.7', 92, k, sport)),
  );
  const lanes = f.sock.messages.map((m) => m.lane);
  assert.equal(lanes.length, 2, `one message per lane: ${JSON.stringify(f.sock.sizes())}`);
  assert.ok(lanes[0]! < lanes[1]!, 'lanes leave in ascending order, as the pool sends them');
  assert.deepEqual(
    f.sock.messages.map((m) => m.datagrams.length),
    lanes[0] === laneOf(fp[0]!, 16) ? [5, 2] : [2, 5],
  );
  assertWirePerFlow(f, fp);
});

test('--src-port flow: flows interleaved packet by packet leave as one train per flow, each in order', () => {
  const f = rig('vxlan', { lanes: 16, readSlots: 64 });
  // Three flows to one peer with three different lanes, 12 packets each, round robin.
  const sports = distinctLaneFlows(3, 16);
  const pkts: Buffer[] = [];
  for (let k = 0; k < 36; k++) pkts.push(dgram('10.244.1.7', 92, k, sports[k % 3]!));
  send(f, pkts);
  assert.deepEqual(
    f.sock.messages.map((m) => m.datagrams.length),
    [12, 12, 12],
    'one train per flow',
  );
  const lanes = f.sock.messages.map((m) => m.lane);
  assert.deepEqual(
    lanes,
    [...lanes].sort((a, b) => a - b),
  );
  assert.equal(new Set(lanes).size, 3);
  assert.equal(f.egress.stats.trains, 3);
  assert.equal(f.egress.stats.regrouped, 1);
  assertWirePerFlow(f, pkts);

  // Two peers, two flows each (four groups), interleaved; one flow is the same 5-tuple pair on
  // both peers' lanes so only the peer tells them apart.
  const g = rig('vxlan', { lanes: 16, readSlots: 64 });
  const mixed: Buffer[] = [];
  for (let k = 0; k < 40; k++) {
    const dst = k % 2 === 0 ? '10.244.1.7' : '10.244.2.9';
    mixed.push(dgram(dst, 92, k, sports[(k >> 1) % 2]!));
  }
  send(g, mixed);
  assert.deepEqual(
    g.sock.messages.map((m) => m.datagrams.length),
    [10, 10, 10, 10],
  );
  assertWirePerFlow(g, mixed);
});

test('fixed port: two peers interleaved packet by packet leave as one train per peer', () => {
  const r = rig();
  const pkts: Buffer[] = [];
  for (let k = 0; k < 20; k++) pkts.push(dgram(k % 2 === 0 ? '10.244.1.7' : '10.244.2.9', 92, k));
  send(r, pkts);
  assert.deepEqual(
    r.sock.messages.map((m) => [m.addr, m.datagrams.length]),
    [
      [ipv4ToU32(PEER_B), 10],
      [ipv4ToU32(PEER_C), 10],
    ],
  );
  assertWirePerFlow(r, pkts);
});

test('one flow, or flows already grouped in lane order, are not moved', () => {
  const r = rig('vxlan', { lanes: 16 });
  const pkts = send(
    r,
    Array.from({ length: 20 }, (_, k) => dgram('10.244.1.7', 92, k)),
  );
  assert.equal(r.egress.stats.regrouped, 0);
  assertWire(r, pkts);
  const [a, b] = distinctLaneFlows(2, 16).sort((x, y) => laneOfPort(x) - laneOfPort(y));
  const q = rig('vxlan', { lanes: 16 });
  const grouped = send(
    q,
    Array.from({ length: 20 }, (_, k) => dgram('10.244.1.7', 92, k, k < 10 ? a! : b!)),
  );
  assert.equal(q.egress.stats.regrouped, 0);
  assertWire(q, grouped);
});

test('a train ends with its batch; a full batch of 32 and the rest of 8', () => {
  const r = rig('vxlan', { readSlots: 32 });
  const pkts = send(
    r,
    Array.from({ length: 40 }, (_, k) => dgram('10.244.1.7', 92, k)),
  );
  assert.deepEqual(
    r.sock.sizes().map((s) => s.length),
    [32, 8],
  );
  assert.equal(r.egress.batches, 2);
  assertWire(r, pkts);
});

test('more than 64 datagrams, or more than 65507 bytes, start a new train', () => {
  const r = rig('vxlan', { readSlots: 150 });
  const small = send(
    r,
    Array.from({ length: 150 }, (_, k) => dgram('10.244.1.7', 92, k)),
  );
  assert.deepEqual(
    r.sock.sizes().map((s) => s.length),
    [64, 64, 22],
  );
  assertWire(r, small);

  // 1422-byte datagrams: 46 fit in 65507 bytes.
  const big = rig('vxlan', { readSlots: 100 });
  const pkts = send(
    big,
    Array.from({ length: 100 }, (_, k) => dgram('10.244.1.7', 1400, k)),
  );
  assert.deepEqual(
    big.sock.sizes().map((s) => s.length),
    [46, 46, 8],
  );
  assertWire(big, pkts);
});

test('IPv6 inner packets train like IPv4 ones', () => {
  const r = rig();
  const v6 = (k: number, len: number): Buffer => {
    const payload = Buffer.alloc(len, k);
    return ipv6(
      17,
      udp(4000, 5001, payload),
      'fd000000000000000000000000000005',
      'fd000000000000010000000000000007',
    );
  };
  const pkts = send(r, [v6(0, 24), v6(1, 24), v6(2, 24), v6(3, 10), v6(4, 24)]);
  assert.deepEqual(r.sock.sizes(), [
    Array(3)
      .fill(22 + 72)
      .concat([22 + 58]),
    [22 + 72],
  ]);
  assertWire(r, pkts);
});

test('flannel-UDP: plain packets train too (each datagram one whole inner packet)', () => {
  const r = rig('udp');
  const pkts = send(
    r,
    Array.from({ length: 10 }, (_, k) => dgram('10.244.1.7', k === 9 ? 80 : 92, k)),
  );
  assert.deepEqual(r.sock.sizes(), [[...Array(9).fill(92), 80]]);
  assert.equal(r.sock.messages[0]!.port, 8285);
  assertWire(r, pkts);
});

/** superPacket is the first IPv4 TSO super-packet of the kernel fixture (virtio header + packet). */
function superPacket(): Buffer {
  const b = readFileSync(
    join(__dirname, '..', '..', '..', 'test', 'fixtures', 'offload', 'kernel-vnet-tcp.bin'),
  );
  for (let o = 0; o < b.length;) {
    const len = b.readUInt32LE(o);
    const r = b.subarray(o + 4, o + 4 + len);
    o += 4 + len;
    if (isGso(r, 0) && r[VIRTIO_NET_HDR_SIZE]! >> 4 === 4) return Buffer.from(r);
  }
  throw new Error('no IPv4 super-packet in the fixture');
}

/** tsoSegments checks datagrams carry consecutive TCP segments of `sp`, and returns their payload bytes. */
function tsoSegments(datagrams: Buffer[], prefix: number, sp: Buffer): number {
  const ip = sp.subarray(VIRTIO_NET_HDR_SIZE);
  const hdrLen = 20 + (ip[20 + 12]! >> 4) * 4;
  let seq = ip.readUInt32BE(20 + 4);
  let bytes = 0;
  for (const d of datagrams) {
    const seg = d.subarray(prefix);
    assert.equal(seg.readUInt16BE(2), seg.length, 'segment IPv4 total length');
    assert.equal(seg.readUInt32BE(20 + 4), seq >>> 0, 'consecutive sequence numbers');
    assert.deepEqual(seg.subarray(hdrLen), ip.subarray(hdrLen + bytes, hdrLen + bytes + seg.length - hdrLen));
    seq += seg.length - hdrLen;
    bytes += seg.length - hdrLen;
  }
  return bytes;
}

test('plain packets and scatter-gather TSO segments of the same size share a train (members with and without tails)', () => {
  const r = rig();
  const sp = superPacket();
  r.tun.raw.add(sp);
  const ipLen = sp.length - VIRTIO_NET_HDR_SIZE;
  const hdrLen = 20 + (sp[VIRTIO_NET_HDR_SIZE + 32]! >> 4) * 4;
  const mss = sp.readUInt16LE(4);
  const segs = Math.ceil((ipLen - hdrLen) / mss);
  assert.ok(segs >= 3, `fixture super-packet of ${segs} segments`);
  const full = hdrLen + mss;
  const before = dgram('10.250.0.2', full, 1);
  send(r, [before, sp]);
  const m = r.sock.messages;
  assert.equal(m.length, 1, `one message: ${JSON.stringify(r.sock.sizes())}`);
  assert.equal(m[0]!.datagrams.length, 1 + segs);
  assert.equal(m[0]!.gso, 22 + full);
  assert.deepEqual(m[0]!.datagrams[0]!.subarray(22), before);
  assert.equal(tsoSegments(m[0]!.datagrams.slice(1), 22, sp), ipLen - hdrLen);
  assert.equal(r.egress.stats.trains, 1);
  assert.equal(
    r.stages.bytes,
    before.length + segs * hdrLen + (ipLen - hdrLen),
    'inner bytes, payload slices included',
  );
});

test('flannel-UDP: copied TSO segments stay one contiguous descriptor; plain packets after them join as members', () => {
  const r = rig('udp');
  const sp = superPacket();
  r.tun.raw.add(sp);
  const ipLen = sp.length - VIRTIO_NET_HDR_SIZE;
  const hdrLen = 20 + (sp[VIRTIO_NET_HDR_SIZE + 32]! >> 4) * 4;
  const mss = sp.readUInt16LE(4);
  const segs = Math.ceil((ipLen - hdrLen) / mss);
  send(r, [sp]);
  assert.equal(r.sock.messages.length, 1);
  assert.equal(r.sock.messages[0]!.descriptors, 1, 'back-to-back segments: one descriptor');
  assert.equal(r.sock.messages[0]!.datagrams.length, segs);
  assert.equal(r.sock.messages[0]!.gso, hdrLen + mss);
  assert.equal(tsoSegments(r.sock.messages[0]!.datagrams, 0, sp), ipLen - hdrLen);

  // The same again with two 100-byte packets behind: a full-size last segment lets the first join
  // the train (as a member of its own, so the segments become members too); a short one ends it.
  const q = rig('udp');
  const sp2 = Buffer.from(sp);
  q.tun.raw.add(sp2);
  send(q, [sp2, dgram('10.250.0.2', 100, 2), dgram('10.250.0.2', 100, 3)]);
  const fullTail = (ipLen - hdrLen) % mss === 0;
  assert.deepEqual(
    q.sock.messages.map((x) => [x.datagrams.length, x.descriptors]),
    fullTail
      ? [
          [segs + 1, segs + 1],
          [1, 1],
        ]
      : [
          [segs, 1],
          [2, 2],
        ],
  );
  assert.equal(tsoSegments(q.sock.messages[0]!.datagrams.slice(0, segs), 0, sp), ipLen - hdrLen);
});

test('--src-port flow: every segment of a super-packet leaves on the lane its own 5-tuple hashes to', () => {
  const r = rig('vxlan', { lanes: 16 });
  const sp = superPacket();
  r.tun.raw.add(sp);
  const ip = sp.subarray(VIRTIO_NET_HDR_SIZE);
  const hdrLen = 20 + (ip[32]! >> 4) * 4;
  const mss = sp.readUInt16LE(4);
  const segs = Math.ceil((ip.length - hdrLen) / mss);
  // Plain packets of another flow to the same peer around the super-packet.
  const spLane = laneOf(Buffer.from(ip), 16);
  let sport = 4000;
  while (laneOf(dgram('10.250.0.2', hdrLen + mss, 0, sport), 16) === spLane) sport++;
  const a = dgram('10.250.0.2', hdrLen + mss, 1, sport);
  const b = dgram('10.250.0.2', hdrLen + mss, 2, sport);
  send(r, [a, sp, b]);
  const lanes = r.sock.messages.map((m) => m.lane);
  assert.equal(lanes.length, 2, `one train per flow: ${JSON.stringify(r.sock.sizes())}`);
  const spMsg = r.sock.messages.find((m) => m.lane === spLane)!;
  const other = r.sock.messages.find((m) => m.lane !== spLane)!;
  assert.equal(spMsg.datagrams.length, segs);
  assert.equal(tsoSegments(spMsg.datagrams, 22, sp), ip.length - hdrLen);
  for (const d of spMsg.datagrams) assert.equal(laneOf(Buffer.from(d.subarray(22)), 16), spLane);
  assert.deepEqual(
    other.datagrams.map((d) => d.subarray(22)),
    [a, b],
  );
});
