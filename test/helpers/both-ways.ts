/**
 * The checks the namespace transfer tests make over startWeftPair's and setupKernelVsWeft's
 * testbeds: byte-exact TCP both ways, pings both ways, a clean TUN and no drops in `weft link`'s
 * stats, and a clean exit. Addresses are the testbeds' fixed ones: weft A (or the kernel pod
 * stand-in) owns 10.244.0.1, weft B owns 10.244.1.1.
 */
import assert from 'node:assert/strict';
import { assertTcpTransfer, ping, type KernelVsWeft } from './netns';
import type { Underlay } from '../../src/testing/netns';
import type { Proc } from '../../src/testing/proc';
import { unexpectedDrops, type WeftStats } from '../../src/testing/weft-link';

/** BothWays: the server ports of the two directions (defaults 5001 and 5002) and the bytes each way. */
export interface BothWays {
  /** Server port for B -> A (the server behind B at 10.244.1.1). */
  toB?: number;
  /** Server port for A -> B (the server behind A at 10.244.0.1). */
  toA?: number;
  bytes?: number;
}

/**
 * assertPairBothWays sends TCP from A to a server behind B, then from B to a server behind A,
 * each bound to the pod address on its side, and checks each byte-exact.
 */
export async function assertPairBothWays(u: Underlay, o: BothWays = {}): Promise<void> {
  await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: '10.244.0.1', port: o.toB, bytes: o.bytes });
  await assertTcpTransfer(u.a, u.b, {
    addr: '10.244.0.1',
    bind: '10.244.1.1',
    port: o.toA ?? 5002,
    bytes: o.bytes,
  });
}

/**
 * assertKernelBothWays is assertPairBothWays with the kernel VTEP's pod stand-in on A's side:
 * from the kernel to weft, then from weft to the kernel.
 */
export async function assertKernelBothWays({ u, k }: KernelVsWeft, o: BothWays = {}): Promise<void> {
  await assertTcpTransfer(u.b, u.a, { addr: '10.244.1.1', bind: k.podIp, port: o.toB, bytes: o.bytes });
  await assertTcpTransfer(u.a, u.b, {
    addr: k.podIp,
    bind: '10.244.1.1',
    port: o.toA ?? 5002,
    bytes: o.bytes,
  });
}

/** assertKernelPingsBothWays pings weft's pod from the kernel's and back; every reply must come. */
export function assertKernelPingsBothWays({ u, k }: KernelVsWeft): void {
  for (const [from, dst, source] of [
    [u.a, '10.244.1.1', k.podIp],
    [u.b, '10.244.0.1', '10.244.1.1'],
  ] as const) {
    const r = ping(from, dst, { source, count: 3 });
    assert.equal(r.received, r.transmitted, `${from.name} -> ${dst}: ${r.output}`);
  }
}

/** assertNoDrops: no egress drop but the expected link_scope ones, and no ingress drop at all. */
export function assertNoDrops(s: WeftStats): void {
  assert.deepEqual(unexpectedDrops(s.egressDrops), {}, JSON.stringify(s.egressDrops));
  assert.deepEqual(s.ingressDrops, {}, JSON.stringify(s.ingressDrops));
}

/** assertTunClean: the TUN both read and wrote packets, without an error either way. */
export function assertTunClean(s: WeftStats): void {
  assert.ok((s.tun.rxPackets ?? 0) > 0 && (s.tun.txPackets ?? 0) > 0, JSON.stringify(s.tun));
  assert.equal(s.tun.rxErrors ?? 0, 0, JSON.stringify(s.tun));
  assert.equal(s.tun.txErrors ?? 0, 0, JSON.stringify(s.tun));
}

/** assertStopClean stops each process in turn and checks it exited 0 (its log on failure). */
export async function assertStopClean(...procs: Proc[]): Promise<void> {
  for (const p of procs) assert.equal(await p.stop(), 0, p.log);
}
