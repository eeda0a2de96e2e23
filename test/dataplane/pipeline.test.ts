/**
 * The dataplane over in-memory fakes (src/testing): two DataplaneNodes joined by a
 * ChannelSocketPair, each with a ChannelTun. No kernel objects, no root.
 *
 *   ChannelTun A -> [A egress] -> ChannelUdp 192.0.2.1 ~~> 192.0.2.2 -> [B ingress] -> ChannelTun B
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EgressStages } from '../../src/dataplane/egress';
import { DropReason, makeVxlanConfig, newDropCounters } from '../../src/encap';
import { PacketBatch } from '../../src/io/packet-batch';
import { ipv4ToU32, ipv6ToBuffer } from '../../src/net/addr';
import { ChannelTun, buildIcmpEcho, buildIpv4, buildIpv6, peerSpec, routerFor } from '../../src/testing';
import { MAC_A, MAC_B, pair, settle, until } from './fake-pair';

for (const backend of ['vxlan', 'udp'] as const) {
  test(`${backend}: a packet injected into A's TUN comes out of B's TUN, and back`, async (t) => {
    const p = pair(backend);
    await p.a.start();
    await p.b.start();
    t.after(async () => {
      await p.a.stop();
      await p.b.stop();
    });
    assert.equal(p.a.mtu, backend === 'vxlan' ? 1450 : 1472);
    const echo = buildIcmpEcho('10.244.0.1', '10.244.1.1', { size: 100 });
    for (let i = 0; i < 100; i++) p.tunA.inject(echo);
    await until(() => p.tunB.written.length === 100, 'B to receive 100 packets');
    const got = p.tunB.written[0]!;
    assert.equal(got.length, echo.length);
    if (backend === 'vxlan') {
      assert.deepEqual(got, echo);
      // On the wire: VXLAN header with VNI 1, inner Ethernet dst = B's MAC, src = A's MAC.
      const wire = p.sock.a.sent[0]!;
      assert.equal(wire.data.length, 8 + 14 + echo.length);
      assert.equal(wire.data[0], 0x08);
      assert.equal(wire.data.readUIntBE(4, 3), 1);
      assert.deepEqual(wire.data.subarray(8, 14), MAC_B);
      assert.deepEqual(wire.data.subarray(14, 20), MAC_A);
      assert.equal(wire.port, 8472);
      assert.equal(wire.addr, ipv4ToU32('192.0.2.2'));
    } else {
      // flannel-UDP: raw IP, TTL decremented once (checksum patched), nothing else changed.
      assert.equal(got[8], echo[8]! - 1);
      assert.deepEqual(got.subarray(20), echo.subarray(20));
      assert.equal(p.sock.a.sent[0]!.data.length, echo.length);
    }
    p.tunB.inject(buildIcmpEcho('10.244.1.1', '10.244.0.1'));
    await until(() => p.tunA.written.length === 1, 'A to receive the reply');
    const sa = p.a.stats();
    const sb = p.b.stats();
    assert.equal(sa.egress.packets, 100);
    assert.equal(sb.ingress.packets, 100);
    assert.equal(sb.ingress.bytes, 100 * echo.length);
    assert.deepEqual(sa.drops, {});
    assert.deepEqual(sb.drops, {});
  });
}

test('udp: a route miss is answered with ICMP net unreachable written back into the TUN', async (t) => {
  const p = pair('udp');
  await p.a.start();
  t.after(() => p.a.stop());
  const echo = buildIcmpEcho('10.244.0.1', '10.99.0.1');
  p.tunA.inject(echo);
  await until(() => p.tunA.written.length === 1, 'an ICMP reply');
  const r = p.tunA.written[0]!;
  assert.equal(r[9], 1, 'protocol ICMP');
  assert.equal(
    r.readUInt32BE(12),
    ipv4ToU32('10.99.0.1'),
    'from the unreachable destination (a local source is a martian)',
  );
  assert.equal(r.readUInt32BE(16), ipv4ToU32('10.244.0.1'), 'to the sender');
  assert.equal(r[20], 3, 'destination unreachable');
  assert.equal(r[21], 0, 'net unreachable');
  assert.deepEqual(r.subarray(28, 48), echo.subarray(0, 20), 'quotes the offending header');
  assert.equal(p.a.stats().egressDrops.no_route, 1);
  assert.equal(p.sock.a.sent.length, 0);
});

test('vxlan: a route miss is only counted (no ICMP)', async (t) => {
  const p = pair('vxlan');
  await p.a.start();
  t.after(() => p.a.stop());
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.99.0.1'));
  await until(() => (p.a.stats().egressDrops.no_route ?? 0) === 1, 'a noRoute drop');
  await settle();
  assert.equal(p.tunA.written.length, 0);
});

test('an oversize DF packet gets ICMP fragmentation-needed with the path MTU; without DF it is sent', async (t) => {
  const p = pair('vxlan');
  // TUN MTU above what the underlay carries, as with a misconfigured --mtu.
  p.a.config.mtu = 1600;
  await p.a.start();
  await p.b.start();
  t.after(async () => {
    await p.a.stop();
    await p.b.stop();
  });
  const payload = Buffer.alloc(1500);
  p.tunA.inject(buildIpv4({ src: '10.244.0.1', dst: '10.244.1.1', df: true, payload }));
  await until(() => p.tunA.written.length === 1, 'frag-needed');
  const r = p.tunA.written[0]!;
  assert.equal(r[20], 3);
  assert.equal(r[21], 4, 'fragmentation needed');
  assert.equal(r.readUInt16BE(26), 1450, 'next-hop MTU = underlay 1500 - 50');
  assert.equal(p.a.stats().egressDrops.too_big, 1);
  p.tunA.inject(buildIpv4({ src: '10.244.0.1', dst: '10.244.1.1', df: false, payload }));
  await until(() => p.tunB.written.length === 1, 'the DF-clear packet to arrive');
  assert.equal(p.tunB.written[0]!.length, 1520);
});

test('frames from an unknown underlay source are dropped before decapsulation', async (t) => {
  const p = pair('vxlan');
  await p.b.start();
  t.after(() => p.b.stop());
  // A valid frame for B, delivered once from a stranger's address and once from A's.
  const frame = Buffer.alloc(22 + 84);
  frame[0] = 0x08;
  frame.writeUIntBE(1, 4, 3);
  MAC_B.copy(frame, 8);
  MAC_A.copy(frame, 14);
  frame.writeUInt16BE(0x0800, 20);
  buildIcmpEcho('10.244.0.1', '10.244.1.1').copy(frame, 22);
  p.sock.net.inject('192.0.2.99', 40000, '192.0.2.2', 8472, frame);
  p.sock.net.inject('192.0.2.1', 40000, '192.0.2.2', 8472, frame);
  await until(() => p.tunB.written.length === 1, 'the known-source frame');
  assert.equal(p.b.stats().ingressDrops.unknown_source, 1);
});

test('a full socket buffer pauses TUN reads; the rest of the batch is sent in order when writable', async (t) => {
  const p = pair('udp');
  await p.a.start();
  await p.b.start();
  t.after(async () => {
    await p.a.stop();
    await p.b.stop();
  });
  p.sock.a.blockSends(3);
  for (let i = 0; i < 10; i++) p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.244.1.1', { seq: i }));
  await until(() => p.tunB.written.length === 3, 'the first 3 packets');
  await settle();
  assert.equal(p.tunB.written.length, 3, 'nothing more while blocked');
  assert.equal(p.a.stats().egress.stalls, 1);
  p.sock.a.unblock();
  await until(() => p.tunB.written.length === 10, 'all 10 packets');
  assert.deepEqual(
    p.tunB.written.map((b) => b.readUInt16BE(26)),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.deepEqual(p.a.stats().drops, {});
});

test('updatePeers swaps the route table: a new subnet becomes reachable, a removed one does not', async (t) => {
  const p = pair('udp');
  await p.a.start();
  t.after(() => p.a.stop());
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.244.2.1'));
  await until(() => (p.a.stats().egressDrops.no_route ?? 0) === 1, 'a miss');
  await p.a.updatePeers([p.peer('10.244.2.0/24', '192.0.2.2', MAC_B)]);
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.244.2.1'));
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.244.1.1'));
  await until(() => (p.a.stats().egressDrops.no_route ?? 0) === 2, 'the old subnet to miss');
  assert.equal(p.sock.a.sent.length, 1);
  assert.equal(p.a.stats().routes.peers, 1);
});

test('IPv6 inner packets route on the destination address and carry EtherType 0x86DD', async (t) => {
  const p = pair('vxlan', []);
  await p.a.updatePeers([
    p.peer('10.244.1.0/24', '192.0.2.2', MAC_B),
    p.peer('fd00:1::/64', '192.0.2.2', MAC_B),
  ]);
  await p.a.start();
  await p.b.start();
  t.after(async () => {
    await p.a.stop();
    await p.b.stop();
  });
  const v6 = buildIpv6(ipv6ToBuffer('fd00:0::1'), ipv6ToBuffer('fd00:1::5'), 8);
  p.tunA.inject(v6);
  await until(() => p.tunB.written.length === 1, 'the IPv6 packet');
  assert.deepEqual(p.tunB.written[0], v6);
  assert.equal(p.sock.a.sent[0]!.data.readUInt16BE(20), 0x86dd);
});

test('EgressStages.processBatch: bad versions, short packets and backend mismatches are dropped by reason', () => {
  const router = routerFor([peerSpec('10.1.0.0/16', '192.0.2.9', 'udp')]);
  const drops = newDropCounters();
  const tun = new ChannelTun();
  const e = new EgressStages(
    tun,
    router,
    {
      backend: 'vxlan',
      vxlan: makeVxlanConfig({ localMac: MAC_A }),
      port: 8472,
      pathMtu: 1450,
    },
    drops,
  );
  const batch = new PacketBatch(8, 2048);
  batch.push(buildIcmpEcho('10.0.0.1', '10.1.0.1'), 0, 84); // udp peer, vxlan node
  batch.push(Buffer.from([0x50, 0, 0, 0]), 0, 4); // version 5
  batch.push(Buffer.from([0x45, 0, 0]), 0, 3); // too short for IPv4
  assert.equal(e.processBatch(batch), 0);
  assert.equal(batch.count, 0);
  assert.equal(drops[DropReason.peerBackendMismatch], 1);
  assert.equal(drops[DropReason.badIpVersion], 1);
  assert.equal(drops[DropReason.tooShort], 1);
});

test('link-scope packets from the TUN (neighbour discovery, MLD, IPv4 local control) are counted as link_scope, not no_route', async (t) => {
  const p = pair('udp');
  await p.a.start();
  t.after(() => p.a.stop());
  const src = ipv6ToBuffer('fe80::1');
  for (const dst of ['ff02::2', 'ff02::16', 'ff02::1:ff00:1', 'ff01::1', 'fe80::2']) {
    p.tunA.inject(buildIpv6(src, ipv6ToBuffer(dst), 8, 255));
  }
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '224.0.0.251'));
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '255.255.255.255'));
  // Not link scope: site-local multicast and 224.0.1.x are routable scopes; a missing lease stays no_route.
  p.tunA.inject(buildIpv6(src, ipv6ToBuffer('ff05::2'), 8, 255));
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '224.0.1.1'));
  p.tunA.inject(buildIcmpEcho('10.244.0.1', '10.99.0.1'));
  await until(() => (p.a.stats().egressDrops.link_scope ?? 0) === 7, '7 link-scope drops');
  await until(() => (p.a.stats().egressDrops.no_route ?? 0) === 3, '3 no-route drops');
  await settle();
  // flannel-UDP answers a unicast route miss with ICMP net unreachable (none for multicast, RFC
  // 1122 §3.2.2), and never a link-scope packet.
  assert.equal(p.tunA.written.length, 1, 'ICMP only for the unicast route miss');
  assert.equal(p.sock.a.sent.length, 0);
});
