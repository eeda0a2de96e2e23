/**
 * weft <-> the Linux kernel's VXLAN, configured exactly as flannel's vxlan backend does it:
 *
 *   ns A (kernel flannel)                              ns B (weft)
 *   flannel.1  vxlan id 1 dstport 8472 nolearning       weft link --backend vxlan (TUN, no L2)
 *              10.244.0.0/32, MTU 1450                    10.244.1.0/32, MTU 1450
 *   lo         10.244.0.1/32 (stands in for cni0)       lo 10.244.1.1/32
 *   route 10.244.1.0/24 via 10.244.1.0 onlink           route 10.244.0.0/24 -> TUN
 *   neigh 10.244.1.0 lladdr <weft MAC> permanent        --peer 10.244.0.0/24=192.0.2.1,<flannel.1 MAC>
 *   fdb   <weft MAC> dst 192.0.2.2
 *   veth 192.0.2.1  <================ UDP 8472 ================>  veth 192.0.2.2
 *
 * weft's TUN has no MAC of its own, so the kernel side's neighbour and FDB entries use the VTEP
 * MAC weft prints on start (random, locally administered), and weft addresses the kernel's frames
 * to flannel.1's MAC. Ping and a 20 MB TCP transfer in both directions.
 *
 * flannel.1 gets `tx-checksum-ip-generic off` (flannel's own workaround, PR #1282): on a veth
 * underlay the kernel would otherwise send inner TCP segments with unfinished checksums, which
 * only another kernel (trusting the skb metadata) accepts. See disableTxChecksumOffload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanupFor,
  ping,
  readWeftStats,
  requireRoot,
  setupKernelVsWeft,
  startWeftVsKernel,
  tcpTransfer,
} from '../helpers/netns';

test('weft vxlan interoperates with a flannel-style kernel flannel.1: ping and TCP both ways', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const { u, k } = setupKernelVsWeft(c);
  const w = await startWeftVsKernel({ u, k }, 'wk');
  // flannel's pkg/mac: random, locally administered (bit 1 set), unicast (bit 0 clear).
  const first = parseInt(w.mac.slice(0, 2), 16);
  assert.equal(first & 0x03, 0x02, `VTEP MAC ${w.mac} must be locally administered unicast`);
  assert.match(
    u.a.ip('neigh', 'show', 'dev', 'flannel.1'),
    new RegExp(`10\\.244\\.1\\.0 lladdr ${w.mac} PERMANENT`),
  );

  // kernel -> weft: to the pod stand-in and to weft's TUN address; weft -> kernel likewise.
  for (const [from, dst, source] of [
    [u.a, '10.244.1.1', k.podIp],
    [u.a, '10.244.1.0', undefined],
    [u.b, '10.244.0.1', undefined],
    [u.b, '10.244.0.0', '10.244.1.1'],
  ] as const) {
    const r = ping(from, dst, { source });
    assert.equal(r.received, r.transmitted, `${from.name} -> ${dst}: ${r.output}`);
  }
  const big = ping(u.a, '10.244.1.1', { count: 2, size: 1450 - 28, source: k.podIp });
  assert.equal(big.received, 2, big.output);

  const toWeft = await tcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: k.podIp });
  assert.equal(toWeft.sha256Received, toWeft.sha256Sent);
  assert.equal(toWeft.bytesReceived, 20 * 1024 * 1024);
  const toKernel = await tcpTransfer(u.a, u.b, { addr: '10.244.0.1', bind: '10.244.1.1', port: 5002 });
  assert.equal(toKernel.sha256Received, toKernel.sha256Sent);
  assert.equal(toKernel.bytesReceived, 20 * 1024 * 1024);

  // The kernel's frames passed every check: nothing dropped as malformed or misaddressed.
  const s = await readWeftStats(w.proc);
  assert.ok(s.ingress.bytes >= 20 * 1024 * 1024, JSON.stringify(s.ingress));
  assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
  assert.equal(await w.proc.stop(), 0);
});
