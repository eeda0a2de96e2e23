/**
 * TUN reads and writes batched through io_uring (WEFT_TUN_IO=io_uring, native/src/uring.cc), end
 * to end in namespaces (needs root; CI runs as root): 20 MB TCP transfers, SHA-256 checked, both
 * ways through weft <-> weft VXLAN and weft <-> kernel VXLAN, at default offloads (TSO
 * super-packets read, coalesced super-packets written, through the ring), and with --offload off
 * (one packet per read and write).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertKernelBothWays, assertPairBothWays, assertTunClean } from '../helpers/both-ways';
import { readWeftStats, type Proc } from '../helpers/netns';
import { kernelTestbed, weftPairTestbed } from '../helpers/testbeds';

// Every weft this file starts inherits it (ip netns exec keeps the environment).
process.env.WEFT_TUN_IO = 'io_uring';

async function assertUring(p: Proc): Promise<void> {
  await p.waitForLine(/^weft link: tun-io io_uring$/, 5000);
  const s = await readWeftStats(p);
  assert.equal(s.tunIo?.mode, 'io_uring', JSON.stringify(s.tunIo));
  // Small batches stay on the read()/write() loop (Tun's policy); a 20 MB transfer has large ones.
  assert.ok((s.tunIo?.ringCalls ?? 0) > 0, `no batch went through the ring: ${JSON.stringify(s.tunIo)}`);
  assertTunClean(s);
}

describe('io_uring TUN I/O in namespaces', () => {
  for (const [label, extra] of [
    ['default offloads', []],
    ['--offload off', ['--offload', 'off']],
  ] as const) {
    test(`weft <-> weft VXLAN (${label}): 20 MB both ways byte-exact`, async (t) => {
      const { u, a, b } = await weftPairTestbed(t, { flags: [...extra], devPrefix: 'u' });
      await assertPairBothWays(u);
      await assertUring(a.proc);
      await assertUring(b.proc);
    });
  }

  test('weft <-> kernel VXLAN (default offloads): 20 MB both ways byte-exact', async (t) => {
    const { u, k, w } = await kernelTestbed(t, 'uk');
    await assertKernelBothWays({ u, k });
    await assertUring(w.proc);
  });
});
