/**
 * csum-copy: a plan of (source offset, destination offset, length) copies executed in ONE native
 * call (`csumCopy`) that also returns the RFC 1071 sum of every copied range. Segmentation and
 * coalescing copy payload bytes and need their checksums; doing both in one pass in C keeps the
 * per-byte work out of JavaScript while TypeScript keeps every header decision.
 *
 * Hot path: `add` writes three u32s, `run` is one JS->native crossing; nothing allocates. When the
 * addon is missing (e.g. a unit test on a machine without a build) a JS fallback does the same.
 */
import { loadBinding, type NativeBinding } from '../io/binding';
import { checksumAdd, checksumFold } from '../wire/checksum';

/** SUM_ONLY as a destination offset: sum the range, copy nothing. */
export const SUM_ONLY = 0xffffffff;
/** BAD_RANGE is the sum reported for a plan entry outside its buffers. */
export const BAD_RANGE = 0xffffffff;

let native: NativeBinding | null | undefined;

function binding(): NativeBinding | null {
  if (native === undefined) {
    try {
      native = loadBinding();
    } catch {
      native = null;
    }
  }
  return native;
}

/** PLAN_ENTRY is the words of one plan entry: source offset, destination offset, length. */
const PLAN_ENTRY = 3;
const PLAN_SRC = 0;
const PLAN_DST = 1;
const PLAN_LEN = 2;

/** CsumCopier accumulates a copy plan and runs it. */
export class CsumCopier {
  /** Plan entries as (srcOff, dstOff, len) triples. */
  readonly plan: Uint32Array;
  /** After `run`: the folded 16-bit sum of entry k's source range (BAD_RANGE if out of range). */
  readonly sums: Uint32Array;
  /** Entries planned. */
  count = 0;

  /** CsumCopier holds up to `capacity` entries. */
  constructor(readonly capacity: number) {
    this.plan = new Uint32Array(capacity * PLAN_ENTRY);
    this.sums = new Uint32Array(capacity);
  }

  /** add plans one copy and returns its index, or -1 when the plan is full. */
  add(srcOff: number, dstOff: number, len: number): number {
    const k = this.count;
    if (k >= this.capacity) return -1;
    const p = this.plan;
    const e = PLAN_ENTRY * k;
    p[e + PLAN_SRC] = srcOff;
    p[e + PLAN_DST] = dstOff;
    p[e + PLAN_LEN] = len;
    this.count = k + 1;
    return k;
  }

  /** run executes the plan from `src` into `dst` (may be the same buffer) and resets it. */
  run(src: Uint8Array, dst: Uint8Array): void {
    const n = this.count;
    this.count = 0;
    if (n === 0) return;
    const b = binding();
    if (b !== null) {
      b.csumCopy(src, dst, this.plan, n, this.sums);
      return;
    }
    csumCopyJs(src, dst, this.plan, n, this.sums);
  }
}

/** csumCopyJs is the JavaScript equivalent of the native `csumCopy` (fallback and tests). */
export function csumCopyJs(
  src: Uint8Array,
  dst: Uint8Array,
  plan: Uint32Array,
  n: number,
  sums: Uint32Array,
): void {
  for (let k = 0; k < n; k++) {
    const e = PLAN_ENTRY * k;
    const so = plan[e + PLAN_SRC]!;
    const d = plan[e + PLAN_DST]!;
    const len = plan[e + PLAN_LEN]!;
    const copy = d !== SUM_ONLY;
    if (so + len > src.length || (copy && d + len > dst.length)) {
      sums[k] = BAD_RANGE;
      continue;
    }
    sums[k] = checksumFold(checksumAdd(src, so, len, 0));
    if (copy) {
      if (src === dst) dst.copyWithin(d, so, so + len);
      else dst.set(src.subarray(so, so + len), d);
    }
  }
}
