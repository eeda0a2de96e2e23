/**
 * coalesce-batch: one receive batch through a TcpCoalescer, and what the TUN would then get, for
 * the coalescer's tests.
 */
import type { TcpCoalescer } from '../offload/tcp-coalesce';
import { tunWrites } from './packets';

/** CoalescedBatch is finish()'s descriptor table and the TUN writes it describes. */
export interface CoalescedBatch {
  readonly n: number;
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  readonly trains: Uint16Array;
  readonly writes: Buffer[];
}

/**
 * coalesceBatch runs `segs` (offset, length in `buf`) in order through `c` as one batch into a
 * descriptor table of `slots` entries; `writes` is each train's descriptors concatenated, as the
 * addon's writev hands them to the TUN.
 */
export function coalesceBatch(
  c: TcpCoalescer,
  buf: Buffer,
  segs: ReadonlyArray<readonly [number, number]>,
  slots = 64,
): CoalescedBatch {
  c.begin(buf);
  for (const [o, l] of segs) c.add(o, l);
  const offs = new Uint32Array(slots);
  const lens = new Uint32Array(slots);
  const trains = new Uint16Array(slots);
  const n = c.finish(offs, lens, trains);
  return { n, offs, lens, trains, writes: tunWrites(buf, offs, lens, trains, n) };
}
