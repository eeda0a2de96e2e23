/**
 * Counters must add up on every ingress path: every datagram the socket read (including the ones
 * it discarded as too big for a slot) is either delivered to the TUN (`packets`) or dropped under
 * exactly one reason. Fuzzed with TCP runs (complete, partial and corrupted checksums: the
 * coalescer drops single segments out of merged runs), UDP (single datagrams, and runs of one
 * flow with IDs counting up, some corrupted: the UDP coalescer drops those out of its USO runs),
 * mutated frames, unknown sources, oversized datagrams and refused TUN writes, through the offload
 * ingress (GRO + TCP coalescing, with and without UDP coalescing), the offload ingress without
 * coalescing, and the plain ingress. In-memory socket and TUN fakes (unit
 * test; the paths' own code runs unchanged).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngressStages } from '../../src/dataplane/ingress';
import { PlainIngress } from '../../src/dataplane/ingress-plain';
import type { PacketIo } from '../../src/io/packet-io';
import type { TunDevice } from '../../src/io/tun-device';
import {
  DropReason,
  makeVxlanConfig,
  newAnomalyCounters,
  newDropCounters,
  sumCounters,
  VXLAN_ENCAP_SIZE,
  type DropCounters,
} from '../../src/encap';
import { IoCounter, newIoCounters } from '../../src/io/counters';
import type { BatchUdpSocket } from '../../src/io/batch-udp-socket';
import type { PacketBatch } from '../../src/io/packet-batch';
import type { Tun } from '../../src/io/tun';
import { OffloadIngress } from '../../src/dataplane/ingress-offload';
import { ipv4ToU32 } from '../../src/net/addr';
import { fillIpv4Checksum } from '../../src/wire/ipv4';
import type { Router } from '../../src/route/router';
import { peerSpec, routerFor } from '../../src/testing/routes';
import { L4_KINDS as KINDS, writeL4Packet as writePacket } from '../../src/testing/packets';
import { mulberry32, mutate } from './mutate';

const MAC_LOCAL = Buffer.from('0e0000000b02', 'hex');
const MAC_PEER = Buffer.from('0e0000000a01', 'hex');
const PEER = '192.0.2.1';
const STRANGER = ipv4ToU32('192.0.2.99');
const MAX_DATAGRAM = 1600;

/** Datagram is one received UDP payload (or an oversized one the socket discards). */
interface Datagram {
  data: Buffer;
  from: number;
  oversized: boolean;
}

/** FakeSocket hands out queued datagrams in batches like the addon (slot k at dataOffset(k)). */
class FakeSocket {
  readonly counters = newIoCounters();
  readonly queue: Datagram[] = [];
  recvBatchGro(batch: PacketBatch, slots = batch.capacity): number {
    return this.fill(batch, slots);
  }
  recvBatch(batch: PacketBatch): number {
    return this.fill(batch, batch.capacity);
  }
  private fill(batch: PacketBatch, slots: number): number {
    let n = 0;
    let slot = 0;
    while (slot < slots && this.queue.length > 0) {
      const d = this.queue.shift()!;
      const at = batch.dataOffset(slot++);
      if (d.oversized) {
        this.counters[IoCounter.rxTruncated]++;
        continue;
      }
      d.data.copy(batch.buffer, at);
      batch.offsets[n] = at;
      batch.lengths[n] = d.data.length;
      batch.addrs[n] = d.from;
      batch.ports[n] = 8472;
      this.counters[IoCounter.rxPackets]++;
      n++;
    }
    batch.count = n;
    return n;
  }
  sendBatch(batch: PacketBatch): number {
    return batch.count;
  }
  onReadable(): void {}
  onceWritable(): void {}
  ref(): void {}
  close(): void {}
  get mode(): 'batch' {
    return 'batch';
  }
  readonly address = '192.0.2.2';
  readonly port = 8472;
}

/** FakeTun takes writes, refusing a fraction of them (like EAGAIN / EINVAL). */
class FakeTun {
  readonly name = 'fake0';
  readonly counters = newIoCounters();
  writes = 0;
  refused = 0;
  constructor(private readonly refuse: () => boolean) {}
  writeBatch(batch: PacketBatch, start = 0, end = batch.count, status?: Uint8Array): number {
    let w = 0;
    // A train of descriptors (a gathered super-packet) is one packet, as in the addon's writev.
    for (let i = start; i < end;) {
      const next = Math.min(batch.packetEnd(i), end);
      const ok = !this.refuse();
      if (status !== undefined) status.fill(ok ? 1 : 0, i, next);
      if (ok) w++;
      else this.refused++;
      i = next;
    }
    this.writes += w;
    return w;
  }
  readBatch(batch: PacketBatch): number {
    batch.count = 0;
    return 0;
  }
  onReadable(): void {}
  close(): void {}
}

