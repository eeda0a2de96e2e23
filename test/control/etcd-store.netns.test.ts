import test from 'node:test';
import assert from 'node:assert/strict';
import { TestEtcd } from '../../src/testing/etcd';
import { EtcdStore } from '../../src/control/etcd-store';
import { LeaseManager } from '../../src/control/lease-manager';
import { watchPeers } from '../../src/control/lease-watcher';
import { LeaseAttrs, vxlanLeaseData } from '../../src/control/lease';
import { parseNetworkConfig } from '../../src/control/net-config';
import { parseIpv4Cidr } from '../../src/net/addr';
import { LeaseWatchResult, SubnetTakenError } from '../../src/control/store';

const attrs = (ip: string, mac = '0e:00:00:00:00:01'): LeaseAttrs => ({
  publicIp: ip,
  publicIpv6: null,
  backendType: 'vxlan',
  backendData: vxlanLeaseData(1, mac),
  backendV6Data: null,
});
const ref = (cidr: string) => ({ subnet: parseIpv4Cidr(cidr)! });
const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');

let etcd: TestEtcd;
let prefixSeq = 0;
test.before(async () => {
  etcd = await TestEtcd.start();
});
test.after(async () => {
  await etcd?.destroy();
});

/** A store on its own prefix, so tests don't see each other's keys. */
function newStore(t: { after: (fn: () => unknown) => void }, prefix?: string): EtcdStore {
  const s = new EtcdStore({
    endpoints: [etcd.clientUrl],
    prefix: prefix ?? `/weft-test-${process.pid}-${++prefixSeq}/network`,
    callTimeoutMs: 3000,
  });
  t.after(() => s.close());
  return s;
}

