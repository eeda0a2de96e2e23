/**
 * Sanity tests of the netns harness itself, with no weft code involved: if these fail, the weft
 * interop tests cannot be trusted either.
 *
 *   ns A (192.0.2.1)  ==== veth ====  ns B (192.0.2.2)
 *   flannel.1 10.244.0.0/32            flannel.1 10.244.1.0/32      (kernel VXLAN, flannel style)
 *   lo 10.244.0.1/32                   lo 10.244.1.1/32
 *   -- or --
 *   socat TUN 10.246.0.1/24  <-UDP 8285->  socat TUN 10.246.0.2/24
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addKernelFlannelPeer,
  cleanupFor,
  createUnderlay,
  ping,
  requireRoot,
  setupKernelFlannel,
  startSocatTun,
  tcpTransfer,
  uniqueName,
} from '../helpers/netns';

test('uniqueName gives distinct names of at most 15 characters', () => {
  const a = uniqueName('abcd');
  const b = uniqueName('abcd');
  assert.notEqual(a, b);
  assert.ok(a.length <= 15 && b.length <= 15, `${a} ${b}`);
});

test('harness: kernel VXLAN pair configured flannel-style forwards ping and a TCP transfer', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const ka = setupKernelFlannel(u.a, {
    local: u.aIp,
    underlayDev: u.aDev,
    subnet: '10.244.0.0/24',
    underlayMtu: u.mtu,
  });
  const kb = setupKernelFlannel(u.b, {
    local: u.bIp,
    underlayDev: u.bDev,
    subnet: '10.244.1.0/24',
    underlayMtu: u.mtu,
  });
  addKernelFlannelPeer(u.a, ka, { subnet: '10.244.1.0/24', mac: kb.mac, publicIp: u.bIp });
  addKernelFlannelPeer(u.b, kb, { subnet: '10.244.0.0/24', mac: ka.mac, publicIp: u.aIp });

  assert.match(
    u.a.exec('bridge', ['fdb', 'show', 'dev', 'flannel.1']),
    new RegExp(`${kb.mac} dst ${u.bIp} self permanent`),
  );
  assert.match(u.a.ip('-d', 'link', 'show', 'flannel.1'), /vxlan id 1 .*dstport 8472 nolearning/);

  const r = ping(u.a, kb.podIp, { source: ka.podIp });
  assert.equal(r.received, r.transmitted, r.output);
  assert.ok(r.transmitted >= 3);

  const x = await tcpTransfer(u.b, u.a, { addr: kb.podIp, bind: ka.podIp, bytes: 4 << 20 });
  assert.equal(x.bytesReceived, x.bytesSent);
  assert.equal(x.sha256Received, x.sha256Sent);
});

test('harness: socat TUN/UDP pair forwards ping and a TCP transfer', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const dev = uniqueName('st');
  const port = 8285;
  await startSocatTun(u.b, {
    dev,
    address: '10.246.0.2/24',
    local: u.bIp,
    remote: u.aIp,
    port,
    mtu: u.mtu - 28,
  });
  await startSocatTun(u.a, {
    dev,
    address: '10.246.0.1/24',
    local: u.aIp,
    remote: u.bIp,
    port,
    mtu: u.mtu - 28,
  });
  assert.match(u.a.ip('link', 'show', dev), /mtu 1472/);

  const r = ping(u.a, '10.246.0.2');
  assert.equal(r.received, r.transmitted, r.output);

  const x = await tcpTransfer(u.b, u.a, { addr: '10.246.0.2', bytes: 4 << 20 });
  assert.equal(x.sha256Received, x.sha256Sent);
  assert.equal(x.bytesReceived, 4 << 20);
});