function vxlanFrame(inner: Buffer, innerLen: number): Buffer {
  const f = Buffer.alloc(VXLAN_ENCAP_SIZE + innerLen);
  f[0] = 0x08;
  f.writeUIntBE(1, 4, 3);
  MAC_LOCAL.copy(f, 8);
  MAC_PEER.copy(f, 14);
  f.writeUInt16BE(inner[0]! >>> 4 === 6 ? 0x86dd : 0x0800, 20);
  inner.copy(f, 22, 0, innerLen);
  return f;
}

/** Traffic generates datagrams: TCP runs (some segments partial, some corrupt), UDP, junk. */
class Traffic {
  private readonly scratch = Buffer.alloc(4000);
  private seq = 1000;
  constructor(private readonly rnd: () => number) {}

  /** run returns `n` consecutive segments of one TCP flow; segment `bad` (or none) is corrupted. */
  run(n: number, bad: number, partial: (i: number) => boolean, v6 = false): Datagram[] {
    const out: Datagram[] = [];
    for (let i = 0; i < n; i++) {
      const len = writePacket(this.scratch, 0, KINDS[v6 ? 2 : 0]!, {
        payload: 1000,
        partial: partial(i),
        seq: this.seq,
        seed: this.seq,
      });
      this.seq = (this.seq + 1000) >>> 0;
      if (i === bad) this.scratch[len - 7]! ^= 0x81;
      out.push({ data: vxlanFrame(this.scratch, len), from: ipv4ToU32(PEER), oversized: false });
    }
    return out;
  }

  /** udpRun returns `n` datagrams of one UDP flow (IPv4 IDs counting up); `bad` is corrupted. */
  udpRun(n: number, bad: number, payload: number, v6 = false): Datagram[] {
    const out: Datagram[] = [];
    for (let i = 0; i < n; i++) {
      const len = writePacket(this.scratch, 0, KINDS[v6 ? 3 : 1]!, {
        payload: i === n - 1 ? Math.min(payload, 1 + (this.seq % payload)) : payload,
        partial: false,
        seed: this.seq,
      });
      if (!v6) {
        this.scratch.writeUInt16BE(this.seq & 0xffff, 4);
        fillIpv4Checksum(this.scratch, 0);
      }
      this.seq = (this.seq + 1) >>> 0;
      if (i === bad) this.scratch[len - 1]! ^= 0x24;
      out.push({ data: vxlanFrame(this.scratch, len), from: ipv4ToU32(PEER), oversized: false });
    }
    return out;
  }

  /** mixed returns a random datagram of any kind. */
  mixed(): Datagram[] {
    const r = this.rnd();
    if (r < 0.1) {
      const n = 1 + Math.floor(this.rnd() * 70);
      const bad = this.rnd() < 0.3 ? Math.floor(this.rnd() * n) : -1;
      return this.udpRun(n, bad, 1 + Math.floor(this.rnd() * 1200), this.rnd() < 0.3);
    }
    if (r < 0.45) {
      const n = 1 + Math.floor(this.rnd() * 6);
      const bad = this.rnd() < 0.3 ? Math.floor(this.rnd() * n) : -1;
      const p = this.rnd();
      return this.run(n, bad, () => this.rnd() < p, this.rnd() < 0.3);
    }
    if (r < 0.6) {
      const k = KINDS[1 + Math.floor(this.rnd() * 3)]!;
      const len = writePacket(this.scratch, 0, k, {
        payload: Math.floor(this.rnd() * 1200),
        partial: this.rnd() < 0.5,
      });
      return [{ data: vxlanFrame(this.scratch, len), from: ipv4ToU32(PEER), oversized: false }];
    }
    if (r < 0.85) {
      const [d] = this.run(1, -1, () => this.rnd() < 0.5);
      const work = Buffer.alloc(d!.data.length + 64);
      const len = mutate(this.rnd, d!.data, d!.data.length, work, 0, {
        lengthFields: [24],
        headerBytes: 22 + 52,
      });
      return [{ data: Buffer.from(work.subarray(0, len)), from: ipv4ToU32(PEER), oversized: false }];
    }
    if (r < 0.93) return [{ ...this.run(1, -1, () => true)[0]!, from: STRANGER }];
    return [{ data: Buffer.alloc(0), from: ipv4ToU32(PEER), oversized: true }];
  }
}

function router(): Router {
  return routerFor([peerSpec('10.244.0.0/24', PEER, 'vxlan', MAC_PEER)]);
}

type Path = 'offload+coalesce+uso' | 'offload+coalesce' | 'offload' | 'plain';

interface Rig {
  sock: FakeSocket;
  tun: FakeTun;
  ingress: IngressStages;
  drops: DropCounters;
  drain(): void;
}