async function nextResult(it: AsyncIterator<LeaseWatchResult>, ms: number): Promise<LeaseWatchResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no watch result within ${ms} ms`)), ms);
  });
  try {
    const r = await Promise.race([it.next(), timeout]);
    assert.equal(r.done, false);
    return r.value as LeaseWatchResult;
  } finally {
    clearTimeout(timer);
  }
}

test('config: absent is null, then read back exactly (flannel layout)', async (t) => {
  const s = newStore(t, '/coreos.com/network');
  assert.equal(await s.getConfig(), null);
  await s.setConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  assert.equal(await s.getConfig(), '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  const raw = await s.client.get('/coreos.com/network/config').string();
  assert.equal(raw, '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
});

test('createLease: txn on version 0 under an 86400 s etcd lease; a second create fails', async (t) => {
  const s = newStore(t, '/coreos.com/network');
  const l = await s.createLease(ref('10.244.1.0/24'), attrs('192.0.2.3', 'aa:bb:cc:dd:ee:ff'), 86400);
  assert.equal(l.key, '10.244.1.0-24');
  const res = await s.client.kv.range({ key: Buffer.from('/coreos.com/network/subnets/10.244.1.0-24') });
  assert.equal(
    res.kvs[0]!.value.toString(),
    '{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}}',
  );
  const ttl = await s.client.leaseClient.leaseTimeToLive({ ID: res.kvs[0]!.lease });
  assert.equal(ttl.grantedTTL, '86400');
  assert.ok(Number(ttl.TTL) > 86390);
  await assert.rejects(s.createLease(ref('10.244.1.0/24'), attrs('192.0.2.4'), 86400), SubnetTakenError);
  const after = await s.client.kv.range({ key: Buffer.from('/coreos.com/network/subnets/10.244.1.0-24') });
  assert.equal(after.kvs[0]!.mod_revision, res.kvs[0]!.mod_revision, 'the loser did not overwrite');
  const { leases } = await s.listLeases();
  assert.equal(leases.length, 1);
  assert.ok(leases[0]!.expiration!.getTime() > Date.now() + 86_000_000);
  // updateLease (renew) grants a new etcd lease and puts the same value.
  await s.updateLease(ref('10.244.1.0/24'), attrs('192.0.2.3', 'aa:bb:cc:dd:ee:ff'), 86400);
  const renewed = await s.client.kv.range({ key: Buffer.from('/coreos.com/network/subnets/10.244.1.0-24') });
  assert.notEqual(renewed.kvs[0]!.lease, res.kvs[0]!.lease);
  await s.deleteLease(ref('10.244.1.0/24'));
});

test('the etcd lease TTL expires the key; the watch reports the removal', async (t) => {
  const s = newStore(t);
  const ac = new AbortController();
  t.after(() => ac.abort());
  const { cursor } = await s.listLeases();
  const it = s.watchLeases(cursor, ac.signal)[Symbol.asyncIterator]();
  await s.createLease(ref('10.244.9.0/24'), attrs('192.0.2.9'), 3);
  let r = await nextResult(it, 3000);
  assert.deepEqual(
    r.events.map((e) => [e.type, e.lease.key]),
    [['added', '10.244.9.0-24']],
  );
  const t0 = Date.now();
  r = await nextResult(it, 8000);
  assert.deepEqual(
    r.events.map((e) => [e.type, e.lease.key]),
    [['removed', '10.244.9.0-24']],
  );
  assert.equal(r.events[0]!.lease.attrs.publicIp, '192.0.2.9');
  assert.ok(Date.now() - t0 > 1000);
  assert.equal((await s.listLeases()).leases.length, 0);
});

test('snapshot then watch from revision+1: changes after the listing are not lost', async (t) => {
  const s = newStore(t);
  const ac = new AbortController();
  t.after(() => ac.abort());
  await s.createLease(ref('10.244.1.0/24'), attrs('192.0.2.1'), 60);
  const { leases, cursor } = await s.listLeases();
  assert.equal(leases.length, 1);
  // Changes between the listing and the watch start.
  await s.createLease(ref('10.244.2.0/24'), attrs('192.0.2.2'), 60);
  await s.deleteLease(ref('10.244.1.0/24'));
  const it = s.watchLeases(cursor, ac.signal)[Symbol.asyncIterator]();
  const seen: string[] = [];
  while (seen.length < 2) {
    const r = await nextResult(it, 3000);
    assert.equal(r.snapshot, undefined);
    for (const e of r.events) seen.push(`${e.type} ${e.lease.key}`);
  }
  assert.deepEqual(seen, ['added 10.244.2.0-24', 'removed 10.244.1.0-24']);
  assert.ok(BigInt(cursor) < BigInt((await s.listLeases()).cursor));
});

test('compaction: a watch from a compacted revision resyncs with a snapshot', async (t) => {
  const s = newStore(t);
  const ac = new AbortController();
  t.after(() => ac.abort());
  const { cursor } = await s.listLeases();
  await s.createLease(ref('10.244.3.0/24'), attrs('192.0.2.3'), 60);
  await s.createLease(ref('10.244.4.0/24'), attrs('192.0.2.4'), 60);
  await s.deleteLease(ref('10.244.3.0/24'));
  const head = (await s.listLeases()).cursor;
  await s.client.kv.compact({ revision: head, physical: true });
  const it = s.watchLeases(cursor, ac.signal)[Symbol.asyncIterator]();
  const r = await nextResult(it, 5000);
  assert.deepEqual(r.events, []);
  assert.deepEqual(
    r.snapshot!.map((l) => l.key),
    ['10.244.4.0-24'],
  );
  // And the watch continues after the resync.
  await s.createLease(ref('10.244.5.0/24'), attrs('192.0.2.5'), 60);
  const r2 = await nextResult(it, 3000);
  assert.deepEqual(
    r2.events.map((e) => [e.type, e.lease.key]),
    [['added', '10.244.5.0-24']],
  );
});

test('two managers racing for subnets on separate clients end with distinct subnets', async (t) => {
  const prefix = `/weft-race-${process.pid}/network`;
  const small = parseNetworkConfig('{"Network":"10.0.0.0/26","Backend":{"Type":"vxlan"}}');
  const a = newStore(t, prefix);
  const b = newStore(t, prefix);
  for (let round = 0; round < 5; round++) {
    const ms = [a, b].map(
      (st, i) =>
        new LeaseManager({
          store: st,
          config: small,
          attrs: attrs(`192.0.2.${round * 2 + i + 1}`),
          ttlSeconds: 60,
          random: () => 0,
        }),
    );
    const got = await Promise.all(ms.map((m) => m.acquire()));
    assert.notEqual(got[0]!.key, got[1]!.key, `round ${round}`);
    for (const m of ms) await m.release();
  }
});

test('own key deleted -> lost', async (t) => {
  const s = newStore(t);
  const me = new LeaseManager({ store: s, config: cfg, attrs: attrs('192.0.2.1'), ttlSeconds: 60 });
  const own = await me.acquire();
  const { leases, cursor } = await s.listLeases();
  const ac = new AbortController();
  let lost = '';
  const done = watchPeers({
    store: s,
    ownKey: own.key,
    ownAttrs: attrs('192.0.2.1'),
    cursor,
    initial: leases,
    signal: ac.signal,
    onChange: () => {},
    onLost: (why) => (lost = why),
  });
  t.after(() => ac.abort());
  await me.renew(); // our own renewal is not a loss
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(lost, '');
  await s.deleteLease(own);
  await Promise.race([
    done,
    new Promise((_, rej) => setTimeout(() => rej(new Error('no lost event')), 5000)),
  ]);
  assert.match(lost, /revoked/);
});

test('etcd stopped and restarted: the store reconnects and the watch resumes', async (t) => {
  const s = newStore(t);
  const writer = newStore(t, (s as unknown as { prefix: string }).prefix);
  const ac = new AbortController();
  t.after(() => ac.abort());
  await s.createLease(ref('10.244.1.0/24'), attrs('192.0.2.1'), 600);
  const { cursor } = await s.listLeases();
  const it = s.watchLeases(cursor, ac.signal)[Symbol.asyncIterator]();
  await writer.createLease(ref('10.244.2.0/24'), attrs('192.0.2.2'), 600);
  let r = await nextResult(it, 3000);
  assert.deepEqual(
    r.events.map((e) => e.lease.key),
    ['10.244.2.0-24'],
  );

  const pending = it.next(); // the watch waits through the outage
  await etcd.stop();
  await assert.rejects(s.getConfig(), /etcd get config failed/);
  await new Promise((res) => setTimeout(res, 3000));
  await etcd.resume();

  // Calls work again shortly (circuit breaker half-opens after 1 s).
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await writer.createLease(ref('10.244.3.0/24'), attrs('192.0.2.3'), 600);
      break;
    } catch (e) {
      if (e instanceof SubnetTakenError) break;
      if (Date.now() > deadline) throw e;
      await new Promise((res) => setTimeout(res, 250));
    }
  }
  const got = await Promise.race([
    pending,
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error('watch did not resume')), 15_000)),
  ]);
  assert.equal(got.done, false);
  r = got.value as LeaseWatchResult;
  const keys = r.snapshot ? r.snapshot.map((l) => l.key) : r.events.map((e) => e.lease.key);
  assert.ok(keys.includes('10.244.3.0-24'), `resumed watch delivered ${JSON.stringify(keys)}`);
  assert.equal((await s.listLeases()).leases.length, 3, 'leases survived the restart');
});
