/**
 * The offload egress's scatter-gather trains through the `--src-port flow` source-port pool when
 * sockets fill up (partial writes): OffloadEgress (VXLAN, TSO cut into header + payload-slice
 * segments, one GSO train per flow) sends on a SrcPortPool whose sockets are in-memory fakes that
 * take only some messages per call and then report EAGAIN, the way `sendmmsg` stops at a full
 * socket buffer. Every datagram must still leave exactly once, on its flow's socket, in order,
 * byte-exact (each TCP segment's checksum valid, each flow's payload the bytes the application
 * wrote), TUN reads must pause while a socket is full, and every short send must count one stall.
 * The reference is the same reads sent with no socket ever full.
 *
 * Unit test: fakes only (the pool's sockets are recorded, not bound). The kernel side of the same
 * path is test/io/src-port-pool-trains.test.ts (loopback) and test/offload/stall.netns.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OffloadEgress } from '../../src/dataplane/egress-offload';
import { sumCounters } from '../../src/encap';
import { flowSourcePort } from '../../src/encap/flow-hash';
import { IoCounter, newIoCounters } from '../../src/io/counters';
import { newGsoState } from '../../src/io/gso-state';
import type { PacketBatch } from '../../src/io/packet-batch';
import { SrcPortPool } from '../../src/io/src-port-pool';
import { FakeVnetTun, ipv4, l4ChecksumValid, rigStages, tcp } from '../../src/testing';
import { checksumFold } from '../../src/wire/checksum';
import { pseudoSumIpv4 } from '../../src/wire/tcp';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_SIZE,
  writeVnetHdr,
} from '../../src/wire/virtio-net-hdr';

const LANES = 4;
const MSS = 1398;
/** VXLAN header + inner Ethernet: what precedes the inner IP packet in each datagram. */
const PREFIX = 22;

/**
 * FakeLaneSocket is one pool socket: it records each datagram as the kernel would send it (a
 * message's heads and tails gathered, then cut every gso_size bytes) and, per call, takes at most
 * the next entry of `budgets` messages before answering EAGAIN (no entry left: no limit).
 */
class FakeLaneSocket {
  readonly counters = newIoCounters();
  readonly gsoState = newGsoState();
  readonly fd = -1;
  readonly datagrams: Buffer[] = [];
  budgets: number[] = [];
  writable: (() => void) | null = null;
  constructor(readonly port: number) {}

  sendBatchGso(b: PacketBatch, from = 0): number {
    return this.send(b, from, true);
  }
  sendBatch(b: PacketBatch, from = 0): number {
    return this.send(b, from, false);
  }
  private send(b: PacketBatch, from: number, gso: boolean): number {
    this.counters[IoCounter.txSyscalls]!++;
    let budget = this.budgets.length > 0 ? this.budgets.shift()! : Infinity;
    for (let i = from; i < b.count;) {
      if (budget-- <= 0) {
        this.counters[IoCounter.txEagain]!++;
        return i;
      }
      const end = gso ? b.packetEnd(i) : i + 1;
      // A message is the gather of its members; GSO cuts it every gso_size bytes.
      const bytes = gso ? b.gather(i) : b.gather(i, false);
      const g = gso && b.gsoSizes[i]! > 0 ? b.gsoSizes[i]! : bytes.length;
      for (let at = 0; at < bytes.length; at += g) this.datagrams.push(bytes.subarray(at, at + g));
      this.counters[IoCounter.txPackets]! += Math.ceil(bytes.length / g);
      i = end;
    }
    return b.count;
  }
  onceWritable(cb: (() => void) | null): void {
    this.writable = cb;
  }
  offloads() {
    return { gso: true, gro: false, gsoRefused: null };
  }
  resetMtuSplit(): void {}
  ref(): void {}
  close(): void {}
}

/** fakePool is a SrcPortPool over FakeLaneSockets (its constructor is private: open() binds). */
function fakePool(sockets: FakeLaneSocket[]): SrcPortPool {
  const Ctor = SrcPortPool as unknown as new (s: unknown[], skipped: number, address: string) => SrcPortPool;
  return new Ctor(sockets, 0, '192.0.2.1');
}

