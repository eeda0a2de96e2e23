/**
 * UDP coalescing into the TUN (USO) end to end, in namespaces (needs root; CI runs as root):
 * 20,000 datagrams of 64 and of 1,000 bytes, content-hashed at a receiving socket without
 * UDP_GRO (the default), so the kernel must segment each GSO_UDP_L4 super-packet back into the
 * sent datagrams before delivery; weft -> weft, kernel VXLAN -> weft at default offloads (partial
 * inner checksums), and to a pod behind a bridge (the packets are forwarded, as
 * flannel's CNI plugin wires pods). `weft link` stats say how many datagrams were merged and how
 * many TUN writes they cost.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addVethPair,
  cleanupFor,
  createUnderlay,
  Netns,
  readWeftStats,
  requireRoot,
  setupKernelVsWeft,
  startWeftPair,
  startWeftVsKernel,
  uniqueName,
  type Cleanup,
  type WeftStats,
} from '../helpers/netns';
import { udpTransfer, type UdpTransferResult } from '../helpers/udp-transfer';

/** weftPair: weft in u.a (10.244.0.1 on its TUN) and u.b (`bAddress` on its TUN), peered over VXLAN. */
async function weftPair(c: Cleanup, bAddress = '10.244.1.1/32', extra: string[] = []) {
  const u = createUnderlay(c);
  return { u, ...(await startWeftPair(u, { bAddress, flags: extra, devPrefix: 'u' })) };
}

/**
 * assertExact: every datagram that reached the socket is a sent one, intact, once; the rest were
 * dropped by the receiving kernel at the socket's full buffer (counted), not lost in the tunnel.
 */
function assertExact(r: UdpTransferResult, what: string): void {
  const s = JSON.stringify(r);
  assert.equal(r.wrongSize, 0, `${what}: every datagram arrives at its own size: ${s}`);
  assert.equal(r.corrupt, 0, `${what}: byte-exact: ${s}`);
  assert.equal(r.duplicates, 0, `${what}: ${s}`);
  assert.equal(r.unique, r.received, `${what}: ${s}`);
  assert.equal(
    r.unique + r.socketOverflows,
    r.sent,
    `${what}: delivered + dropped at the receiving socket = sent: ${s}`,
  );
  assert.ok(r.unique >= r.sent * 0.9, `${what}: most datagrams arrive: ${s}`);
}

/** delta is what the receiving node counted between two stats reads. */
function delta(before: WeftStats, after: WeftStats) {
  const o0 = before.offload!;
  const o1 = after.offload!;
  return {
    packets: after.ingress.packets - before.ingress.packets,
    tunWrites: (after.tun.txPackets ?? 0) - (before.tun.txPackets ?? 0),
    superPackets: o1.udpSuperPackets - o0.udpSuperPackets,
    coalesced: o1.udpCoalesced - o0.udpCoalesced,
    needsCsum: (after.ingress.partialCsum?.needsCsum ?? 0) - (before.ingress.partialCsum?.needsCsum ?? 0),
  };
}

