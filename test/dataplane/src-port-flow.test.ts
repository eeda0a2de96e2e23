/**
 * `--src-port flow` without the kernel: `weft link` flag parsing, and the egress stages writing the outer
 * IPv4 + UDP header with a flow-hashed source port (what the raw socket then sends).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLinkArgs } from '../../src/cli/commands/link';
import { renderTrace, traceOffline } from '../../src/cli/commands/trace';
import type { DebugRoutes } from '../../src/daemon/daemon';
import type { DataplaneStats } from '../../src/dataplane/node';
import { buildIcmpEcho } from '../../src/testing/packets';
import { EgressStages } from '../../src/dataplane/egress';
import { defaultSrcPort, parseSrcPortRange, srcPortRangeRule } from '../../src/dataplane/src-port';
import { flowSourcePort, makeVxlanConfig, newDropCounters } from '../../src/encap';
import { ConfigError } from '../../src/errors';
import { PacketBatch } from '../../src/io/packet-batch';
import { ipv4ToU32, macToBuffer } from '../../src/net/addr';
import { ChannelTun, buildIpv4, peerSpec, routerFor } from '../../src/testing';
import { internetChecksum } from '../../src/wire/checksum';

const BASE = ['--backend', 'vxlan', '--dev', 'weft0', '--local', '192.0.2.1', '--address', '10.244.0.1/32',
  '--peer', '10.244.1.0/24=192.0.2.2,0e:00:00:00:00:02']; // prettier-ignore

test('weft link --src-port: default flow over --io batch (fixed over dgram and for udp), a given range, errors name the flag', () => {
  const d = parseLinkArgs(BASE);
  assert.equal(d.config.srcPort, 'flow');
  assert.equal(parseLinkArgs([...BASE, '--io', 'dgram']).config.srcPort, 'fixed');
  assert.equal(parseLinkArgs([...BASE, '--io', 'dgram', '--src-port', 'flow']).config.srcPort, 'flow');
  assert.equal(parseLinkArgs([...BASE, '--src-port', 'fixed']).config.srcPort, 'fixed');
  assert.equal(d.config.srcPortMin, 49152);
  assert.equal(d.config.srcPortMax, 65535);
  const f = parseLinkArgs([...BASE, '--src-port', 'flow']);
  assert.equal(f.config.srcPort, 'flow');
  assert.equal(f.config.srcPortMin, 49152);
  const r = parseLinkArgs([...BASE, '--src-port=flow', '--src-port-range', '50000-50010']);
  assert.deepEqual([r.config.srcPortMin, r.config.srcPortMax], [50000, 50010]);
  const bad = (args: string[], field: string): void =>
    assert.throws(
      () => parseLinkArgs(args),
      (e: unknown) => e instanceof ConfigError && e.field === field,
    );
  bad([...BASE, '--src-port', 'random'], '--src-port');
  bad([...BASE, '--src-port-range', '60000-50000'], '--src-port-range');
  bad([...BASE, '--src-port-range', '0-10'], '--src-port-range');
  bad([...BASE, '--src-port-range', '1-65536'], '--src-port-range');
  bad([...BASE, '--src-port-range', '50000'], '--src-port-range');
  const udp = ['--backend', 'udp', ...BASE.slice(2, 8), '--peer', '10.244.1.0/24=192.0.2.2'];
  assert.equal(parseLinkArgs(udp).config.srcPort, 'fixed');
  bad([...udp, '--src-port', 'flow'], '--src-port');
});

test('defaultSrcPort: flow only for vxlan over --io batch', () => {
  assert.equal(defaultSrcPort('vxlan', 'batch'), 'flow');
  assert.equal(defaultSrcPort('vxlan', 'dgram'), 'fixed');
  assert.equal(defaultSrcPort('udp', 'batch'), 'fixed');
});

test('parseSrcPortRange / srcPortRangeRule', () => {
  assert.deepEqual(parseSrcPortRange('49152-65535'), { min: 49152, max: 65535 });
  assert.deepEqual(parseSrcPortRange('7-7'), { min: 7, max: 7 });
  assert.equal(srcPortRangeRule('1-65535'), null);
  assert.notEqual(srcPortRangeRule(' 1-2'), null);
  assert.notEqual(srcPortRangeRule('1--2'), null);
  assert.throws(() => parseSrcPortRange('a-b', 'FLANNELD_SRC_PORT_RANGE'), /FLANNELD_SRC_PORT_RANGE/);
});

function udpPacket(src: string, dst: string, sport: number, dport: number): Buffer {
  const payload = Buffer.alloc(16);
  payload.writeUInt16BE(sport, 0);
  payload.writeUInt16BE(dport, 2);
  payload.writeUInt16BE(16, 4);
  return buildIpv4({ src, dst, protocol: 17, payload });
}

test('EgressStages with outer: IPv4 (DF clear, TTL 64, valid checksum) + UDP (hashed source port, checksum 0) + VXLAN', () => {
  const router = routerFor([peerSpec('10.244.1.0/24', '192.0.2.2')]);
  const e = new EgressStages(
    new ChannelTun(),
    router,
    {
      backend: 'vxlan',
      vxlan: makeVxlanConfig({ localMac: macToBuffer('0e:00:00:00:00:01') }),
      port: 8472,
      pathMtu: 1450,
      outer: { localU32: ipv4ToU32('192.0.2.1'), srcPortMin: 50000, srcPortMax: 50999 },
    },
    newDropCounters(),
  );
  const pkts = [
    udpPacket('10.244.0.5', '10.244.1.7', 1000, 53),
    udpPacket('10.244.0.5', '10.244.1.7', 1001, 53),
    udpPacket('10.244.0.5', '10.244.1.7', 1000, 53),
  ];
  const batch = new PacketBatch(8, 2048);
  for (const p of pkts) batch.push(p, 0, p.length);
  assert.equal(e.processBatch(batch), 3);
  const sports: number[] = [];
  for (let k = 0; k < 3; k++) {
    const b = batch.buffer;
    const o = batch.offsets[k]!;
    const inner = pkts[k]!;
    assert.equal(batch.lengths[k], 20 + 8 + 8 + 14 + inner.length);
    assert.equal(batch.addrs[k], ipv4ToU32('192.0.2.2'));
    assert.equal(b[o], 0x45);
    assert.equal(b.readUInt16BE(o + 2), batch.lengths[k]);
    assert.equal(b[o + 6]! & 0x40, 0, 'DF clear');
    assert.equal(b[o + 8], 64);
    assert.equal(b[o + 9], 17);
    assert.equal(internetChecksum(b, o, 20), 0, 'IPv4 header checksum valid');
    assert.equal(b.readUInt32BE(o + 12), ipv4ToU32('192.0.2.1'));
    assert.equal(b.readUInt32BE(o + 16), ipv4ToU32('192.0.2.2'));
    const sport = b.readUInt16BE(o + 20);
    assert.equal(sport, flowSourcePort(inner, 0, inner.length, 50000, 50999));
    assert.equal(b.readUInt16BE(o + 22), 8472);
    assert.equal(b.readUInt16BE(o + 24), 8 + 8 + 14 + inner.length);
    assert.equal(b.readUInt16BE(o + 26), 0, 'UDP checksum 0 (RFC 7348 §5)');
    assert.equal(b[o + 28], 0x08, 'VXLAN I flag');
    assert.deepEqual(b.subarray(o + 50, o + 50 + inner.length), inner);
    sports.push(sport);
  }
  assert.equal(sports[0], sports[2], 'one flow, one port');
  assert.notEqual(sports[0], sports[1], 'these two flows hash to different ports');
});

test('EgressStages with lanes (source-port pool): each descriptor gets its flow hash scaled to the pool, the same for a flow', () => {
  const router = routerFor([peerSpec('10.244.1.0/24', '192.0.2.2')]);
  const e = new EgressStages(
    new ChannelTun(),
    router,
    {
      backend: 'vxlan',
      vxlan: makeVxlanConfig({ localMac: macToBuffer('0e:00:00:00:00:01') }),
      port: 8472,
      pathMtu: 1450,
      lanes: 16,
    },
    newDropCounters(),
  );
  const pkts: Buffer[] = [];
  for (let i = 0; i < 24; i++) pkts.push(udpPacket('10.244.0.5', '10.244.1.7', 1000 + (i % 12), 53));
  const batch = new PacketBatch(32, 2048);
  for (const p of pkts) batch.push(p, 0, p.length);
  assert.equal(e.processBatch(batch), 24);
  const lanes = new Set<number>();
  for (let k = 0; k < 24; k++) {
    const inner = pkts[k]!;
    const lane = batch.lanes[k]!;
    assert.equal(lane, flowSourcePort(inner, 0, inner.length, 0, 15));
    assert.equal(lane, batch.lanes[k % 12]!, 'the same flow, the same lane');
    // The socket adds the outer headers: the descriptor is the VXLAN payload.
    assert.equal(batch.lengths[k], 8 + 14 + inner.length);
    lanes.add(lane);
  }
  assert.ok(lanes.size >= 4, `12 flows should spread over several of 16 lanes: ${[...lanes]}`);
});

test('weft trace with --src-port flow: the sample frame leaves from the pool port its flow hashes to', () => {
  const routes: DebugRoutes = {
    node: {
      backend: 'vxlan', dev: 'flannel.1', subnet: '10.244.1.0/24', network: '10.244.0.0/16', publicIp: '192.0.2.1', localIp: '192.0.2.1',
      iface: 'eth0', vni: 1, port: 8472, vtepMac: '02:00:00:00:00:01', mtu: 1450, io: 'batch', leaseKey: '10.244.1.0-24', leaseExpiration: null,
    },
    peers: [
      { subnet: '10.244.3.0/24', publicIp: '192.0.2.3', vtepMac: '02:00:00:00:00:03', backend: 'vxlan', port: 8472, leaseKey: '10.244.3.0-24' },
    ],
    direct: [],
    ignored: [],
  } as unknown as DebugRoutes; // prettier-ignore
  const ports = [50001, 50063, 50125, 50188];
  const stats = {
    egress: { packets: 0, bytes: 0 },
    egressDrops: {},
    routes: { peers: 1 },
    srcPort: { mode: 'flow', min: 50000, max: 50249, ports },
    workers: { count: 1, alive: 1, exits: 0 },
  } as unknown as DataplaneStats;
  const r = traceOffline('10.244.3.9', routes, stats);
  const inner = buildIcmpEcho('10.244.1.0', '10.244.3.9', { size: 56 });
  assert.equal(r.outer?.srcPort, ports[flowSourcePort(inner, 0, inner.length, 0, 3)]);
  assert.match(renderTrace(r), new RegExp(`UDP ${r.outer?.srcPort} -> 8472`));
  const fixed = traceOffline('10.244.3.9', routes, {
    ...stats,
    srcPort: { mode: 'fixed', min: 8472, max: 8472 },
  } as DataplaneStats);
  assert.equal(fixed.outer?.srcPort, 8472);
});
