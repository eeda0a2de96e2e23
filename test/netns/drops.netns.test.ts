/**
 * Hostile and broken frames on the underlay are dropped, counted by reason, and do not disturb
 * forwarding. A small dgram sender in namespace A sends hand-built frames to node B's VTEP port:
 *
 *   ns A: weft link (192.0.2.1)  + extra address 192.0.2.3 (a stranger on the same segment)
 *   ns B: weft link (192.0.2.2)  <- frames from 192.0.2.1 (a known peer) and 192.0.2.3
 *
 * Counters are read from `weft link`'s SIGUSR1 / --stats output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { macToBuffer } from '../../src/net/addr';
import { buildIcmpEcho } from '../../src/testing/packets';
import {
  PAIR_MAC_A as MAC_A,
  PAIR_MAC_B as MAC_B,
  cleanupFor,
  createUnderlay,
  Netns,
  ping,
  readWeftStats,
  requireRoot,
  startWeftLink,
  startWeftPair,
  uniqueName,
  type WeftStats,
} from '../helpers/netns';

const STRANGER = '192.0.2.3';

/** sendFrames sends each hex payload as one UDP datagram from `from` (ephemeral port) to `to:port`. */
function sendFrames(ns: Netns, from: string, to: string, port: number, frames: Buffer[]): void {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    const [from, to, port, ...hex] = process.argv.slice(1);
    s.bind(0, from, async () => {
      for (const h of hex) await new Promise((r, j) => s.send(Buffer.from(h, 'hex'), +port, to, (e) => (e ? j(e) : r())));
      s.close();
    });`;
  ns.exec(process.execPath, ['-e', script, from, to, String(port), ...frames.map((f) => f.toString('hex'))]);
}

/** vxlanFrame builds a VXLAN UDP payload: header (flags, VNI) + inner Ethernet + inner packet. */
function vxlanFrame(o: {
  vni?: number;
  flags?: number;
  dstMac?: string;
  srcMac?: string;
  inner: Buffer;
}): Buffer {
  const b = Buffer.alloc(8 + 14 + o.inner.length);
  b[0] = o.flags ?? 0x08;
  b.writeUIntBE(o.vni ?? 1, 4, 3);
  macToBuffer(o.dstMac ?? MAC_B).copy(b, 8);
  macToBuffer(o.srcMac ?? MAC_A).copy(b, 14);
  b.writeUInt16BE(0x0800, 20);
  o.inner.copy(b, 22);
  return b;
}

async function waitForDrops(
  proc: Parameters<typeof readWeftStats>[0],
  want: Record<string, number>,
): Promise<WeftStats> {
  let s = await readWeftStats(proc);
  for (let i = 0; i < 20 && Object.entries(want).some(([k, v]) => (s.drops[k] ?? 0) < v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    s = await readWeftStats(proc);
  }
  return s;
}

test('vxlan: frames from unknown sources, with a wrong VNI or malformed are dropped, counted, and forwarding goes on', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  u.a.ip('addr', 'add', `${STRANGER}/24`, 'dev', u.aDev);
  const { b } = await startWeftPair(u, { bFlags: ['--stats', '0.5'] });
  const before = ping(u.a, '10.244.1.1');
  assert.equal(before.received, before.transmitted, before.output);

  const echo = buildIcmpEcho('10.244.0.1', '10.244.1.1');
  // A perfectly valid frame, but from an address no peer has: the kernel would take it; we don't.
  sendFrames(u.a, STRANGER, u.bIp, 8472, [vxlanFrame({ inner: echo }), vxlanFrame({ inner: echo })]);
  // From the known peer's address (another source port), but broken in one way each.
  sendFrames(u.a, u.aIp, u.bIp, 8472, [
    vxlanFrame({ vni: 2, inner: echo }),
    Buffer.from('08000000', 'hex'),
    vxlanFrame({ flags: 0x00, inner: echo }),
    vxlanFrame({ dstMac: '0e:00:00:00:0c:03', inner: echo }),
    vxlanFrame({ srcMac: MAC_B, inner: echo }),
    vxlanFrame({ inner: echo.subarray(0, 10) }),
  ]);
  const want = {
    unknown_source: 2,
    bad_vni: 1,
    too_short: 1,
    bad_vxlan_flags: 1,
    bad_inner_dst_mac: 1,
    own_inner_src_mac: 1,
    bad_inner_ip: 1,
  };
  const s = await waitForDrops(b.proc, want);
  for (const [reason, n] of Object.entries(want)) {
    assert.equal(s.ingressDrops[reason] ?? 0, n, `${reason}: ${JSON.stringify(s.ingressDrops)}`);
  }

  const after = ping(u.a, '10.244.1.1');
  assert.equal(after.received, after.transmitted, after.output);
  // --stats prints on its own as well.
  await b.proc.waitForLine(/^weft link: stats \{/, 3000, b.proc.lines.length);
});

test('flannel-UDP: unknown sources and non-IP payloads are dropped and counted, forwarding goes on', async (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  u.a.ip('addr', 'add', `${STRANGER}/24`, 'dev', u.aDev);
  const { b } = await startWeftPair(u, { backend: 'udp', bFlags: ['--io', 'dgram'] });
  const echo = buildIcmpEcho('10.244.0.1', '10.244.1.1');
  sendFrames(u.a, STRANGER, u.bIp, 8285, [echo]);
  const notIp = Buffer.alloc(40, 0x55);
  sendFrames(u.a, u.aIp, u.bIp, 8285, [notIp, Buffer.from('45', 'hex'), echo.subarray(0, 24)]);
  const want = { unknown_source: 1, bad_ip_version: 1, too_short: 1, bad_inner_ip: 1 };
  const s = await waitForDrops(b.proc, want);
  for (const [reason, n] of Object.entries(want)) {
    assert.equal(s.ingressDrops[reason] ?? 0, n, `${reason}: ${JSON.stringify(s.ingressDrops)}`);
  }
  const after = ping(u.a, '10.244.1.1');
  assert.equal(after.received, after.transmitted, after.output);
});

for (const io of ['batch', 'dgram'] as const) {
  test(`flannel-UDP (--io ${io}): an oversized datagram is a drop reason, and read = delivered + dropped`, async (t) => {
    requireRoot();
    const c = cleanupFor(t);
    const u = createUnderlay(c);
    const b = await startWeftLink(u.b, [
      '--backend', 'udp', '--io', io, '--dev', uniqueName('wb'), '--local', u.bIp, '--address', '10.244.1.1/32',
      '--peer', `10.244.0.0/24=${u.aIp}`,
    ]); // prettier-ignore
    // Larger than the receive slot (sized for the 1500-byte underlay; the sender's kernel
    // fragments it, ours reassembles it): the socket cuts it short.
    const big = buildIcmpEcho('10.244.0.1', '10.244.1.1', { size: 5000 });
    const echo = buildIcmpEcho('10.244.0.1', '10.244.1.1');
    sendFrames(u.a, u.aIp, u.bIp, 8285, [big, echo, big]);
    const s = await waitForDrops(b.proc, { oversized: 2 });
    assert.equal(s.ingressDrops.oversized, 2, JSON.stringify(s.ingressDrops));
    assert.equal(s.udp.rxTruncated, 2);
    assert.equal(s.ingress.packets, 1);
    const dropped = Object.values(s.ingressDrops).reduce((a, n) => a + n, 0);
    assert.equal(s.udp.rxPackets! + s.udp.rxTruncated!, s.ingress.packets + dropped);
  });
}
