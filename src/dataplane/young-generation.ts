/**
 * young-generation: keeps the daemon's V8 nurseries at their initial size.
 *
 * V8 doubles an isolate's young generation (up to two 16 MiB semi-spaces) whenever many objects
 * survive a scavenge, and keeps it once grown. `weft run` reads 10,000 leases at start and then
 * allocates little, so the main thread kept 32 MiB of nursery it never used again: with
 * forwarding off the main thread (a second isolate), RSS went over the 150 MB target of issue 13.
 * `--max-semi-space-size` would cap it, but only on node's command line, which a unit file does
 * not carry; the growth factor, unlike the maximum, is read at each growth, so setting it to 1
 * before the heap has grown has the same effect at run time. It is process-wide: the forwarding
 * threads' nurseries stay small too, which is right for them (they allocate nothing per packet).
 * The cost is more promotion into the old generation during a lease burst, on the control-plane
 * thread, not on a forwarding one.
 *
 * Starting a worker thread puts V8's flags back to what node started with (seen with Node 20), so
 * src/dataplane/queue-workers.ts calls `reapplyYoungGenerationCap` once each worker is online.
 */
import v8 from 'node:v8';

const CAP_FLAG = '--semi-space-growth-factor=1';
let capped = false;

/** userSetsSemiSpace is true when node was started with an explicit young-generation size. */
function userSetsSemiSpace(): boolean {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return given.some((a) => /^--(max|min)[-_]semi[-_]space[-_]size\b/.test(a));
}

/**
 * capYoungGeneration stops V8 from growing young generations beyond their initial size, unless
 * node was given `--max-semi-space-size` or `--min-semi-space-size` (the operator's choice wins).
 * Call it first thing in a long-running command. Returns whether it did.
 */
export function capYoungGeneration(): boolean {
  if (userSetsSemiSpace()) return false;
  capped = true;
  v8.setFlagsFromString(CAP_FLAG);
  return true;
}

/** reapplyYoungGenerationCap sets the cap again if `capYoungGeneration` set it (after a worker start). */
export function reapplyYoungGenerationCap(): void {
  if (capped) v8.setFlagsFromString(CAP_FLAG);
}
