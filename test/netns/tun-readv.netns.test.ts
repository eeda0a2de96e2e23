/**
 * The TUN's read()/write() loop (WEFT_TUN_IO=readv) end to end in namespaces (needs root; CI runs
 * as root). io_uring is the default, so every other transfer test batches its TUN I/O through the
 * ring; this is the path a node takes where io_uring is refused (kernel.io_uring_disabled, a
 * seccomp profile, an addon built without liburing), and it must carry the same traffic: 20 MB
 * TCP transfers, SHA-256 checked, both ways, weft <-> weft VXLAN and weft <-> kernel VXLAN at
 * default offloads (TSO super-packets read and coalesced super-packets written one per call).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertKernelBothWays, assertPairBothWays, assertTunClean } from '../helpers/both-ways';
import { readWeftStats, type Proc } from '../helpers/netns';
import { kernelTestbed, weftPairTestbed } from '../helpers/testbeds';

// Every weft this file starts inherits it (ip netns exec keeps the environment).
process.env.WEFT_TUN_IO = 'readv';

async function assertReadv(p: Proc): Promise<void> {
  await p.waitForLine(/^weft link: tun-io readv$/, 5000);
  const s = await readWeftStats(p);
  assert.equal(s.tunIo?.mode, 'readv', JSON.stringify(s.tunIo));
  assert.equal(s.tunIo?.refused ?? null, null, 'asked for, not a fallback');
  assert.equal(s.tunIo?.ringCalls ?? 0, 0, `nothing went through a ring: ${JSON.stringify(s.tunIo)}`);
  assertTunClean(s);
  assert.ok((s.offload?.superPacketsIn ?? 0) > 0, `TSO reads on this path too: ${JSON.stringify(s.offload)}`);
}

describe('TUN read()/write() loop (WEFT_TUN_IO=readv) in namespaces', () => {
  test('weft <-> weft VXLAN (default offloads): 20 MB both ways byte-exact', async (t) => {
    const { u, a, b } = await weftPairTestbed(t, { devPrefix: 'rv' });
    await assertPairBothWays(u);
    await assertReadv(a.proc);
    await assertReadv(b.proc);
    const sb = await readWeftStats(b.proc);
    assert.ok((sb.offload?.superPacketsOut ?? 0) > 0, `coalesced writes: ${JSON.stringify(sb.offload)}`);
  });

  test('weft <-> kernel VXLAN (default offloads): 20 MB both ways byte-exact', async (t) => {
    const { u, k, w } = await kernelTestbed(t, 'rk');
    await assertKernelBothWays({ u, k });
    await assertReadv(w.proc);
  });
});
