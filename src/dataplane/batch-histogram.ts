/**
 * batch-histogram: the distribution of batch sizes (packets per native read/recv), kept as a few
 * Float64Array slots per direction. Recorded once per batch, never per packet; the metrics
 * exporter turns it into a Prometheus histogram (`weft_batch_size`) at scrape time.
 *
 * Buckets are powers of two: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+, so the bucket index is
 * floor(log2(n)) capped at 6 (one `Math.clz32`, no loop). Slot 7 holds the sum of the sizes.
 */

/** BATCH_SIZE_BUCKETS is the number of bucket slots (the last one is open: 64 and more). */
export const BATCH_SIZE_BUCKETS = 7;
/** BATCH_SIZE_SUM is the slot holding the sum of all recorded sizes. */
export const BATCH_SIZE_SUM = BATCH_SIZE_BUCKETS;
/** BATCH_SIZE_UPPER are the inclusive upper bounds (Prometheus `le`) of buckets 0..5; bucket 6 is +Inf. */
export const BATCH_SIZE_UPPER: readonly number[] = [1, 3, 7, 15, 31, 63];
/** BATCH_SIZE_BUCKET_NAMES name the buckets for JSON and logs. */
export const BATCH_SIZE_BUCKET_NAMES: readonly string[] = [
  '1',
  '2-3',
  '4-7',
  '8-15',
  '16-31',
  '32-63',
  '64+',
];

/** BatchHistogram is BATCH_SIZE_BUCKETS counts (not cumulative) followed by the sum. */
export type BatchHistogram = Float64Array;

/** BatchSizeStats is the JSON form in DataplaneStats: counts per bucket (BATCH_SIZE_BUCKET_NAMES order) and the sum. */
export interface BatchSizeStats {
  buckets: number[];
  sum: number;
}

/** newBatchHistogram returns a zeroed histogram. */
export function newBatchHistogram(): BatchHistogram {
  return new Float64Array(BATCH_SIZE_BUCKETS + 1);
}

/** recordBatchSize counts one batch of `n` (>= 1) packets. */
export function recordBatchSize(h: BatchHistogram, n: number): void {
  const b = 31 - Math.clz32(n);
  h[b < BATCH_SIZE_BUCKETS - 1 ? b : BATCH_SIZE_BUCKETS - 1]++;
  h[BATCH_SIZE_SUM] += n;
}

/** batchSizeStats copies a histogram into its JSON form (control path; allocates). */
export function batchSizeStats(h: BatchHistogram | null | undefined): BatchSizeStats {
  const buckets: number[] = [];
  for (let i = 0; i < BATCH_SIZE_BUCKETS; i++) buckets.push(h ? h[i]! : 0);
  return { buckets, sum: h ? h[BATCH_SIZE_SUM]! : 0 };
}
