/**
 * VXLAN Remote Checksum Offload (draft-herbert-vxlan-rco) over real namespaces, at default
 * offloads (the kernel peer's inner checksums are partial, so it sends RCO frames):
 * - weft `--vxlan-rco` <-> a flannel-style kernel VXLAN device made with `remcsumtx remcsumrx`:
 *   byte-exact TCP both ways, and RCO frames in both directions (weft's counters);
 * - the same kernel peer against weft without `--vxlan-rco`: the kernel's RCO frames are dropped
 *   as vxlan_rco_disabled, as a kernel VTEP without remcsumrx drops them;
 * - weft <-> weft, both `--vxlan-rco`: byte-exact both ways, RCO frames sent, received and
 *   coalesced; and with the receiver on the plain path (`--offload off`), where weft completes
 *   the checksums.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoDrops, assertStopClean } from '../helpers/both-ways';
import { weftPairTestbed } from '../helpers/testbeds';
import {
  assertTcpTransfer,
  cleanupFor,
  ping,
  readWeftStats,
  requireRoot,
  setupKernelVsWeft,
  startWeftVsKernel,
  tcpTransfer,
  type Cleanup,
  type KernelVsWeft,
} from '../helpers/netns';

/** kernelRcoVtep builds flannel's kernel VTEP for 10.244.0.0/24 in `u.a`, with remcsumtx remcsumrx. */
function kernelRcoVtep(c: Cleanup): KernelVsWeft {
  const kw = setupKernelVsWeft(c, { remcsum: true });
  assert.match(kw.u.a.ip('-d', 'link', 'show', kw.k.dev), /remcsumtx remcsumrx/);
  return kw;
}

test('weft --vxlan-rco <-> kernel VXLAN remcsumtx remcsumrx at default offloads: byte-exact TCP both ways, RCO both ways', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const { u, k } = kernelRcoVtep(c);
  const w = await startWeftVsKernel({ u, k }, 'wr', ['--vxlan-rco']);
  const p = ping(u.a, '10.244.1.1', { source: k.podIp, count: 3 });
  assert.equal(p.received, p.transmitted, p.output);
  const bytes = 8 * 1024 * 1024;
  await assertTcpTransfer(u.a, u.b, { addr: '10.244.0.1', bind: '10.244.1.1', port: 5201, bytes });
  await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: k.podIp, port: 5202, bytes });
  const s = await readWeftStats(w.proc);
  assert.ok((s.egress.rcoFrames ?? 0) > 100, `weft sent RCO frames: ${JSON.stringify(s.egress)}`);
  assert.ok((s.ingress.rcoFrames ?? 0) > 10, `the kernel sent RCO frames: ${JSON.stringify(s.ingress)}`);
  assertNoDrops(s);
  // The kernel accepted weft's RCO frames: no frame errors on its device.
  const kstats = JSON.parse(u.a.ip('-s', '-j', 'link', 'show', k.dev)) as Array<{
    stats64: { rx: { errors: number } };
  }>;
  assert.equal(kstats[0]!.stats64.rx.errors, 0, JSON.stringify(kstats));
  assert.equal(await w.proc.stop(), 0, w.proc.log);
});

test('weft without --vxlan-rco drops a remcsumtx kernel peer RCO frames as vxlan_rco_disabled (as Linux without remcsumrx does)', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const { u, k } = kernelRcoVtep(c);
  const w = await startWeftVsKernel({ u, k }, 'wr');
  // TCP from the kernel side: its segments carry partial checksums, so they go out as RCO frames.
  await assert.rejects(
    tcpTransfer(u.b, u.a, {
      addr: '10.244.1.1',
      bind: k.podIp,
      port: 5203,
      bytes: 64 * 1024,
      timeoutMs: 4000,
    }),
  );
  const s = await readWeftStats(w.proc);
  assert.ok((s.ingressDrops.vxlan_rco_disabled ?? 0) > 0, JSON.stringify(s.ingressDrops));
  assert.equal(s.ingress.rcoFrames ?? 0, 0);
  assert.equal(await w.proc.stop(), 0, w.proc.log);
});

test('weft <-> weft, both --vxlan-rco: byte-exact TCP both ways, RCO frames sent and accepted', async (t) => {
  const { u, a, b } = await weftPairTestbed(t, { flags: ['--vxlan-rco'], devPrefix: 'r' });
  const bytes = 8 * 1024 * 1024;
  await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', port: 5204, bytes });
  await assertTcpTransfer(u.a, u.b, { addr: '10.244.0.1', port: 5205, bytes });
  const sa = await readWeftStats(a.proc);
  const sb = await readWeftStats(b.proc);
  assert.ok((sa.egress.rcoFrames ?? 0) > 100, JSON.stringify(sa.egress));
  assert.ok((sb.ingress.rcoFrames ?? 0) > 100, JSON.stringify(sb.ingress));
  // Partial segments coalesce like complete ones: most of B's RCO frames reach its TUN merged.
  const merged = sb.offload?.segmentsMerged ?? 0;
  assert.ok(
    merged > (sb.ingress.rcoFrames ?? 0) / 2,
    `RCO segments coalesced: ${JSON.stringify(sb.offload)}`,
  );
  for (const s of [sa, sb]) assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
  await assertStopClean(a.proc, b.proc);
});

test('weft --vxlan-rco on the plain path (--offload off) receiving from weft --vxlan-rco: RCO frames completed by weft, byte-exact', async (t) => {
  const { u, a, b } = await weftPairTestbed(t, {
    flags: ['--vxlan-rco'],
    bFlags: ['--offload', 'off'],
    devPrefix: 'r',
  });
  const bytes = 4 * 1024 * 1024;
  await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', port: 5206, bytes });
  const sb = await readWeftStats(b.proc);
  assert.ok((sb.ingress.rcoFrames ?? 0) > 100, JSON.stringify(sb.ingress));
  // No IFF_VNET_HDR on B's TUN: weft itself sums each partial segment into its checksum.
  assert.ok((sb.ingress.partialCsum?.completed ?? 0) > 100, JSON.stringify(sb.ingress));
  assert.deepEqual(sb.ingressDrops, {}, JSON.stringify(sb.ingressDrops));
  await assertStopClean(a.proc, b.proc);
});
