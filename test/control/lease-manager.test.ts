import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedStore } from '../../src/control/embedded-store';
import { LeaseManager } from '../../src/control/lease-manager';
import { allocateSubnet, freeSubnets4 } from '../../src/control/allocator';
import { watchPeers } from '../../src/control/lease-watcher';
import { leasesToPeers } from '../../src/control/peers';
import { LeaseAttrs, vxlanLeaseData } from '../../src/control/lease';
import { parseNetworkConfig } from '../../src/control/net-config';
import { u32ToIpv4, ipv4NetToString, parseIpv4Cidr } from '../../src/net/addr';
import { LeaseError } from '../../src/errors';
import { LeaseEvent, LeaseStore, SubnetTakenError } from '../../src/control/store';

const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
const attrs = (ip: string, mac = '0e:00:00:00:00:01'): LeaseAttrs => ({
  publicIp: ip,
  publicIpv6: null,
  backendType: 'vxlan',
  backendData: vxlanLeaseData(1, mac),
  backendV6Data: null,
});

function store(t: { after: (fn: () => unknown) => void }): EmbeddedStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-lm-'));
  const s = new EmbeddedStore({ dir, pollIntervalMs: 200 });
  t.after(async () => {
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return s;
}

test('allocator: skips the first subnet and taken ones, at most 100 candidates, out of subnets', () => {
  const c = freeSubnets4(cfg, [parseIpv4Cidr('10.244.1.0/24'), parseIpv4Cidr('10.244.2.0/23')]);
  assert.equal(c.length, 100);
  assert.deepEqual(
    c.slice(0, 3).map((s) => u32ToIpv4(s.ip)),
    ['10.244.4.0', '10.244.5.0', '10.244.6.0'],
  );
  const small = parseNetworkConfig('{"Network":"10.0.0.0/26"}'); // subnets .16 .32 .48
  const picked = new Set<string>();
  for (let i = 0; i < 50; i++) picked.add(ipv4NetToString(allocateSubnet(small, []).subnet!));
  assert.deepEqual([...picked].sort(), ['10.0.0.16/28', '10.0.0.32/28', '10.0.0.48/28']);
  const full = ['10.0.0.16/28', '10.0.0.32/28', '10.0.0.48/28'].map((s) => ({
    subnet: parseIpv4Cidr(s),
    ipv6Subnet: null,
  }));
  assert.throws(
    () => allocateSubnet(small, full),
    (e: unknown) => e instanceof LeaseError && /out of subnets/.test(e.message),
  );
});

test('acquire: new subnet, then reuse by public IP (same subnet, new attrs), then previous subnet.env', async (t) => {
  const s = store(t);
  const m1 = new LeaseManager({ store: s, config: cfg, attrs: attrs('192.0.2.1'), ttlSeconds: 60 });
  const l1 = await m1.acquire();
  assert.ok(l1.subnet && l1.subnet.ip !== parseIpv4Cidr('10.244.0.0/24')!.ip, 'never the first subnet');
  const m2 = new LeaseManager({
    store: s,
    config: cfg,
    attrs: attrs('192.0.2.1', '0e:00:00:00:00:99'),
    ttlSeconds: 60,
  });
  const l2 = await m2.acquire();
  assert.equal(l2.key, l1.key, 'restart keeps the subnet');
  const { leases } = await s.listLeases();
  assert.equal(leases.length, 1);
  assert.equal((leases[0]!.attrs.backendData as { VtepMAC: string }).VtepMAC, '0e:00:00:00:00:99');
  const prev = {
    subnet: parseIpv4Cidr('10.244.77.0/24'),
    ipv6Subnet: null,
    network: null,
    ipv6Network: null,
    mtu: null,
    ipMasq: null,
  };
  const m3 = new LeaseManager({
    store: s,
    config: cfg,
    attrs: attrs('192.0.2.3'),
    previous: prev,
    ttlSeconds: 60,
  });
  assert.equal((await m3.acquire()).key, '10.244.77.0-24');
  const m4 = new LeaseManager({
    store: s,
    config: cfg,
    attrs: attrs('192.0.2.4'),
    previous: prev,
    ttlSeconds: 60,
  });
  assert.notEqual(
    (await m4.acquire()).key,
    '10.244.77.0-24',
    'previous subnet held by someone else is not taken',
  );
});

test('acquire: an incompatible own lease is deleted and replaced', async (t) => {
  const s = store(t);
  await s.createLease({ subnet: parseIpv4Cidr('10.244.5.0/25')! }, attrs('192.0.2.1'), 60);
  const m = new LeaseManager({ store: s, config: cfg, attrs: attrs('192.0.2.1'), ttlSeconds: 60 });
  const l = await m.acquire();
  assert.equal(l.subnet!.prefixLen, 24);
  assert.deepEqual(
    (await s.listLeases()).leases.map((x) => x.key),
    [l.key],
  );
});

test('acquire retries with another subnet after losing a race (flannel would exit)', async (t) => {
  const s = store(t);
  let stolen = 0;
  // A store wrapper that lets a rival win the first two creates.
  const racy: LeaseStore = Object.create(s) as LeaseStore;
  racy.createLease = async (ref, a, ttl) => {
    if (stolen < 2) {
      stolen++;
      await s.createLease(ref, attrs(`198.51.100.${stolen}`), ttl);
      throw new SubnetTakenError('x');
    }
    return s.createLease(ref, a, ttl);
  };
  racy.listLeases = () => s.listLeases();
  const m = new LeaseManager({ store: racy, config: cfg, attrs: attrs('192.0.2.1'), ttlSeconds: 60 });
  const l = await m.acquire();
  const { leases } = await s.listLeases();
  assert.equal(leases.length, 3);
  assert.equal(new Set(leases.map((x) => x.key)).size, 3);
  assert.equal(leases.find((x) => x.key === l.key)!.attrs.publicIp, '192.0.2.1');
});

test('two managers on two store instances racing on a tiny network end with distinct subnets', async (t) => {
  const s = store(t);
  const small = parseNetworkConfig('{"Network":"10.0.0.0/26","Backend":{"Type":"vxlan"}}');
  for (let round = 0; round < 10; round++) {
    const s2 = new EmbeddedStore({ dir: path.dirname(path.dirname(path.dirname(s.subnetsDir))) });
    // Both pick the same candidate first (random = 0) so the race really happens.
    const ms = [s, s2].map(
      (st, i) =>
        new LeaseManager({
          store: st,
          config: small,
          attrs: attrs(`192.0.2.${round * 2 + i + 1}`),
          ttlSeconds: 60,
          random: () => 0,
        }),
    );
    const [a, b] = await Promise.all(ms.map((m) => m.acquire()));
    assert.notEqual(a!.key, b!.key);
    for (const m of ms) await m.release();
    await s2.close();
  }
});

test('renewal loop rewrites the lease before expiry', async (t) => {
  const s = store(t);
  const m = new LeaseManager({
    store: s,
    config: cfg,
    attrs: attrs('192.0.2.1'),
    ttlSeconds: 2,
    renewMarginMs: 60_000,
  });
  t.after(() => m.stop());
  const l = await m.acquire();
  assert.ok(
    m.nextRenewalDelayMs() <= 1000 && m.nextRenewalDelayMs() > 500,
    'half the TTL when the margin exceeds it',
  );
  const renewed = new Promise<void>((resolve) => (m.onRenewed = () => resolve()));
  m.startRenewal();
  await renewed;
  await new Promise((r) => setTimeout(r, 1500));
  const { leases } = await s.listLeases();
  assert.deepEqual(
    leases.map((x) => x.key),
    [l.key],
    'still alive after the original expiry',
  );
  const long = new LeaseManager({
    store: s,
    config: cfg,
    attrs: attrs('192.0.2.9'),
    ttlSeconds: 86400,
    renewMarginMs: 3600_000,
  });
  await long.acquire();
  const d = long.nextRenewalDelayMs();
  assert.ok(Math.abs(d - 23 * 3600_000) < 5000, `renews 23 h after acquisition, got ${d}`);
});

test('watchPeers: own lease filtered, adds/removes delivered, peers mapped, lost on own delete', async (t) => {
  const s = store(t);
  const me = new LeaseManager({ store: s, config: cfg, attrs: attrs('192.0.2.1'), ttlSeconds: 60 });
  const own = await me.acquire();
  await s.createLease(
    { subnet: parseIpv4Cidr('10.244.200.0/24')! },
    attrs('192.0.2.2', '0e:00:00:00:00:02'),
    60,
  );
  await s.createLease(
    { subnet: parseIpv4Cidr('10.244.201.0/24')! },
    { ...attrs('192.0.2.3'), backendType: 'host-gw', backendData: null },
    60,
  );
  const { leases, cursor } = await s.listLeases();
  const seen: LeaseEvent[] = [];
  let peersNow: string[] = [];
  let lostWhy = '';
  const ac = new AbortController();
  const wake: (() => void)[] = [];
  const done = watchPeers({
    store: s,
    ownKey: own.key,
    ownAttrs: attrs('192.0.2.1'),
    cursor,
    initial: leases,
    signal: ac.signal,
    onChange: (ev, peers) => {
      seen.push(...ev);
      peersNow = [...peers.keys()].sort();
      wake.shift()?.();
    },
    onLost: (why) => {
      lostWhy = why;
    },
  });
  try {
    assert.deepEqual(peersNow, ['10.244.200.0-24', '10.244.201.0-24']);
    const vx = leasesToPeers(
      leases.filter((l) => l.key !== own.key),
      'vxlan',
    );
    assert.deepEqual(
      vx.map((p) => [p.index, p.subnet, p.publicIp, p.vtepMac!.toString('hex')]),
      [[0, '10.244.200.0/24', '192.0.2.2', '0e0000000002']],
    );
    assert.equal(vx[0]!.publicIpU32, 0xc0000202);
    assert.equal(
      leasesToPeers(leases, 'udp').length,
      3,
      'udp routes to every lease, own included when passed',
    );

    const next = () => new Promise<void>((r) => wake.push(r));
    let p = next();
    await s.deleteLease({ subnet: parseIpv4Cidr('10.244.200.0/24')! });
    await p;
    assert.deepEqual(peersNow, ['10.244.201.0-24']);
    assert.equal(seen.at(-1)!.type, 'removed');
    assert.equal(seen.at(-1)!.lease.attrs.publicIp, '192.0.2.2');
    p = next();
    await s.createLease({ subnet: parseIpv4Cidr('10.244.202.0/24')! }, attrs('192.0.2.4'), 60);
    await p;
    assert.deepEqual(peersNow, ['10.244.201.0-24', '10.244.202.0-24']);
    assert.ok(!seen.some((e) => e.lease.key === own.key), 'own lease never reported as a peer');
    await s.deleteLease(own);
    await done;
    assert.match(lostWhy, /revoked/);
  } finally {
    ac.abort();
    await done.catch(() => {});
  }
});
