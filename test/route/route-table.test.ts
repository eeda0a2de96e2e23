import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4ToU32, ipv6ToBuffer, parseCidr } from '../../src/net/addr';
import { RouteTable, indexPeers } from '../../src/route/route-table';
import { ConfigError } from '../../src/errors';
import { Rng, SlowTable, peersFor, randomV4Subnet, randomV6Subnet, spec } from './route-fixtures';

/** v4 returns the subnet of the peer a lookup found, or null for no route. */
function v4(t: RouteTable, ip: string): string | null {
  return t.lookupV4(ipv4ToU32(ip))?.subnet ?? null;
}

function v6(t: RouteTable, ip: string): string | null {
  const b = Buffer.alloc(40);
  ipv6ToBuffer(ip).copy(b, 24); // offset 24 = IPv6 header destination field
  return t.lookupV6(b, 24)?.subnet ?? null;
}

test('IPv4 longest-prefix match: table of cases', () => {
  const t = RouteTable.build(
    peersFor([
      '10.244.0.0/16',
      '10.244.1.0/24',
      '10.244.1.128/25',
      '10.244.1.200/32',
      '10.244.2.0/23',
      '192.0.2.0/24',
      '128.0.0.0/1',
      '10.244.255.254/31',
    ]),
  );
  const cases: [string, string | null][] = [
    ['10.244.1.1', '10.244.1.0/24'],
    ['10.244.1.127', '10.244.1.0/24'],
    ['10.244.1.128', '10.244.1.128/25'],
    ['10.244.1.200', '10.244.1.200/32'],
    ['10.244.1.201', '10.244.1.128/25'],
    ['10.244.2.9', '10.244.2.0/23'],
    ['10.244.3.255', '10.244.2.0/23'],
    ['10.244.4.0', '10.244.0.0/16'],
    ['10.244.255.254', '10.244.255.254/31'],
    ['10.244.255.255', '10.244.255.254/31'],
    ['10.244.255.253', '10.244.0.0/16'],
    ['10.245.0.1', null],
    ['9.255.255.255', null],
    ['0.0.0.0', null],
    ['192.0.2.77', '192.0.2.0/24'],
    ['192.0.3.1', '128.0.0.0/1'],
    ['255.255.255.255', '128.0.0.0/1'],
    ['127.255.255.255', null],
  ];
  for (const [ip, want] of cases) assert.equal(v4(t, ip), want, ip);
});

test('IPv4 /0 default route and /32 host routes', () => {
  const t = RouteTable.build(peersFor(['0.0.0.0/0', '10.0.0.1/32', '255.255.255.255/32', '0.0.0.0/32']));
  assert.equal(v4(t, '10.0.0.1'), '10.0.0.1/32');
  assert.equal(v4(t, '10.0.0.2'), '0.0.0.0/0');
  assert.equal(v4(t, '255.255.255.255'), '255.255.255.255/32');
  assert.equal(v4(t, '255.255.255.254'), '0.0.0.0/0');
  assert.equal(v4(t, '0.0.0.0'), '0.0.0.0/32');
  assert.equal(v4(t, '0.0.0.1'), '0.0.0.0/0');
  // int32 reinterpretation of an address >= 128.0.0.0 finds the same route.
  assert.equal(t.lookupV4(ipv4ToU32('255.255.255.255') | 0)?.subnet, '255.255.255.255/32');
});

test('IPv4 result does not depend on insertion order', () => {
  const subnets = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3/32', '10.1.2.0/28'];
  const a = RouteTable.build(peersFor(subnets));
  const b = RouteTable.build(peersFor([...subnets].reverse()));
  for (const ip of ['10.1.2.3', '10.1.2.4', '10.1.2.16', '10.1.3.1', '10.2.0.0', '11.0.0.0']) {
    assert.equal(v4(a, ip), v4(b, ip), ip);
  }
  assert.equal(v4(a, '10.1.2.4'), '10.1.2.0/28');
});

test('empty table misses everything', () => {
  const t = RouteTable.empty();
  assert.equal(t.size, 0);
  assert.equal(t.lookupV4(ipv4ToU32('10.0.0.1')), undefined);
  assert.equal(v6(t, 'fd00::1'), null);
  assert.equal(t.findPeerBySource(ipv4ToU32('192.0.2.1')), undefined);
});

