/**
 * The embedded store at scale (issue 13.2): a change is read alone, not with every other lease; a
 * huge or unparsable file costs one warning, not one per rescan; an idle watch reads nothing.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedStore, MAX_LEASE_VALUE_BYTES } from '../../src/control/embedded-store';
import { LeaseWatchResult } from '../../src/control/store';

const N = 2000;

function leaseValue(i: number): string {
  return `{"PublicIP":"198.51.100.${(i % 250) + 1}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}"}}`;
}

function keyOf(i: number): string {
  return `10.244.${i >> 6}.${(i & 63) * 4}-30`;
}

function put(dir: string, key: string, value: string | Buffer): void {
  const tmp = path.join(dir, '..', `.t.${key}`);
  fs.writeFileSync(tmp, value);
  const exp = new Date(Date.now() + 3600_000);
  fs.utimesSync(tmp, exp, exp);
  fs.renameSync(tmp, path.join(dir, key));
}

async function nextResult(it: AsyncIterator<LeaseWatchResult>, ms: number): Promise<LeaseWatchResult> {
  const timeout = new Promise<never>((_, rej) =>
    setTimeout(() => rej(new Error(`no watch result within ${ms} ms`)), ms).unref(),
  );
  const r = await Promise.race([it.next(), timeout]);
  assert.equal(r.done, false);
  return r.value as LeaseWatchResult;
}

test(`${N} leases: a new lease is delivered within a second and only it is read`, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-store-scale-'));
  const warnings: string[] = [];
  const s = new EmbeddedStore({ dir: root, pollIntervalMs: 200, warn: (m) => warnings.push(m) });
  const ac = new AbortController();
  t.after(async () => {
    ac.abort();
    await s.close();
    fs.rmSync(root, { recursive: true, force: true });
  });
  fs.mkdirSync(s.subnetsDir, { recursive: true });
  for (let i = 0; i < N; i++) put(s.subnetsDir, keyOf(i), leaseValue(i));
  // One 3 MB file of garbage: over the size limit, never read, warned about once.
  put(s.subnetsDir, '10.244.250.0-30', Buffer.alloc(3 * 1024 * 1024, 0x7b));
  const { leases, cursor } = await s.listLeases();
  assert.equal(leases.length, N);
  assert.equal(s.stats.reads, N, 'the cold start reads each lease once, not the oversized file');
  const it = s.watchLeases(cursor, ac.signal)[Symbol.asyncIterator]();

  // Idle through several sweeps: nothing read, nothing parsed, one warning in all.
  const reads = s.stats.reads;
  const sweeps = s.stats.sweeps;
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(s.stats.sweeps >= sweeps + 5, `sweeps ran (${s.stats.sweeps - sweeps})`);
  assert.equal(s.stats.reads, reads, 'an idle store reads no file');
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, new RegExp(`exceeds the limit of ${MAX_LEASE_VALUE_BYTES} bytes`));

  const t0 = Date.now();
  put(s.subnetsDir, keyOf(N), leaseValue(N));
  const r = await nextResult(it, 1000);
  assert.ok(Date.now() - t0 < 1000);
  assert.deepEqual(
    r.events.map((e) => [e.type, e.lease.key]),
    [['added', keyOf(N)]],
  );
  assert.equal(s.stats.reads, reads + 1, 'only the new file was read');

  // 500 changes at once arrive as a few deliveries, each file read once.
  const before = s.stats.reads;
  for (let i = 0; i < 250; i++) fs.unlinkSync(path.join(s.subnetsDir, keyOf(i)));
  for (let i = 0; i < 250; i++) put(s.subnetsDir, keyOf(N + 1 + i), leaseValue(N + 1 + i));
  let added = 0;
  let removed = 0;
  let deliveries = 0;
  while (added < 250 || removed < 250) {
    const res = await nextResult(it, 2000);
    deliveries++;
    for (const e of res.events) e.type === 'added' ? added++ : removed++;
  }
  assert.equal(added, 250);
  assert.equal(removed, 250);
  assert.ok(deliveries < 50, `coalesced into ${deliveries} deliveries`);
  assert.equal(s.stats.reads - before, 250, 'each new file read once, deletions read nothing');
});
