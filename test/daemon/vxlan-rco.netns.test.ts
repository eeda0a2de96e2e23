/**
 * `weft run --vxlan-rco` as a daemon (leases in the embedded store, routes and peers learnt from
 * them), at default offloads, in the testbed's namespaces:
 * - two weft nodes, both with `--vxlan-rco`: SHA-256-checked TCP both ways; the underlay capture
 *   (dumpcap on the receiving node, decoded by tshark) shows the data frames carrying the RCO flag
 *   and the inner TCP checksum start; the counters show RCO frames sent, received and coalesced,
 *   no drops;
 * - a weft node and a flannel-style kernel VXLAN node made with `remcsumtx remcsumrx` (its lease
 *   written to the store as flanneld writes it): SHA-256-checked TCP both ways, RCO frames in both
 *   directions on the wire, and the kernel device counts no frame errors.
 * Needs root (namespaces, veth, TUN, kernel VXLAN); CI runs as root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddedStore } from '../../src/control/embedded-store';
import { parseIpv4Cidr } from '../../src/net/addr';
import type { DataplaneStats } from '../../src/dataplane/node-stats';
import { Netns } from '../../src/testing/netns';
import { DEFAULT_METRICS_PORT, Testbed, type TestbedNode } from '../../src/testing/testbed';
import { addKernelFlannelPeer, setupKernelFlannel } from '../../src/testing/kernel-flannel';
import { cleanupFor } from '../../src/testing/cleanup';
import { decodeFields, startCapture } from '../helpers/capture';
import { assertTcpTransfer } from '../helpers/netns';
import { CONFIG, needRoot, nodeInfo, vxlanLeaseAttrs, waitRoutes } from './cluster-helpers';
import { unexpectedDrops } from '../../src/testing/weft-link';

/** RCO_C is the VXLAN "C" flag in tshark's 16-bit `vxlan.flags` (byte 1, 0x20). */
const RCO_C = 0x0020;
/** TCP_START is the RCO checksum start of inner IPv4/TCP: (Ethernet 14 + IPv4 20) / 2, O bit clear. */
const TCP_START = (14 + 20) >> 1;

