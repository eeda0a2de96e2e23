/**
 * The offload path end to end, in namespaces (needs root; CI runs as root): 20 MB TCP transfers
 * with SHA-256 checks through weft <-> weft (VXLAN and flannel-UDP) and weft <-> kernel VXLAN with
 * offloads on, asserting from `weft link`'s stats that TSO segmentation, UDP GSO trains, UDP GRO
 * and TCP coalescing actually carried them; and `--offload off` still forwarding.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertKernelBothWays, assertPairBothWays } from '../helpers/both-ways';
import { assertTcpTransfer, readWeftStats } from '../helpers/netns';
import { kernelTestbed, weftPairTestbed } from '../helpers/testbeds';

function weftPair(t: Parameters<typeof weftPairTestbed>[0], backend: 'vxlan' | 'udp', extra: string[] = []) {
  return weftPairTestbed(t, { backend, flags: extra, devPrefix: 'o' });
}

describe('offloads in namespaces', () => {
  test('weft <-> weft VXLAN: 20 MB both ways byte-exact through TSO, GSO, GRO and coalescing', async (t) => {
    const { u, a, b } = await weftPair(t, 'vxlan');
    assert.match(
      a.startLine,
      /offload tso\+gso\+gro\+coalesce(\+uso)? src-port flow 49152-65535 \(16 ports\)$/,
    );
    await assertPairBothWays(u);
    const sa = (await readWeftStats(a.proc)).offload!;
    const sb = (await readWeftStats(b.proc)).offload!;
    for (const s of [sa, sb]) {
      assert.ok(s.enabled && s.gso && s.gro, JSON.stringify(s));
      assert.ok(s.superPacketsIn > 0, 'TUN handed over TSO super-packets');
      assert.ok(s.segmentsOut > s.superPacketsIn, 'and they were segmented');
      assert.ok(s.gsoTrains > 0, 'sent as UDP GSO trains');
      assert.ok(s.groTrains > 0, 'received as UDP GRO trains');
      assert.ok(s.superPacketsOut > 0 && s.segmentsMerged > s.superPacketsOut, 'coalesced into the TUN');
    }
  });

  test('weft <-> weft flannel-UDP: 20 MB byte-exact with TSO + GSO (no GRO: no room for a virtio header)', async (t) => {
    const { u, a } = await weftPair(t, 'udp');
    assert.match(a.startLine, /offload tso\+gso$/);
    await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: '10.244.0.1' });
    const s = (await readWeftStats(a.proc)).offload!;
    assert.ok(s.superPacketsIn > 0 && s.gsoTrains > 0, JSON.stringify(s));
  });

  test('weft (offloads on) <-> kernel VXLAN at default offloads: 20 MB both ways byte-exact', async (t) => {
    const { u, k, w } = await kernelTestbed(t, 'ok');
    await assertKernelBothWays({ u, k });
    const st = await readWeftStats(w.proc);
    const s = st.offload!;
    assert.ok(s.enabled && s.superPacketsIn > 0 && s.segmentsOut > 0, JSON.stringify(s));
    // Over veth the kernel's TSO packets arrive unsegmented with partial checksums: they go to the
    // TUN as they are, marked NEEDS_CSUM (and GSO when longer than the MTU).
    assert.ok((st.ingress.partialCsum?.needsCsum ?? 0) > 0, JSON.stringify(st.ingress));
  });

  test('--offload off forwards on the plain batch path', async (t) => {
    const { u, a } = await weftPair(t, 'vxlan', ['--offload', 'off']);
    assert.match(a.startLine, /offload off src-port flow 49152-65535 \(16 ports\)$/);
    await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: '10.244.0.1', bytes: 4 << 20 });
    const s = (await readWeftStats(a.proc)).offload!;
    assert.equal(s.enabled, false);
    assert.equal(s.superPacketsIn, 0);
  });
});
