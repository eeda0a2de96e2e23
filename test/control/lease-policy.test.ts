import test from 'node:test';
import assert from 'node:assert/strict';
import { checkLease, filterLeases, LeasePolicy } from '../../src/control/lease-policy';
import { leaseFromKeyValue } from '../../src/control/lease';
import { parseIpv4, parseIpv4Cidr } from '../../src/net/addr';

const policy: LeasePolicy = {
  network: parseIpv4Cidr('10.244.0.0/16')!,
  subnetLen: 24,
  ownSubnet: parseIpv4Cidr('10.244.1.0/24')!,
  ownAddrs: new Set([parseIpv4('192.0.2.1')!, parseIpv4('127.0.0.1')!]),
  vni: 1,
};

function lease(key: string, ip = '192.0.2.2', mac = '02:00:00:00:00:02', vni: number | null = 1) {
  const data = vni === null ? `{"VtepMAC":"${mac}"}` : `{"VNI":${vni},"VtepMAC":"${mac}"}`;
  return leaseFromKeyValue(
    key,
    `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":${data}}`,
    null,
  );
}

test('checkLease: every rule, with its reason', () => {
  const cases: Array<[ReturnType<typeof lease>, string | null]> = [
    [lease('10.244.2.0-24'), null],
    [lease('10.244.2.0-24', '192.0.2.2', '02:00:00:00:00:02', null), null], // flannel < 0.14: no VNI
    [lease('192.0.2.0-24'), 'outside_network'],
    [lease('10.0.0.0-8'), 'outside_network'],
    [lease('10.244.0.0-16'), 'subnet_length'],
    [lease('10.244.2.0-25'), 'subnet_length'],
    [lease('10.244.1.0-24&fd00::-64'), 'own_subnet'],
    [lease('10.244.2.0-24', '0.0.0.0'), 'public_ip'],
    [lease('10.244.2.0-24', '0.1.2.3'), 'public_ip'],
    [lease('10.244.2.0-24', '255.255.255.255'), 'public_ip'],
    [lease('10.244.2.0-24', '224.0.0.1'), 'public_ip'],
    [lease('10.244.2.0-24', '240.0.0.1'), 'public_ip'],
    [lease('10.244.2.0-24', '127.0.0.2'), 'public_ip'],
    [lease('10.244.2.0-24', '192.0.2.1'), 'own_public_ip'],
    [lease('10.244.2.0-24', '192.0.2.2', '01:00:5e:00:00:01'), 'vtep_mac'],
    [lease('10.244.2.0-24', '192.0.2.2', 'ff:ff:ff:ff:ff:ff'), 'vtep_mac'],
    [lease('10.244.2.0-24', '192.0.2.2', '00:00:00:00:00:00'), 'vtep_mac'],
    [lease('10.244.2.0-24', '192.0.2.2', '02:00:00:00:00:02', 2), 'vni'],
  ];
  for (const [l, want] of cases) {
    const r = checkLease(l, policy);
    assert.equal(r?.reason ?? null, want, `${l.key} ${l.attrs.publicIp}: ${r?.detail}`);
    if (r) assert.ok(r.detail.length > 10);
  }
});

test('filterLeases: one subnet, one holder (the first key), whatever the arrival order', () => {
  const a = lease('10.244.5.0-24', '192.0.2.5');
  const b = lease('10.244.5.0-24&fd00:1::-64', '192.0.2.6');
  const c = lease('10.244.6.0-24', '192.0.2.6');
  for (const order of [
    [a, b, c],
    [c, b, a],
  ]) {
    const { accepted, rejected } = filterLeases(order, policy);
    assert.deepEqual(
      accepted.map((l) => l.key),
      ['10.244.5.0-24', '10.244.6.0-24'],
    );
    assert.equal(rejected.get(b.key)?.reason, 'duplicate_subnet');
    assert.match(rejected.get(b.key)!.detail, /already held by 10\.244\.5\.0-24/);
  }
});
