/**
 * testbeds: the set-up at the top of a namespace test (needs root; CI runs as root), each torn
 * down when the test ends: two weft nodes peered over a fresh underlay, or weft against
 * flannel's kernel VTEP. `capture` starts an underlay capture (dumpcap, UDP port 8472) on that
 * side's veth before any weft starts, so it holds every frame weft sends.
 */
import { startCapture, type Capture } from './capture';
import {
  cleanupFor,
  createUnderlay,
  requireRoot,
  setupKernelVsWeft,
  startWeftPair,
  startWeftVsKernel,
  type Cleanup,
  type KernelVsWeft,
  type WeftPair,
} from './netns';
import type { Underlay } from '../../src/testing/netns';

type TestContext = Parameters<typeof cleanupFor>[0];

/** Side is an underlay end: `a` (weft A, or the kernel VTEP) or `b` (weft B). */
type Side = 'a' | 'b';

async function captureOn(c: Cleanup, u: Underlay, side: Side | undefined): Promise<Capture | null> {
  if (side === undefined) return null;
  return startCapture(c, side === 'a' ? u.a : u.b, side === 'a' ? u.aDev : u.bDev);
}

/** weftPairTestbed: a fresh underlay with startWeftPair(`o`) running on it. */
export async function weftPairTestbed(
  t: TestContext,
  o: Parameters<typeof startWeftPair>[1] & { capture?: Side } = {},
): Promise<WeftPair & { c: Cleanup; u: Underlay; cap: Capture | null }> {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  const cap = await captureOn(c, u, o.capture);
  return { c, u, cap, ...(await startWeftPair(u, o)) };
}

/** kernelTestbed: setupKernelVsWeft with startWeftVsKernel(`devPrefix`, `extra`) running on it. */
export async function kernelTestbed(
  t: TestContext,
  devPrefix: string,
  extra: string[] = [],
  o: { capture?: Side } = {},
): Promise<
  KernelVsWeft & { c: Cleanup; cap: Capture | null; w: Awaited<ReturnType<typeof startWeftVsKernel>> }
> {
  requireRoot();
  const c = cleanupFor(t);
  const { u, k } = setupKernelVsWeft(c);
  const cap = await captureOn(c, u, o.capture);
  return { c, u, k, cap, w: await startWeftVsKernel({ u, k }, devPrefix, extra) };
}