test('IPv6 longest-prefix match: table of cases', () => {
  const t = RouteTable.build(
    peersFor([
      'fd00::/48',
      'fd00:0:0:1::/64',
      'fd00:0:0:1::80/121',
      'fd00:0:0:1::1/128',
      '2001:db8::/32',
      '10.244.0.0/16',
    ]),
  );
  const cases: [string, string | null][] = [
    ['fd00::1', 'fd00::/48'],
    ['fd00:0:0:1::2', 'fd00:0:0:1::/64'],
    ['fd00:0:0:1::1', 'fd00:0:0:1::1/128'],
    ['fd00:0:0:1::85', 'fd00:0:0:1::80/121'],
    ['fd00:0:0:1::100', 'fd00:0:0:1::/64'],
    ['fd00:0:0:ffff:ffff:ffff:ffff:ffff', 'fd00::/48'],
    ['fd00:0:ffff::1', null],
    ['fd00:1::', null],
    ['2001:db8:ffff::1', '2001:db8::/32'],
    ['2001:db9::1', null],
    ['::ffff:10.244.0.1', null],
  ];
  for (const [ip, want] of cases) assert.equal(v6(t, ip), want, ip);
  // IPv4 lookups ignore IPv6 routes and vice versa.
  assert.equal(v4(t, '10.244.3.3'), '10.244.0.0/16');
  assert.equal(t.size, 6);
});