/** PausingTun is FakeVnetTun that remembers whether the egress is watching it (reads on or paused). */
class PausingTun extends FakeVnetTun {
  watching = false;
  override onReadable(cb?: (() => void) | null): void {
    this.watching = cb != null;
  }
}

/** A TCP flow from 10.244.0.5:sport to 10.244.1.7:5201. */
interface Flow {
  sport: number;
  /** The payload the application wrote, in order. */
  bytes: Buffer[];
  seq: number;
}

/** superPacket is a kernel TSO read: virtio header (GSO_TCPV4, NEEDS_CSUM) + IPv4 + TCP + payload. */
function superPacket(f: Flow, len: number, fill: number): Buffer {
  const payload = Buffer.alloc(len);
  for (let i = 0; i < len; i++) payload[i] = (fill + i * 31 + (i >> 8)) & 0xff;
  f.bytes.push(payload);
  const pkt = ipv4('10.244.0.5', '10.244.1.7', 6, tcp(f.sport, 5201, f.seq, 1, 0x18, payload), { df: true });
  f.seq += len;
  pkt.writeUInt16BE(checksumFold(pseudoSumIpv4(pkt, 0, 6, pkt.length - 20)), 20 + 16);
  const v = Buffer.alloc(VIRTIO_NET_HDR_SIZE);
  writeVnetHdr(v, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 40, MSS, 20, 16);
  return Buffer.concat([v, pkt]);
}

/** flows returns `n` flows whose hashes pick `n` different lanes of LANES. */
function flows(n: number): Flow[] {
  const out: Flow[] = [];
  const seen = new Set<number>();
  for (let sport = 33000; out.length < n; sport++) {
    const p = ipv4('10.244.0.5', '10.244.1.7', 6, tcp(sport, 5201, 0, 1, 0x18));
    const lane = flowSourcePort(p, 0, p.length, 0, LANES - 1);
    if (seen.has(lane)) continue;
    seen.add(lane);
    out.push({ sport, bytes: [], seq: 0x7fff_f000 + sport });
  }
  return out;
}

/**
 * reads builds the TUN reads: rounds of one super-packet per flow, interleaved, lengths varied so
 * that most end in a shorter tail segment, one a whole number of segments.
 */
function reads(fs: Flow[]): Buffer[] {
  const out: Buffer[] = [];
  const sizes = [MSS * 5 + 321, MSS * 3, MSS * 9 + 1, 700, MSS * 20 + 999];
  for (let r = 0; r < 12; r++)
    for (let k = 0; k < fs.length; k++)
      out.push(superPacket(fs[k]!, sizes[(r + k) % sizes.length]!, r * 16 + k));
  return out;
}

/** Run is what one egress run left on the pool's sockets. */
interface Run {
  sockets: FakeLaneSocket[];
  egress: OffloadEgress;
  tun: PausingTun;
  pausedWhileStalled: boolean[];
  stallsSeen: number;
  drops: number;
}

/** run sends `rs` through an offload egress on a pool of fakes; `budgets[lane]` limit each call. */
function run(rs: Buffer[], budgets: number[][]): Run {
  const sockets = Array.from({ length: LANES }, (_, i) => new FakeLaneSocket(50000 + i));
  sockets.forEach((s, i) => (s.budgets = [...(budgets[i] ?? [])]));
  const pool = fakePool(sockets);
  const stages = rigStages({ lanes: LANES });
  const tun = new PausingTun();
  tun.queue.push(...rs);
  for (const x of rs) tun.raw.add(x);
  const egress = new OffloadEgress(tun, pool, stages, { prefix: PREFIX, readSlots: 8 });
  egress.start();
  const pausedWhileStalled: boolean[] = [];
  let stallsSeen = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    const full = sockets.find((s) => s.writable !== null);
    if (full !== undefined) {
      // A socket is full: the egress must have stopped reading the TUN until it drains.
      stallsSeen++;
      pausedWhileStalled.push(!tun.watching);
      const cb = full.writable!;
      full.writable = null;
      cb();
      continue;
    }
    if (tun.queue.length === 0) break;
    egress.drain();
  }
  egress.stop();
  return { sockets, egress, tun, pausedWhileStalled, stallsSeen, drops: sumCounters(stages.drops) };
}

