/**
 * FlowTable: insertion, counting by 5-tuple / 3-tuple, overflow into `other` when full, the top-N
 * snapshot with its address filter, no allocation over 1M packets, and the dataplane over fakes
 * counting flows in both directions only when flowCounters is on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { FLOW_TABLE_SLOTS, FlowTable } from '../../src/dataplane/flow-table';
import { ipv4ToU32 } from '../../src/net/addr';
import { buildIcmpEcho, buildIpv4, buildIpv6 } from '../../src/testing';
import { pair, settle } from './fake-pair';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const PEER = ipv4ToU32('192.0.2.2');

/** udp builds an IPv4/UDP packet with the given ports and `payload` bytes. */
function udp(src: string, dst: string, sport: number, dport: number, payload = 10): Buffer {
  const l4 = Buffer.alloc(8 + payload);
  l4.writeUInt16BE(sport, 0);
  l4.writeUInt16BE(dport, 2);
  l4.writeUInt16BE(8 + payload, 4);
  return buildIpv4({ src, dst, protocol: 17, payload: l4 });
}

test('FlowTable: one slot per 5-tuple, 3-tuple for ICMP, exact counts, top N by bytes', () => {
  const ft = new FlowTable(64);
  const a = udp('10.244.0.1', '10.244.1.1', 1000, 53, 10);
  const b = udp('10.244.0.1', '10.244.1.1', 1001, 53, 100);
  const ping1 = buildIcmpEcho('10.244.0.1', '10.244.1.9', { seq: 1 });
  const ping2 = buildIcmpEcho('10.244.0.1', '10.244.1.9', { seq: 2 });
  for (let i = 0; i < 3; i++) ft.record(a, 0, a.length, PEER);
  ft.record(b, 0, b.length, PEER);
  ft.record(ping1, 0, ping1.length, PEER);
  ft.record(ping2, 0, ping2.length, PEER);
  const s = ft.snapshot(10);
  assert.equal(s.capacity, 64);
  assert.equal(s.used, 3, 'two UDP flows differing only in sport, one ICMP flow');
  assert.deepEqual(s.other, { packets: 0, bytes: 0 });
  assert.deepEqual(s.flows[0], {
    src: '10.244.0.1', dst: '10.244.1.9', proto: 1, sport: 0, dport: 0, peer: '192.0.2.2',
    packets: 2, bytes: 2 * ping1.length,
  }); // prettier-ignore
  const ua = s.flows.find((f) => f.sport === 1000)!;
  assert.deepEqual([ua.dport, ua.packets, ua.bytes], [53, 3, 3 * a.length]);
  assert.equal(s.flows.find((f) => f.sport === 1001)!.bytes, b.length);
  assert.equal(ft.snapshot(1).flows.length, 1);
  // Address filter: only flows to or from that address.
  assert.deepEqual(
    ft.snapshot(10, ipv4ToU32('10.244.1.9')).flows.map((f) => f.dst),
    ['10.244.1.9'],
  );
  assert.equal(ft.snapshot(10, ipv4ToU32('10.9.9.9')).flows.length, 0);
  // IPv6 and runts are not per-flow: counted in other.
  const v6 = buildIpv6(Buffer.alloc(16, 1), Buffer.alloc(16, 2), 8);
  ft.record(v6, 0, v6.length, PEER);
  ft.record(a, 0, 10, PEER);
  assert.deepEqual(ft.snapshot().other, { packets: 2, bytes: v6.length + 10 });
});

test('FlowTable: a full table counts new flows in other, known flows still count', () => {
  const ft = new FlowTable(16);
  const pkts: Buffer[] = [];
  for (let i = 0; i < 40; i++) pkts.push(udp('10.244.0.1', '10.244.1.1', 2000 + i, 80));
  for (const p of pkts) ft.record(p, 0, p.length, PEER);
  const s = ft.snapshot(100);
  assert.equal(s.used, 16);
  assert.equal(s.flows.length, 16);
  assert.equal(s.other.packets, 24);
  assert.equal(s.other.bytes, 24 * pkts[0]!.length);
  // A flow that got a slot keeps counting in it.
  const kept = pkts.find((p) => s.flows.some((f) => f.sport === p.readUInt16BE(20)))!;
  ft.record(kept, 0, kept.length, PEER);
  const after = ft.snapshot(100);
  assert.equal(after.flows.find((f) => f.sport === kept.readUInt16BE(20))!.packets, 2);
  assert.equal(after.other.packets, 24);
});

test('FlowTable: 1M packets over 1000 flows allocate nothing (heap delta < 1 MiB)', () => {
  const ft = new FlowTable(FLOW_TABLE_SLOTS);
  const SLOT = 64;
  const N = 1000;
  const buf = Buffer.alloc(SLOT * N);
  const lens = new Uint32Array(N);
  for (let i = 0; i < N; i++) {
    const p =
      i % 10 === 0
        ? buildIcmpEcho('10.244.0.1', `10.244.1.${i % 250}`, { size: 20 })
        : udp('10.244.0.1', '10.244.1.1', 3000 + i, 443, 20);
    p.copy(buf, i * SLOT);
    lens[i] = p.length;
  }
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const k = i % N;
      ft.record(buf, k * SLOT, lens[k]!, 0xc0000202);
    }
  };
  run(1_000_000); // warm up: let V8 optimize (and OSR) record() and the loop before measuring
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  run(1_000_000);
  const growth = process.memoryUsage().heapUsed - before;
  // Even 8 bytes per packet would be 8 MB; the slack is for V8's own bookkeeping (JIT, IC
  // feedback) while other test files load the machine.
  assert.ok(growth < 1024 * 1024, `heap grew by ${growth} bytes over 1M packets`);
  const s = ft.snapshot(FLOW_TABLE_SLOTS);
  const total = s.flows.reduce((a, f) => a + f.packets, 0) + s.other.packets;
  assert.equal(total, 2_000_000, 'every packet counted exactly once');
  assert.equal(s.flows.find((f) => f.sport === 3001)!.peer, '192.0.2.2');
});

test('dataplane over fakes: flows counted both ways with their peer, only with flowCounters', async (t) => {
  const { a, b, tunA, tunB } = pair('vxlan', [], { flowCounters: true });
  await a.start();
  await b.start();
  t.after(async () => {
    await a.stop();
    await b.stop();
  });
  const req = buildIcmpEcho('10.244.0.1', '10.244.1.1');
  const rep = buildIcmpEcho('10.244.1.1', '10.244.0.1');
  for (let i = 0; i < 3; i++) tunA.inject(req);
  for (let i = 0; i < 3; i++) tunB.inject(rep);
  for (let i = 0; i < 50 && (tunA.written.length < 3 || tunB.written.length < 3); i++) await settle();
  assert.equal(tunB.written.length, 3);
  assert.equal(tunA.written.length, 3);
  const f = a.flows()!;
  assert.deepEqual(f.egress.flows, [
    { src: '10.244.0.1', dst: '10.244.1.1', proto: 1, sport: 0, dport: 0, peer: '192.0.2.2', packets: 3, bytes: 3 * req.length },
  ]); // prettier-ignore
  assert.deepEqual(f.ingress.flows, [
    { src: '10.244.1.1', dst: '10.244.0.1', proto: 1, sport: 0, dport: 0, peer: '192.0.2.2', packets: 3, bytes: 3 * rep.length },
  ]); // prettier-ignore
  assert.equal(b.flows(), null, 'no flow counters without flowCounters');
});
