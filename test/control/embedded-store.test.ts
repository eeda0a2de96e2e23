import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { EmbeddedStore } from '../../src/control/embedded-store';
import { LeaseAttrs, vxlanLeaseData } from '../../src/control/lease';
import { parseIpv4Cidr } from '../../src/net/addr';
import { LeaseWatchResult, SubnetTakenError } from '../../src/control/store';

function tmpStoreDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-store-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const attrs = (ip: string, mac = 'aa:bb:cc:dd:ee:01'): LeaseAttrs => ({
  publicIp: ip,
  publicIpv6: null,
  backendType: 'vxlan',
  backendData: vxlanLeaseData(1, mac),
  backendV6Data: null,
});
const ref = (cidr: string) => ({ subnet: parseIpv4Cidr(cidr)! });

test('layout mirrors etcd keys; cat shows the exact flannel value; expiry is the mtime', async (t) => {
  const dir = tmpStoreDir(t);
  const s = new EmbeddedStore({ dir });
  t.after(() => s.close());
  await s.setConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  assert.equal(
    fs.readFileSync(path.join(dir, 'coreos.com/network/config'), 'utf8'),
    '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}',
  );
  assert.equal(await s.getConfig(), '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  const before = Date.now();
  const l = await s.createLease(ref('10.244.1.0/24'), attrs('192.0.2.3', 'aa:bb:cc:dd:ee:ff'), 3600);
  const file = path.join(dir, 'coreos.com/network/subnets/10.244.1.0-24');
  assert.equal(
    fs.readFileSync(file, 'utf8'),
    '{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}',
  );
  const mtime = fs.statSync(file).mtimeMs;
  assert.ok(Math.abs(mtime - (before + 3600_000)) < 5000, `mtime ${mtime} should be ~1h ahead`);
  assert.equal(l.key, '10.244.1.0-24');
  assert.deepEqual(fs.readdirSync(path.join(dir, 'coreos.com/network/subnets')), ['10.244.1.0-24']);
  const { leases } = await s.listLeases();
  assert.equal(leases.length, 1);
  assert.equal(leases[0]!.attrs.publicIp, '192.0.2.3');
  assert.ok(Math.abs(leases[0]!.expiration!.getTime() - mtime) < 2);
});

test('two store instances on one dir racing for the same subnet: exactly one wins', async (t) => {
  const dir = tmpStoreDir(t);
  for (let round = 0; round < 20; round++) {
    const a = new EmbeddedStore({ dir });
    const b = new EmbeddedStore({ dir });
    const r = await Promise.allSettled([
      a.createLease(ref(`10.9.${round}.0/24`), attrs('192.0.2.1'), 60),
      b.createLease(ref(`10.9.${round}.0/24`), attrs('192.0.2.2'), 60),
    ]);
    const won = r.filter((x) => x.status === 'fulfilled');
    const lost = r.filter((x) => x.status === 'rejected') as PromiseRejectedResult[];
    assert.equal(won.length, 1, `round ${round}`);
    assert.ok(lost[0]!.reason instanceof SubnetTakenError);
    await a.close();
    await b.close();
  }
  assert.deepEqual(fs.readdirSync(path.join(dir, 'coreos.com/network/.tmp')), [], 'no staging files left');
});

test('a second node process racing for the same subnet: exactly one wins', async (t) => {
  const dir = tmpStoreDir(t);
  const mod = path.join(__dirname, '../../src/control/embedded-store.js');
  const script = `
    const { EmbeddedStore } = require(${JSON.stringify(mod)});
    const s = new EmbeddedStore({ dir: process.argv[1] });
    const go = Date.now() + 300; while (Date.now() < go) {}
    s.createLease({ subnet: { ip: 0x0a090000 + 5 * 256, prefixLen: 24 } },
      { publicIp: '192.0.2.99', publicIpv6: null, backendType: '', backendData: null, backendV6Data: null }, 60)
      .then(() => console.log('won'), (e) => console.log(e.name));`;
  const child = spawn(process.execPath, ['-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null) child.kill();
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const s = new EmbeddedStore({ dir });
  t.after(() => s.close());
  await new Promise((r) => setTimeout(r, 250));
  const ours = await s.createLease(ref('10.9.5.0/24'), attrs('192.0.2.1'), 60).then(
    () => 'won',
    (e: Error) => e.name,
  );
  await done;
  const results = [ours, out.trim()].sort();
  assert.deepEqual(results, ['SubnetTakenError', 'won']);
  const { leases } = await s.listLeases();
  assert.equal(leases.length, 1);
});

test('expired leases are absent, can be re-created, and are reaped', async (t) => {
  const dir = tmpStoreDir(t);
  let now = Date.now();
  const s = new EmbeddedStore({ dir, now: () => now });
  t.after(() => s.close());
  await s.createLease(ref('10.9.1.0/24'), attrs('192.0.2.1'), 10);
  await assert.rejects(s.createLease(ref('10.9.1.0/24'), attrs('192.0.2.2'), 10), SubnetTakenError);
  now += 11_000;
  assert.equal((await s.listLeases()).leases.length, 0);
  assert.deepEqual(fs.readdirSync(s.subnetsDir), [], 'reaped by the scan');
  await s.createLease(ref('10.9.2.0/24'), attrs('192.0.2.1'), 10);
  now += 11_000;
  const l = await s.createLease(ref('10.9.2.0/24'), attrs('192.0.2.2'), 10);
  assert.equal(l.attrs.publicIp, '192.0.2.2', 'an expired holder is displaced');
  now += 5_000;
  await s.updateLease(ref('10.9.2.0/24'), attrs('192.0.2.2'), 10);
  now += 6_000;
  assert.equal((await s.listLeases()).leases.length, 1, 'renewal extended the expiry');
});

async function nextResult(it: AsyncIterator<LeaseWatchResult>, ms: number): Promise<LeaseWatchResult> {
  const timeout = new Promise<never>((_, rej) =>
    setTimeout(() => rej(new Error(`no watch result within ${ms} ms`)), ms).unref(),
  );
  const r = await Promise.race([it.next(), timeout]);
  assert.equal(r.done, false);
  return r.value as LeaseWatchResult;
}

test('watch sees add, renew, remove and expiry from another instance within a second', async (t) => {
  const dir = tmpStoreDir(t);
  const w = new EmbeddedStore({ dir, pollIntervalMs: 300 });
  const other = new EmbeddedStore({ dir });
  const ac = new AbortController();
  t.after(async () => {
    ac.abort();
    await w.close();
    await other.close();
  });
  await other.createLease(ref('10.9.1.0/24'), attrs('192.0.2.1'), 60);
  const { leases, cursor } = await w.listLeases();
  assert.equal(leases.length, 1);
  const it = w.watchLeases(cursor, ac.signal)[Symbol.asyncIterator]();

  let t0 = Date.now();
  await other.createLease(ref('10.9.2.0/24'), attrs('192.0.2.2'), 60);
  let r = await nextResult(it, 1000);
  assert.deepEqual(
    r.events.map((e) => [e.type, e.lease.key]),
    [['added', '10.9.2.0-24']],
  );
  assert.ok(Date.now() - t0 < 1000);

  t0 = Date.now();
  await other.deleteLease(ref('10.9.1.0/24'));
  r = await nextResult(it, 1000);
  assert.deepEqual(
    r.events.map((e) => [e.type, e.lease.key]),
    [['removed', '10.9.1.0-24']],
  );
  assert.equal(r.events[0]!.lease.attrs.publicIp, '192.0.2.1', 'removal carries the last value');

  await other.createLease(ref('10.9.3.0/24'), attrs('192.0.2.3'), 1);
  r = await nextResult(it, 1000);
  assert.deepEqual(
    r.events.map((e) => [e.type, e.lease.key]),
    [['added', '10.9.3.0-24']],
  );
  t0 = Date.now();
  r = await nextResult(it, 2500);
  assert.deepEqual(
    r.events.map((e) => [e.type, e.lease.key]),
    [['removed', '10.9.3.0-24']],
  );
  assert.ok(Date.now() - t0 < 2000, 'expiry noticed within a second of the deadline');
});

test('watch with an unknown cursor starts with a snapshot', async (t) => {
  const dir = tmpStoreDir(t);
  const s = new EmbeddedStore({ dir });
  const ac = new AbortController();
  t.after(async () => {
    ac.abort();
    await s.close();
  });
  await s.createLease(ref('10.9.7.0/24'), attrs('192.0.2.7'), 60);
  const it = s.watchLeases('bogus', ac.signal)[Symbol.asyncIterator]();
  const r = await nextResult(it, 1000);
  assert.deepEqual(r.events, []);
  assert.deepEqual(
    r.snapshot!.map((l) => l.key),
    ['10.9.7.0-24'],
  );
  ac.abort();
  const end = await it.next();
  assert.equal(end.done, true, 'abort ends the watch');
});

test('unparsable keys are skipped, not fatal', async (t) => {
  const dir = tmpStoreDir(t);
  const warnings: string[] = [];
  const s = new EmbeddedStore({ dir, warn: (m) => warnings.push(m) });
  t.after(() => s.close());
  await s.createLease(ref('10.9.1.0/24'), attrs('192.0.2.1'), 60);
  const bad = path.join(s.subnetsDir, '10.9.2.0-24');
  fs.writeFileSync(bad, 'not json');
  fs.utimesSync(bad, new Date(), new Date(Date.now() + 60_000));
  fs.writeFileSync(path.join(s.subnetsDir, 'README'), 'x');
  fs.utimesSync(path.join(s.subnetsDir, 'README'), new Date(), new Date(Date.now() + 60_000));
  const { leases } = await s.listLeases();
  assert.deepEqual(
    leases.map((l) => l.key),
    ['10.9.1.0-24'],
  );
  assert.equal(warnings.length, 2);
});
