/**
 * Two weft nodes over a veth underlay, for each backend and I/O mode:
 *
 *   ns A                                         ns B
 *   weft link (TUN wa, 10.244.0.1/32)            weft link (TUN wb, 10.244.1.1/32)
 *     route 10.244.1.0/24 -> TUN                   route 10.244.0.0/24 -> TUN
 *   veth 192.0.2.1  <======== VXLAN 8472 / flannel-UDP 8285 ========>  veth 192.0.2.2
 *
 * Ping both ways, then 20 MB over TCP (socat) with SHA-256 compared on both ends, then the
 * counters must show the traffic and no unexpected drops. Finally SIGTERM must remove the device.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PAIR_MAC_A,
  cleanupFor,
  createUnderlay,
  ping,
  readWeftStats,
  requireRoot,
  startWeftPair,
  tcpTransfer,
} from '../helpers/netns';

for (const backend of ['vxlan', 'udp'] as const) {
  for (const io of ['batch', 'dgram'] as const) {
    test(`weft ${backend} pair, --io ${io}: ping both ways and a 20 MB TCP transfer with matching SHA-256`, async (t) => {
      requireRoot();
      const c = cleanupFor(t);
      const u = createUnderlay(c);
      const { a, b, devA } = await startWeftPair(u, { backend, flags: ['--io', io] });
      assert.equal(a.mac, backend === 'vxlan' ? PAIR_MAC_A : null);
      assert.match(a.startLine, new RegExp(`backend ${backend} io ${io}`));

      // MTU: underlay 1500 minus 50 (VXLAN) or 28 (flannel-UDP).
      const mtu = backend === 'vxlan' ? 1450 : 1472;
      assert.match(u.a.ip('link', 'show', devA), new RegExp(`mtu ${mtu}\\b`));
      assert.match(u.a.ip('route', 'show', '10.244.1.0/24'), new RegExp(`dev ${devA}`));

      const ab = ping(u.a, '10.244.1.1');
      assert.equal(ab.received, ab.transmitted, ab.output);
      const ba = ping(u.b, '10.244.0.1');
      assert.equal(ba.received, ba.transmitted, ba.output);
      // A full-size packet (MTU - 28 bytes of ICMP payload) must fit without fragmentation.
      const big = ping(u.a, '10.244.1.1', { count: 2, size: mtu - 28 });
      assert.equal(big.received, 2, big.output);

      const x = await tcpTransfer(u.b, u.a, { addr: '10.244.1.1' });
      assert.equal(x.bytesReceived, x.bytesSent);
      assert.equal(x.sha256Received, x.sha256Sent);

      const sa = await readWeftStats(a.proc);
      const sb = await readWeftStats(b.proc);
      assert.ok(sa.egress.packets > 10_000, `A sent ${sa.egress.packets} packets`);
      assert.ok(sb.ingress.bytes >= 20 * 1024 * 1024, `B received ${sb.ingress.bytes} bytes`);
      for (const s of [sa, sb]) {
        for (const reason of ['unknown_source', 'bad_vni', 'bad_inner_dst_mac', 'no_route', 'too_short']) {
          assert.equal(s.drops[reason] ?? 0, 0, `unexpected ${reason} drops: ${JSON.stringify(s.drops)}`);
        }
      }

      assert.equal(await a.proc.stop(), 0, a.proc.log);
      assert.match(a.proc.log, /weft link: stopped/);
      assert.throws(() => u.a.ip('link', 'show', devA), /command failed/);
      assert.equal(await b.proc.stop(), 0, b.proc.log);
    });
  }
}