/** stats reads node `nd`'s dataplane counters from /debug/stats. */
function stats(tb: Testbed, nd: TestbedNode): DataplaneStats {
  const r = tb.httpGet(nd.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/stats`);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as DataplaneStats;
}

/**
 * rcoFrames decodes the VXLAN frames carrying TCP data that `sender` put on the wire: how many
 * there were and how many carry the RCO flag with the inner TCP checksum start; a sample.
 */
function rcoFrames(pcap: string, sender: string): { frames: number; rco: number; sample: string } {
  const rows = decodeFields(pcap, `ip.src==${sender} && vxlan && tcp.len > 0`, [
    'vxlan.flags',
    'vxlan.reserved8',
  ]);
  let rco = 0;
  for (const [flags, start] of rows) {
    if ((Number(flags![0]) & RCO_C) !== 0 && Number(start![0]) === TCP_START) rco++;
  }
  return { frames: rows.length, rco, sample: JSON.stringify(rows.slice(0, 5)) };
}

/** pair builds a two-node testbed on the embedded store with the daemon tests' network config. */
async function pair(t: { after(fn: () => unknown): void }, tag: string) {
  needRoot();
  const tb = await Testbed.create({ store: 'embedded', tag, nodes: 2 });
  t.after(() => tb.cleanup());
  const c = cleanupFor(t);
  tb.writeConfig(CONFIG);
  const [n1, n2] = tb.nodes as [TestbedNode, TestbedNode];
  return { tb, c, n1, n2, ns1: Netns.attach(c, n1.ns), ns2: Netns.attach(c, n2.ns) };
}

test('weft run --vxlan-rco, two nodes on the embedded store: byte-exact TCP both ways, RCO on the wire', async (t) => {
  const { tb, c, n1, n2, ns1, ns2 } = await pair(t, 'tr');
  const cap = await startCapture(c, ns2, n2.dev);
  tb.startWeft(n1, ['--vxlan-rco']);
  tb.startWeft(n2, ['--vxlan-rco']);
  const w1 = nodeInfo(tb, n1, await tb.waitReady(n1, 30_000));
  const w2 = nodeInfo(tb, n2, await tb.waitReady(n2, 30_000));
  await waitRoutes(tb, n1, [w2.subnet]);
  await waitRoutes(tb, n2, [w1.subnet]);

  const bytes = 8 << 20;
  await assertTcpTransfer(ns2, ns1, { addr: w2.podIp, bind: w1.podIp, port: 5301, bytes });
  await assertTcpTransfer(ns1, ns2, { addr: w1.podIp, bind: w2.podIp, port: 5302, bytes });
  const s1 = stats(tb, n1);
  const s2 = stats(tb, n2);
  for (const [name, s] of [
    ['node1', s1],
    ['node2', s2],
  ] as const) {
    assert.ok((s.egress.rcoFrames ?? 0) > 100, `${name} sent RCO frames: ${JSON.stringify(s.egress)}`);
    assert.ok((s.ingress.rcoFrames ?? 0) > 100, `${name} received RCO frames: ${JSON.stringify(s.ingress)}`);
    // Their partial segments coalesce like complete ones (pure ACKs aside, every frame merges).
    const merged = s.offload?.segmentsMerged ?? 0;
    assert.ok(
      merged > (s.ingress.rcoFrames ?? 0) / 2,
      `${name} coalesced RCO segments: ${JSON.stringify(s.offload)}`,
    );
    assert.deepEqual(s.ingressDrops, {}, `${name}: ${JSON.stringify(s.ingressDrops)}`);
    assert.deepEqual(unexpectedDrops(s.egressDrops), {}, `${name}: ${JSON.stringify(s.egressDrops)}`);
  }

  await cap.stop();
  for (const sender of [n1.ip, n2.ip]) {
    const f = rcoFrames(cap.pcap, sender);
    t.diagnostic(`${sender}: ${f.rco} of ${f.frames} TCP data frames carry RCO`);
    // A UDP GSO train crosses veth as one frame, and tshark decodes the headers of its first
    // datagram: 8 MiB make well over 50 of them. Every segment leaves its checksum partial.
    assert.ok(f.frames > 50, `${sender}: TCP data frames on the wire: ${f.frames}: ${f.sample}`);
    assert.equal(f.rco, f.frames, `${sender}: every TCP data frame carries RCO: ${f.sample}`);
  }
});

test('weft run --vxlan-rco <-> a kernel flannel.1 with remcsumtx remcsumrx (lease in the store): byte-exact TCP, RCO both ways', async (t) => {
  const { tb, c, n1: nw, n2: nk, ns1: nsw, ns2: nsk } = await pair(t, 'tk');

  // The kernel node, as flanneld sets it up, plus RCO both ways; its lease as flanneld writes it.
  const k = setupKernelFlannel(nsk, {
    local: nk.ip,
    underlayDev: nk.dev,
    subnet: '10.244.200.0/24',
    underlayMtu: 1500,
    remcsum: true,
  });
  assert.match(nsk.ip('-d', 'link', 'show', k.dev), /remcsumtx remcsumrx/);
  const store = new EmbeddedStore({ dir: tb.storeDir });
  t.after(() => store.close());
  await store.createLease({ subnet: parseIpv4Cidr('10.244.200.0/24') }, vxlanLeaseAttrs(nk.ip, k.mac), 86400);

  const cap = await startCapture(c, nsk, nk.dev);
  tb.startWeft(nw, ['--vxlan-rco']);
  const w = nodeInfo(tb, nw, await tb.waitReady(nw, 30_000));
  await waitRoutes(tb, nw, ['10.244.200.0/24']);
  addKernelFlannelPeer(nsk, k, { subnet: w.subnet, mac: w.vtepMac, publicIp: nw.ip });

  const bytes = 8 << 20;
  await assertTcpTransfer(nsk, nsw, { addr: k.podIp, bind: w.podIp, port: 5311, bytes });
  await assertTcpTransfer(nsw, nsk, { addr: w.podIp, bind: k.podIp, port: 5312, bytes });
  const s = stats(tb, nw);
  assert.ok((s.egress.rcoFrames ?? 0) > 100, `weft sent RCO frames: ${JSON.stringify(s.egress)}`);
  assert.ok((s.ingress.rcoFrames ?? 0) > 10, `the kernel sent RCO frames: ${JSON.stringify(s.ingress)}`);
  assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
  assert.deepEqual(unexpectedDrops(s.egressDrops), {}, JSON.stringify(s.egressDrops));
  // The kernel accepted weft's RCO frames: no frame errors on its device.
  const kstats = JSON.parse(nsk.ip('-s', '-j', 'link', 'show', k.dev)) as Array<{
    stats64: { rx: { errors: number } };
  }>;
  assert.equal(kstats[0]!.stats64.rx.errors, 0, JSON.stringify(kstats));

  await cap.stop();
  for (const sender of [nw.ip, nk.ip]) {
    const f = rcoFrames(cap.pcap, sender);
    t.diagnostic(`${sender}: ${f.rco} of ${f.frames} TCP data frames carry RCO`);
    assert.ok(f.rco > 10, `${sender}: RCO frames on the wire: ${f.rco} of ${f.frames}: ${f.sample}`);
  }
});