describe('UDP coalescing into the TUN (USO) in namespaces', () => {
  test('weft -> weft: 20,000 datagrams of 64 and of 1,000 bytes byte-exact, merged into USO super-packets', async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const { u, b } = await weftPair(c);
    const s0 = await readWeftStats(b.proc);
    assert.equal(s0.offload!.uso, true, `this kernel takes USO: ${JSON.stringify(s0.offload)}`);
    assert.equal(s0.offload!.usoRefused, null);
    for (const size of [64, 1000]) {
      const before = await readWeftStats(b.proc);
      const r = await udpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: '10.244.0.1', size });
      assertExact(r, `${size} B`);
      const d = delta(before, await readWeftStats(b.proc));
      t.diagnostic(
        `${size} B: ${JSON.stringify(d)} (${(d.tunWrites / d.packets).toFixed(3)} TUN writes per packet)`,
      );
      assert.ok(d.superPackets > 0 && d.coalesced >= 2 * d.superPackets, JSON.stringify(d));
      assert.ok(d.tunWrites < d.packets, `fewer TUN writes than packets: ${JSON.stringify(d)}`);
    }
  });

  test('weft -> weft with --workers 2 (multi-queue TUN, every queue probed): merged and byte-exact', async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const { u, b } = await weftPair(c, '10.244.1.1/32', ['--workers', '2']);
    assert.match(b.startLine, /coalesce\+uso/);
    const before = await readWeftStats(b.proc);
    assert.equal(before.offload!.uso, true, JSON.stringify(before.offload));
    const r = await udpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: '10.244.0.1', size: 64 });
    assertExact(r, '64 B');
    // Worker counters reach the main thread's stats at most a second late.
    await new Promise((res) => setTimeout(res, 1500));
    const d = delta(before, await readWeftStats(b.proc));
    t.diagnostic(`64 B: ${JSON.stringify(d)}`);
    assert.ok(d.superPackets > 0 && d.tunWrites < d.packets, JSON.stringify(d));
  });

  test('kernel VXLAN -> weft at default offloads: partial inner checksums merged, byte-exact', async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const { u, k } = setupKernelVsWeft(c);
    const w = await startWeftVsKernel({ u, k }, 'uk');
    for (const size of [64, 1000]) {
      const before = await readWeftStats(w.proc);
      const r = await udpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: k.podIp, size });
      assertExact(r, `${size} B`);
      const d = delta(before, await readWeftStats(w.proc));
      t.diagnostic(
        `${size} B: ${JSON.stringify(d)} (${(d.tunWrites / d.packets).toFixed(3)} TUN writes per packet)`,
      );
      // Over veth the kernel leaves inner UDP checksums partial; they are merged all the same.
      assert.ok(d.needsCsum >= r.sent, `every datagram is written with NEEDS_CSUM: ${JSON.stringify(d)}`);
      assert.ok(d.superPackets > 0 && d.coalesced >= 2 * d.superPackets, JSON.stringify(d));
      // How many arrive together in one receive batch depends on load (bursts of 64, paced):
      // 0.12-0.53 TUN writes per datagram over five runs here; before partial ones merged, exactly 1.
      assert.ok(d.coalesced >= d.packets / 4, `many datagrams merged: ${JSON.stringify(d)}`);
      assert.ok(
        d.tunWrites < d.packets * 0.75,
        `TUN writes well below one per datagram: ${JSON.stringify(d)}`,
      );
    }
  });

  test('weft -> weft -> a pod behind a bridge: forwarded super-packets reach the pod socket as the sent datagrams', async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    // Node b as flannel's CNI plugin builds it: TUN address 10.244.1.0/32, cni0 10.244.1.1/24,
    // a pod on a veth in the bridge, forwarding on.
    const { u, b } = await weftPair(c, '10.244.1.0/32');
    const pod = Netns.create(c, 'upod');
    const hostEnd = uniqueName('vh');
    addVethPair(u.b.name, hostEnd, pod.name, 'eth0', 1450);
    u.b.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    u.b.ip('link', 'add', 'cni0', 'type', 'bridge');
    u.b.ip('addr', 'add', '10.244.1.1/24', 'dev', 'cni0');
    u.b.ip('link', 'set', 'cni0', 'up');
    u.b.ip('link', 'set', hostEnd, 'master', 'cni0');
    u.b.ip('link', 'set', hostEnd, 'up');
    pod.ip('addr', 'add', '10.244.1.2/24', 'dev', 'eth0');
    pod.ip('link', 'set', 'eth0', 'up');
    pod.ip('route', 'add', 'default', 'via', '10.244.1.1');
    for (const size of [64, 1000]) {
      const before = await readWeftStats(b.proc);
      const r = await udpTransfer(pod, u.a, { addr: '10.244.1.2', bind: '10.244.0.1', size });
      assertExact(r, `${size} B to the pod`);
      const d = delta(before, await readWeftStats(b.proc));
      t.diagnostic(`${size} B: ${JSON.stringify(d)}`);
      assert.ok(d.superPackets > 0 && d.tunWrites < d.packets, JSON.stringify(d));
    }
  });
});
