/**
 * testbeds: the set-up at the top of a namespace test (needs root; CI runs as root), each torn
 * down when the test ends: two weft nodes peered over a fresh underlay, or weft against
 * flannel's kernel VTEP.
 */
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

/** weftPairTestbed: a fresh underlay with startWeftPair(`o`) running on it. */
export async function weftPairTestbed(
  t: TestContext,
  o: Parameters<typeof startWeftPair>[1] = {},
): Promise<WeftPair & { c: Cleanup; u: Underlay }> {
  requireRoot();
  const c = cleanupFor(t);
  const u = createUnderlay(c);
  return { c, u, ...(await startWeftPair(u, o)) };
}

/** kernelTestbed: setupKernelVsWeft with startWeftVsKernel(`devPrefix`, `extra`) running on it. */
export async function kernelTestbed(
  t: TestContext,
  devPrefix: string,
  extra: string[] = [],
): Promise<KernelVsWeft & { c: Cleanup; w: Awaited<ReturnType<typeof startWeftVsKernel>> }> {
  requireRoot();
  const c = cleanupFor(t);
  const { u, k } = setupKernelVsWeft(c);
  return { c, u, k, w: await startWeftVsKernel({ u, k }, devPrefix, extra) };
}
