/**
 * PeerLeases (src/daemon/peer-leases.ts), the daemon's book of peer leases, against a from-scratch
 * evaluation: after any sequence of lease sets (adds, deletions, rewrites, hostile leases) the book
 * knows exactly the current set (it is updated in place, not copied), routes exactly what
 * `filterLeases` accepts from scratch, refuses exactly what it refuses, and counted every routed
 * lease as added.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { filterLeases, parseIpv4Cidr, parseIpv4, type Lease, type LeasePolicy } from '../../src/control';
import { PeerLeases } from '../../src/daemon/peer-leases';
import { newDaemonCounters } from '../../src/metrics/metrics';

const policy: LeasePolicy = {
  network: parseIpv4Cidr('10.244.0.0/16')!,
  subnetLen: 24,
  ownSubnet: parseIpv4Cidr('10.244.0.0/24')!,
  ownAddrs: new Set([parseIpv4('192.0.2.1')!]),
  vni: 1,
};

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** lease builds a vxlan lease; `third`/`len` pick the subnet, `ip` the public IP's last byte. */
function lease(third: number, len: number, ip: number, mac: string): Lease {
  const subnet = parseIpv4Cidr(`10.${third < 250 ? 244 : 9}.${third % 250}.0/${len}`);
  return {
    key: `10.244.${third}.0-${len}`,
    subnet,
    ipv6Subnet: null,
    attrs: {
      publicIp: `192.0.2.${ip}`,
      publicIpv6: null,
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: mac },
      backendV6Data: null,
    },
    expiration: null,
  };
}

const arbLease = fc
  .record({
    third: fc.integer({ min: 0, max: 255 }),
    len: fc.constantFrom(24, 24, 24, 25),
    ip: fc.integer({ min: 1, max: 4 }),
    mac: fc.constantFrom('0e:00:00:00:00:01', '0e:00:00:00:00:02', 'ff:ff:ff:ff:ff:ff'),
  })
  .map((r) => lease(r.third, r.len, r.ip, r.mac));

test('PeerLeases matches a from-scratch evaluation after every change', () => {
  fc.assert(
    fc.property(fc.array(fc.array(arbLease, { maxLength: 30 }), { minLength: 1, maxLength: 12 }), (sets) => {
      const counters = newDaemonCounters();
      const book = new PeerLeases({ log: silent, counters, forget: () => undefined });
      // One live map, changed between passes as the watcher changes its map.
      const live = new Map<string, Lease>();
      for (const set of sets) {
        const next = new Map(set.map((l) => [l.key, l]));
        for (const k of [...live.keys()]) if (!next.has(k)) live.delete(k);
        for (const [k, l] of next) live.set(k, l);
        const routed = book.update(live, policy, 'vxlan');
        const fresh = filterLeases(live.values(), policy);
        assert.deepEqual(
          routed.map((l) => l.key),
          fresh.accepted.map((l) => l.key),
        );
        assert.deepEqual([...book.known.keys()].sort(), [...live.keys()].sort());
        for (const [k, l] of live) assert.equal(book.known.get(k), l);
        assert.deepEqual([...book.rejected.keys()].sort(), [...fresh.rejected.keys()].sort());
        // A rewritten lease is "added" again (flannel logs each change), so added >= routed + removed.
        assert.ok(
          counters.leaseAdded - counters.leaseRemoved >= routed.length,
          'every routed lease was added',
        );
      }
    }),
    { numRuns: 200 },
  );
});