function rig(path: Path, refuse: () => boolean): Rig {
  const sock = new FakeSocket();
  const tun = new FakeTun(refuse);
  const drops = newDropCounters();
  const cfg = { backend: 'vxlan' as const, vxlan: makeVxlanConfig({ vni: 1, localMac: MAC_LOCAL }) };
  const ingress = new IngressStages(router(), cfg, drops, newAnomalyCounters());
  if (path === 'plain') {
    const plain = new PlainIngress(tun as unknown as TunDevice, sock as unknown as PacketIo, ingress, {
      batchSize: 32,
      maxPacket: MAX_DATAGRAM,
    });
    return { sock, tun, ingress, drops, drain: () => plain.drain() };
  }
  const gro = path.startsWith('offload+coalesce');
  const off = new OffloadIngress(tun as unknown as Tun, sock as unknown as BatchUdpSocket, ingress, {
    gro,
    coalesce: gro,
    slots: 16,
    maxDatagram: MAX_DATAGRAM,
    mtu: 1450,
    uso: path === 'offload+coalesce+uso',
  });
  return { sock, tun, ingress, drops, drain: () => off.drain() };
}

function read(r: Rig): number {
  return r.sock.counters[IoCounter.rxPackets]! + r.sock.counters[IoCounter.rxTruncated]!;
}

test('ingress (offload+coalesce): 64 small datagrams of one flow cost 64 TUN writes without USO, 1 per batch with', () => {
  for (const path of ['offload+coalesce', 'offload+coalesce+uso'] as const) {
    const r = rig(path, () => false);
    const t = new Traffic(mulberry32(3));
    r.sock.queue.push(...t.udpRun(64, -1, 36));
    r.drain();
    assert.equal(r.ingress.packets, 64);
    // The rig receives 16 datagrams per batch (no GRO trains in the fake socket).
    assert.equal(r.tun.writes, path === 'offload+coalesce' ? 64 : 4, path);
    assert.equal(r.ingress.packets + sumCounters(r.drops), read(r));
  }
});

test('ingress (offload+coalesce+uso): runs of 4 UDP datagrams with the second one bad', () => {
  const r = rig('offload+coalesce+uso', () => false);
  const t = new Traffic(mulberry32(5));
  for (let i = 0; i < 100; i++) r.sock.queue.push(...t.udpRun(4, 1, 500));
  while (r.sock.queue.length > 0) r.drain();
  assert.equal(read(r), 400);
  assert.equal(r.ingress.packets, 300);
  assert.equal(r.drops[DropReason.badInnerChecksum], 100);
  // Each run (4 per 16-datagram batch) leaves its first alone and a super-packet of the last two.
  assert.equal(r.tun.writes, 200);
  assert.equal(r.ingress.packets + sumCounters(r.drops), read(r));
});

for (const path of ['offload+coalesce+uso', 'offload+coalesce', 'offload', 'plain'] as const) {
  test(`ingress counters (${path}): 200 runs of 3 segments with the middle one bad`, () => {
    const r = rig(path, () => false);
    const t = new Traffic(mulberry32(1));
    for (let i = 0; i < 200; i++) r.sock.queue.push(...t.run(3, 1, () => false));
    while (r.sock.queue.length > 0) r.drain();
    assert.equal(read(r), 600);
    if (path.startsWith('offload+coalesce')) {
      // The coalescer finds the bad segment; its two neighbours are delivered, one write each.
      assert.equal(r.ingress.packets, 400);
      assert.equal(r.drops[DropReason.badInnerChecksum], 200);
      assert.equal(r.tun.writes, 400);
    } else {
      // Without coalescing nothing is validated here: the kernel behind the TUN checks each one.
      assert.equal(r.ingress.packets, 600);
      assert.equal(r.tun.writes, 600);
    }
    assert.equal(r.ingress.packets + sumCounters(r.drops), read(r));
  });

  test(`ingress counters (${path}): fuzzed traffic, read = delivered + dropped by reason`, () => {
    const rnd = mulberry32(path.length * 7919);
    const r = rig(path, () => rnd() < 0.03);
    const t = new Traffic(rnd);
    let fed = 0;
    while (fed < 60_000) {
      const burst = 1 + Math.floor(rnd() * 40);
      for (let i = 0; i < burst; i++) {
        const ds = t.mixed();
        r.sock.queue.push(...ds);
        fed += ds.length;
      }
      while (r.sock.queue.length > 0) r.drain();
      assert.equal(r.ingress.packets + sumCounters(r.drops), read(r), `after ${fed} datagrams`);
    }
    assert.equal(read(r), fed);
    assert.ok(r.tun.refused > 0 && r.drops[DropReason.tunWriteError]! >= r.tun.refused);
    assert.ok(r.drops[DropReason.oversized]! > 0, 'oversized datagrams counted as a drop reason');
    assert.equal(r.drops[DropReason.oversized], r.sock.counters[IoCounter.rxTruncated]);
    assert.ok(r.drops[DropReason.unknownSource]! > 0);
    if (path.startsWith('offload+coalesce')) assert.ok(r.drops[DropReason.badInnerChecksum]! > 0);
    assert.ok(r.ingress.packets > fed / 2, `${r.ingress.packets} delivered`);
  });
}
