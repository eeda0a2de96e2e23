/**
 * ICMP errors weft writes back into the TUN reach the sender (needs root; CI runs as root).
 *
 * A packet routed into the TUN for which weft has no peer gets ICMP net-unreachable, as flannel's
 * udp backend answers for its whole-Network route. The error must not come from one of the host's
 * own addresses: the kernel drops such a packet as a martian before any socket sees it, and ping
 * would report only a timeout. (With vxlan, as with flannel.1, a packet for no peer is dropped
 * silently: flannel's vxlan backend routes only its peers' subnets to the device.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupFor, createUnderlay, requireRoot, startWeftLink, uniqueName } from '../helpers/netns';

test(`weft udp: a destination with no peer gets an ICMP net-unreachable the sender sees`, async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const dev = uniqueName('ie');
  await startWeftLink(u.a, [
      '--backend', 'udp', '--dev', dev, '--local', u.aIp, '--address', '10.244.0.0/32',
      '--peer', `10.244.1.0/24=${u.bIp}`,
    ]); // prettier-ignore
  // flannel's udp backend routes the whole Network into its device; 10.244.9.0/24 has no peer.
  u.a.ip('route', 'add', '10.244.0.0/16', 'dev', dev);
  const out = u.a.exec('sh', ['-c', 'ping -n -c 1 -W 2 10.244.9.1; true']);
  assert.match(out, /Destination Net Unreachable/, out);
});