test('IPv6 ::/0 and /128', () => {
  const t = RouteTable.build(peersFor(['::/0', '::/128', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128']));
  assert.equal(v6(t, '::'), '::/128');
  assert.equal(v6(t, '::1'), '::/0');
  assert.equal(
    v6(t, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'),
    'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128',
  );
  assert.equal(v6(t, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe'), '::/0');
});

test('build rejects bad peers with ConfigError naming the field', () => {
  const cases: { name: string; peers: () => Parameters<typeof RouteTable.build>[0]; field: string }[] = [
    {
      name: 'duplicate prefix',
      peers: () => peersFor(['10.244.1.0/24', '10.244.2.0/24', '10.244.1.0/24']),
      field: 'peers[2].subnet',
    },
    {
      name: 'duplicate IPv6 prefix spelled differently',
      peers: () => peersFor(['fd00:1::/64', 'FD00:1:0::/64']),
      field: 'peers[1].subnet',
    },
    { name: 'host bits set', peers: () => peersFor(['10.244.1.5/24']), field: 'peers[0].subnet' },
    { name: 'bad CIDR', peers: () => peersFor(['10.244.1.0']), field: 'peers[0].subnet' },
    {
      name: 'index not position',
      peers: () => [{ ...peersFor(['10.0.0.0/8'])[0]!, index: 3 }],
      field: 'peers[0].index',
    },
    {
      name: 'publicIpU32 mismatch',
      peers: () => indexPeers([spec('10.0.0.0/8', 0, { publicIpU32: 1 })]),
      field: 'peers[0].publicIpU32',
    },
    {
      name: 'bad publicIp',
      peers: () => indexPeers([spec('10.0.0.0/8', 0, { publicIp: 'nope', publicIpU32: 1 })]),
      field: 'peers[0].publicIp',
    },
    {
      name: 'vxlan without MAC',
      peers: () => indexPeers([spec('10.0.0.0/8', 0, { vtepMac: null })]),
      field: 'peers[0].vtepMac',
    },
    {
      name: 'short MAC',
      peers: () => indexPeers([spec('10.0.0.0/8', 0, { vtepMac: Buffer.alloc(5) })]),
      field: 'peers[0].vtepMac',
    },
    {
      name: 'bad backend',
      peers: () => indexPeers([spec('10.0.0.0/8', 0, { backend: 'gre' as unknown as 'udp' })]),
      field: 'peers[0].backend',
    },
  ];
  for (const c of cases) {
    assert.throws(
      () => RouteTable.build(c.peers()),
      (e: unknown) => e instanceof ConfigError && e.field === c.field,
      c.name,
    );
  }
  // flannel-UDP peers carry no MAC.
  const ok = RouteTable.build(indexPeers([spec('10.0.0.0/8', 0, { backend: 'udp', vtepMac: null })]));
  assert.equal(ok.lookupV4(ipv4ToU32('10.1.1.1'))?.backend, 'udp');
});

test('table is immutable and owns a copy of the peer list', () => {
  const peers = peersFor(['10.244.1.0/24']);
  const t = RouteTable.build(peers);
  peers.push(peersFor(['10.244.2.0/24'])[0]!);
  assert.equal(t.size, 1);
  assert.equal(t.peers.length, 1);
  assert.ok(Object.isFrozen(t.peers));
});

test('findPeerBySource: several subnets may share one public IP', () => {
  const t = RouteTable.build(
    indexPeers([
      spec('10.244.1.0/24', 1, { publicIp: '192.0.2.10', publicIpU32: ipv4ToU32('192.0.2.10') }),
      spec('10.244.2.0/24', 2, { publicIp: '203.0.113.5', publicIpU32: ipv4ToU32('203.0.113.5') }),
      spec('fd00:2::/64', 3, { publicIp: '203.0.113.5', publicIpU32: ipv4ToU32('203.0.113.5') }),
    ]),
  );
  assert.equal(t.findPeerBySource(ipv4ToU32('192.0.2.10'))?.subnet, '10.244.1.0/24');
  assert.equal(t.findPeerBySource(ipv4ToU32('203.0.113.5'))?.subnet, '10.244.2.0/24');
  assert.equal(t.findPeerBySource(ipv4ToU32('203.0.113.5') | 0)?.subnet, '10.244.2.0/24');
  assert.deepEqual(
    t.peersBySource(ipv4ToU32('203.0.113.5')).map((p) => p.subnet),
    ['10.244.2.0/24', 'fd00:2::/64'],
  );
  assert.equal(t.findPeerBySource(ipv4ToU32('192.0.2.11')), undefined);
  assert.deepEqual(t.peersBySource(ipv4ToU32('192.0.2.11')), []);
});

test('randomized IPv4: fast table agrees with the linear-scan reference', () => {
  const seed = Number(process.env.WEFT_ROUTE_SEED ?? 0x5eed4);
  const rng = new Rng(seed);
  for (let round = 0; round < 6; round++) {
    const bases = Array.from({ length: 8 }, () => rng.u32());
    const n = [1, 10, 100, 1000, 3000, 3000][round]!;
    const seen = new Set<string>();
    while (seen.size < n) seen.add(randomV4Subnet(rng, bases));
    const peers = peersFor([...seen]);
    const fast = RouteTable.build(peers);
    const slow = new SlowTable(peers);
    for (let i = 0; i < 3000; i++) {
      let dst: number;
      const kind = rng.int(3);
      if (kind === 0) dst = rng.u32();
      else if (kind === 1) dst = (bases[rng.int(bases.length)]! ^ (rng.u32() >>> rng.int(32))) >>> 0;
      else {
        // Inside (or just past the end of) a random route.
        const c = parseCidr(peers[rng.int(peers.length)]!.subnet);
        const host = c.prefixLen === 32 ? 0 : rng.u32() >>> c.prefixLen;
        dst = ((c.family === 4 ? c.network : 0) + host + rng.int(2)) >>> 0;
      }
      const want = slow.lookupV4(dst);
      assert.equal(fast.lookupV4(dst), want, `seed ${seed} round ${round} dst ${dst >>> 0}`);
      assert.equal(fast.lookupV4(dst | 0), want, `seed ${seed} round ${round} dst ${dst | 0} (int32)`);
    }
  }
});

test('randomized IPv6: fast table agrees with the linear-scan reference', () => {
  const seed = Number(process.env.WEFT_ROUTE_SEED ?? 0x5eed6);
  const rng = new Rng(seed);
  for (let round = 0; round < 5; round++) {
    const bases = Array.from({ length: 6 }, () => {
      const b = Buffer.alloc(16);
      for (let i = 0; i < 16; i++) b[i] = rng.int(256);
      return b;
    });
    const n = [1, 10, 100, 1000, 2000][round]!;
    const seen = new Set<string>();
    while (seen.size < n) seen.add(randomV6Subnet(rng, bases));
    const peers = peersFor([...seen]);
    const fast = RouteTable.build(peers);
    const slow = new SlowTable(peers);
    const pkt = Buffer.alloc(64);
    for (let i = 0; i < 2000; i++) {
      const off = 8 + rng.int(24);
      const dst = pkt.subarray(off, off + 16);
      if (rng.int(2) === 0) {
        for (let k = 0; k < 16; k++) dst[k] = rng.int(256);
      } else {
        // A route's network with some trailing bits randomised.
        const c = parseCidr(peers[rng.int(peers.length)]!.subnet);
        c.bytes.copy(dst);
        for (let k = 16 - rng.int(17); k < 16; k++) dst[k] = rng.int(256);
      }
      assert.equal(fast.lookupV6(pkt, off), slow.lookupV6(pkt, off), `seed ${seed} round ${round} i ${i}`);
    }
  }
});

test('10,000 routes: build and every route resolves to its peer', () => {
  // A big flannel cluster: 10,000 /24 leases out of 10.0.0.0/8, plus a few covering routes.
  const subnets: string[] = ['10.0.0.0/8', '10.128.0.0/9'];
  for (let i = 0; i < 10000; i++) subnets.push(`10.${i >> 8}.${i & 255}.0/24`);
  const peers = peersFor(subnets);
  const t0 = process.hrtime.bigint();
  const t = RouteTable.build(peers);
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(t.size, 10002);
  assert.ok(buildMs < 2000, `build took ${buildMs} ms`);
  for (let i = 2; i < peers.length; i++) {
    const base = ipv4ToU32(peers[i]!.subnet.split('/')[0]!);
    assert.equal(t.lookupV4(base), peers[i]);
    assert.equal(t.lookupV4(base + 255), peers[i]);
  }
  assert.equal(v4(t, '10.39.16.1'), '10.0.0.0/8');
  assert.equal(v4(t, '10.200.0.1'), '10.128.0.0/9');
  assert.equal(v4(t, '11.0.0.1'), null);
  assert.ok(t.memoryBytes < 4 * 1024 * 1024, `memory ${t.memoryBytes}`);
});