/**
 * assertByteExact decodes every datagram of every socket: VXLAN + Ethernet prefix, an IPv4 TCP
 * segment no longer than the path MTU with a valid checksum, on the lane its flow hashes to; each
 * flow's payloads, in order, are exactly what the application wrote.
 */
function assertByteExact(r: Run, fs: Flow[]): void {
  const got = new Map<number, Buffer[]>();
  const socketOf = new Map<number, number>();
  r.sockets.forEach((s, lane) => {
    for (const d of s.datagrams) {
      assert.equal(d[0], 0x08, 'VXLAN I flag');
      const ip = Buffer.from(d.subarray(PREFIX));
      assert.ok(ip.length <= 1450, `segment of ${ip.length} bytes over the path MTU`);
      assert.equal(ip.readUInt16BE(2), ip.length, 'IPv4 total length');
      assert.ok(l4ChecksumValid(ip, 0, ip.length), 'TCP checksum valid from scratch');
      const sport = ip.readUInt16BE(20);
      assert.equal(socketOf.get(sport) ?? lane, lane, `flow ${sport} left on one socket`);
      socketOf.set(sport, lane);
      const hl = (ip[32]! >> 4) * 4;
      if (!got.has(sport)) got.set(sport, []);
      got.get(sport)!.push(ip.subarray(20 + hl));
    }
  });
  assert.equal(got.size, fs.length);
  for (const f of fs) {
    const payload = Buffer.concat(got.get(f.sport) ?? []);
    assert.ok(
      payload.equals(Buffer.concat(f.bytes)),
      `flow ${f.sport}: ${payload.length} bytes, in order, exact`,
    );
  }
  assert.equal(new Set(socketOf.values()).size, fs.length, 'each flow on its own socket');
}

test('pool lanes: scatter-gather trains of 4 flows split over 4 sockets, no socket full: byte-exact, one socket per flow', () => {
  const fs = flows(LANES);
  const r = run(reads(fs), []);
  assertByteExact(r, fs);
  assert.equal(r.egress.stalls, 0);
  assert.equal(r.drops, 0);
  assert.ok(
    r.egress.stats.superPackets === 12 * LANES && r.egress.stats.trains > 0,
    JSON.stringify(r.egress.stats),
  );
});

test('pool lanes: sockets full part-way through a batch (after 0, 1 or 2 messages): every datagram once, in order, byte-exact; TUN reads paused meanwhile', () => {
  const fs = flows(LANES);
  const rs = reads(fs);
  const ref = run(rs, []);
  // Lane 1 full at its first call after one message, then at once on the resumed call; lane 3
  // after two messages on several calls; lane 0 refuses a whole call (0 messages).
  const budgets = [[Infinity, 0, Infinity, 0], [1, 0, 1], [], [2, 2, 0, 2]];
  const r = run(rs, budgets);
  assertByteExact(r, fs);
  const eagain = r.sockets.map((s) => s.counters[IoCounter.txEagain]!);
  assert.ok(
    eagain[0]! >= 1 && eagain[1]! >= 1 && eagain[3]! >= 1 && eagain[2] === 0,
    `short sends: ${eagain}`,
  );
  assert.equal(r.stallsSeen, eagain[0]! + eagain[1]! + eagain[3]!);
  assert.equal(r.egress.stalls, r.stallsSeen, 'one stall counted per short send');
  assert.deepEqual(
    r.pausedWhileStalled,
    Array(r.stallsSeen).fill(true),
    'no TUN read while a socket is full',
  );
  assert.equal(r.drops, 0);
  // The same datagrams as with no socket ever full, socket by socket.
  r.sockets.forEach((s, lane) => {
    const want = ref.sockets[lane]!.datagrams;
    assert.equal(s.datagrams.length, want.length, `lane ${lane}`);
    s.datagrams.forEach((d, k) => assert.ok(d.equals(want[k]!), `lane ${lane} datagram ${k}`));
  });
  const sent = r.sockets.reduce((a, s) => a + s.counters[IoCounter.txPackets]!, 0);
  assert.equal(sent, r.egress.stats.segments, 'every segment sent exactly once');
});
