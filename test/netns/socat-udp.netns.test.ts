/**
 * weft flannel-UDP <-> socat. Debian's `socat TUN:... UDP:...` carries the raw IP packet as the
 * UDP payload, which is exactly flannel-UDP's wire format, so an independent implementation must
 * interoperate:
 *
 *   ns A: weft link --backend udp (TUN, 10.246.0.1/32)   --peer 10.246.0.2/32=192.0.2.2
 *   ns B: socat TUN:10.246.0.2/24 UDP:192.0.2.1:8285,sourceport=8285
 *   veth 192.0.2.1  <======== UDP 8285 ========>  veth 192.0.2.2
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanupFor,
  createUnderlay,
  ping,
  readWeftStats,
  requireRoot,
  startSocatTun,
  startWeftLink,
  tcpTransfer,
  uniqueName,
} from '../helpers/netns';

for (const io of ['batch', 'dgram'] as const) {
  test(`weft flannel-UDP (--io ${io}) interoperates with socat TUN/UDP: ping and TCP both ways`, async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const u = createUnderlay(c);
    const dev = uniqueName('wu');
    const w = await startWeftLink(u.a, [
      '--backend', 'udp', '--io', io, '--dev', dev, '--local', u.aIp, '--address', '10.246.0.1/32',
      '--peer', `10.246.0.2/32=${u.bIp}`,
    ]); // prettier-ignore
    assert.equal(w.mac, null);
    await startSocatTun(u.b, {
      dev: uniqueName('st'),
      address: '10.246.0.2/24',
      local: u.bIp,
      remote: u.aIp,
      port: 8285,
      mtu: u.mtu - 28,
    });

    const ab = ping(u.a, '10.246.0.2');
    assert.equal(ab.received, ab.transmitted, ab.output);
    const ba = ping(u.b, '10.246.0.1');
    assert.equal(ba.received, ba.transmitted, ba.output);

    const x = await tcpTransfer(u.b, u.a, { addr: '10.246.0.2' });
    assert.equal(x.sha256Received, x.sha256Sent);
    assert.equal(x.bytesReceived, x.bytesSent);
    const y = await tcpTransfer(u.a, u.b, { addr: '10.246.0.1', port: 5002, bytes: 4 << 20 });
    assert.equal(y.sha256Received, y.sha256Sent);

    // flannel-UDP decrements TTL on send: socat saw our packets, so the ping replies prove it
    // accepted them; weft must not have dropped socat's packets.
    const s = await readWeftStats(w.proc);
    assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
    assert.ok(s.ingress.bytes > 4 << 20);
    assert.equal(await w.proc.stop(), 0);
  });
}
