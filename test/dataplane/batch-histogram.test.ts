/**
 * Batch-size histogram: the bucket arithmetic, and the dataplane over in-memory fakes counting one
 * batch per TUN read / UDP receive (not per packet) in the right bucket in each direction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BATCH_SIZE_BUCKET_NAMES,
  BATCH_SIZE_SUM,
  newBatchHistogram,
  recordBatchSize,
} from '../../src/dataplane/batch-histogram';
import { buildIcmpEcho } from '../../src/testing';
import { pair, until } from './fake-pair';

test('recordBatchSize: power-of-two buckets 1, 2-3, 4-7, ..., 64+ and the sum', () => {
  const h = newBatchHistogram();
  const want = [0, 0, 0, 0, 0, 0, 0];
  const bucketOf = (n: number): number =>
    n >= 64 ? 6 : n >= 32 ? 5 : n >= 16 ? 4 : n >= 8 ? 3 : n >= 4 ? 2 : n >= 2 ? 1 : 0;
  let sum = 0;
  for (let n = 1; n <= 200; n++) {
    recordBatchSize(h, n);
    want[bucketOf(n)]!++;
    sum += n;
  }
  assert.deepEqual([...h.subarray(0, 7)], want);
  assert.equal(h[BATCH_SIZE_SUM], sum);
  assert.deepEqual(want, [1, 2, 4, 8, 16, 32, 137]);
  assert.equal(BATCH_SIZE_BUCKET_NAMES.length, 7);
});

test('dataplane over fakes: each burst is one batch, counted by size in both directions', async (t) => {
  const { a, b, tunA, tunB } = pair('vxlan');
  await a.start();
  await b.start();
  t.after(async () => {
    await a.stop();
    await b.stop();
  });
  const echo = buildIcmpEcho('10.244.0.1', '10.244.1.1');
  // 100 exceeds the 64-slot batch: one batch of 64 and one of 36.
  const bursts = [1, 2, 3, 5, 8, 20, 40, 64, 100];
  let total = 0;
  for (const k of bursts) {
    for (let i = 0; i < k; i++) tunA.inject(echo);
    total += k;
    await until(() => tunB.written.length === total, `${total} packets at B`);
  }
  const want = { buckets: [1, 2, 1, 1, 1, 2, 2], sum: total };
  const sa = a.stats();
  const sb = b.stats();
  assert.deepEqual(sa.egress.batchSizes, want);
  assert.equal(sa.egress.batches, 10);
  // Every burst reaches B as the same batches (the channel delivers a sendBatch at once).
  assert.deepEqual(sb.ingress.batchSizes, want);
  assert.deepEqual(sa.ingress.batchSizes, { buckets: [0, 0, 0, 0, 0, 0, 0], sum: 0 });
  assert.deepEqual(sb.egress.batchSizes, { buckets: [0, 0, 0, 0, 0, 0, 0], sum: 0 });
});
