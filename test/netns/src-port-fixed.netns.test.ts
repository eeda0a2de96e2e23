/**
 * `--src-port fixed` over VXLAN with `--io batch` at default offloads, in real namespaces (needs
 * root; CI runs as root). `flow` is the default there, so every other test of the scatter-gather
 * egress goes through the source-port pool; this one covers the same egress on the single bound
 * socket that `fixed` keeps (one `sendmmsg` for the whole batch, GSO trains of several flows
 * through one socket):
 * - weft <-> a flannel-style kernel flannel.1 at the kernel's default offloads;
 * - weft <-> weft.
 * Two TCP flows each way, SHA-256 checked on both ends. The underlay is captured on the receiving
 * side (dumpcap, decoded by tshark): every VXLAN frame weft sent must come from port 8472.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertKernelPingsBothWays, assertNoDrops, assertStopClean } from '../helpers/both-ways';
import { decodeFields } from '../helpers/capture';
import { assertTcpTransfer, readWeftStats, type WeftStats } from '../helpers/netns';
import { kernelTestbed, weftPairTestbed } from '../helpers/testbeds';

const BYTES = 4 * 1024 * 1024;

/** sourcePorts counts the outer UDP source ports of the VXLAN frames `sender` sent. */
function sourcePorts(pcap: string, sender: string): Map<number, number> {
  const rows = decodeFields(pcap, `ip.src==${sender} && udp.dstport==8472`, ['udp.srcport']);
  const ports = new Map<number, number>();
  for (const [sport] of rows) {
    const p = Number(sport![0]);
    ports.set(p, (ports.get(p) ?? 0) + 1);
  }
  return ports;
}

/** assertFixedSender: fixed mode on the offload path, GSO trains sent, no pool, no drops. */
function assertFixedSender(s: WeftStats): void {
  const why = JSON.stringify({ srcPort: s.srcPort, offload: s.offload, udp: s.udp });
  assert.equal(s.srcPort?.mode, 'fixed', why);
  assert.equal(s.srcPort?.ports, undefined, `no source-port pool: ${why}`);
  assert.equal(s.offload?.enabled, true, why);
  assert.ok((s.offload?.superPacketsIn ?? 0) > 0, `TSO super-packets read: ${why}`);
  assert.ok((s.offload?.gsoTrains ?? 0) > 0, `GSO trains on the fixed socket: ${why}`);
  assert.equal(s.udp.txErrors ?? 0, 0, why);
  assertNoDrops(s);
}

function assertAllFrom8472(ports: Map<number, number>): void {
  const summary = JSON.stringify([...ports]);
  const frames = [...ports.values()].reduce((a, b) => a + b, 0);
  assert.ok(frames >= 100, `expected weft frames in the capture: ${summary}`);
  assert.deepEqual([...ports.keys()], [8472], `every frame from the VXLAN port: ${summary}`);
}

test('weft --src-port fixed <-> kernel flannel.1 at default offloads: GSO on one socket, byte-exact both ways, every frame from 8472', async (t) => {
  const { u, k, w, cap } = await kernelTestbed(t, 'fx', ['--src-port', 'fixed'], { capture: 'a' });
  assert.match(w.startLine, /offload tso\+gso\+gro\+coalesce(\+uso)?$/);

  assertKernelPingsBothWays({ u, k });
  // weft sends (the server is behind the kernel), then receives.
  for (let i = 0; i < 2; i++)
    await assertTcpTransfer(u.a, u.b, {
      addr: '10.244.0.1',
      bind: '10.244.1.1',
      port: 5300 + i,
      bytes: BYTES,
    });
  await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: k.podIp, port: 5310, bytes: BYTES });

  const s = await readWeftStats(w.proc);
  assertFixedSender(s);
  // The kernel's segments arrive with partial inner checksums (unsegmented TSO packets over veth,
  // so nothing to merge): each handed on with NEEDS_CSUM or completed, none dropped.
  const p = s.ingress.partialCsum;
  assert.ok((p?.needsCsum ?? 0) + (p?.completed ?? 0) >= BYTES / 65536, JSON.stringify(s.ingress));
  assert.equal(await w.proc.stop(), 0, w.proc.log);
  await cap!.stop();
  assertAllFrom8472(sourcePorts(cap!.pcap, u.bIp));
});

test('weft <-> weft, both --src-port fixed, default offloads: byte-exact both ways, every frame from 8472', async (t) => {
  const { u, a, b, cap } = await weftPairTestbed(t, {
    flags: ['--src-port', 'fixed'],
    devPrefix: 'x',
    capture: 'b',
  });
  assert.match(a.startLine, /offload tso\+gso\+gro\+coalesce(\+uso)?$/);
  for (let i = 0; i < 2; i++)
    await assertTcpTransfer(u.b, u.a, {
      addr: '10.244.1.1',
      bind: '10.244.0.1',
      port: 5320 + i,
      bytes: BYTES,
    });
  await assertTcpTransfer(u.a, u.b, { addr: '10.244.0.1', bind: '10.244.1.1', port: 5330, bytes: BYTES });

  const sa = await readWeftStats(a.proc);
  const sb = await readWeftStats(b.proc);
  assertFixedSender(sa);
  assertFixedSender(sb);
  assert.ok((sb.offload?.segmentsMerged ?? 0) > 0, `B coalesced A's segments: ${JSON.stringify(sb.offload)}`);
  await assertStopClean(a.proc, b.proc);
  await cap!.stop();
  assertAllFrom8472(sourcePorts(cap!.pcap, u.aIp));
});
