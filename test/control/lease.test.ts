import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FormatError } from '../../src/errors';
import {
  decodeLeaseAttrs,
  encodeLeaseAttrs,
  leaseFromKeyValue,
  makeSubnetKey,
  parseSubnetKey,
  vxlanDataOf,
  vxlanLeaseData,
} from '../../src/control/lease';
import { formatIpv6, parseIpv6, parseIpv4Cidr, parseIpv6Cidr } from '../../src/net/addr';

test('vxlan lease value is byte-for-byte flannel (reservations.md)', () => {
  const s = encodeLeaseAttrs({
    publicIp: '192.168.64.3',
    publicIpv6: null,
    backendType: 'vxlan',
    backendData: vxlanLeaseData(1, 'C6:D2:32:6F:8F:44'),
    backendV6Data: null,
  });
  assert.equal(
    s,
    '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
  );
});

test('udp lease value has no BackendType/BackendData (registry_test.go)', () => {
  const s = encodeLeaseAttrs({
    publicIp: '1.2.3.4',
    publicIpv6: null,
    backendType: '',
    backendData: null,
    backendV6Data: null,
  });
  assert.equal(s, '{"PublicIP":"1.2.3.4","PublicIPv6":null}');
});

test('dual-stack vxlan lease value', () => {
  const s = encodeLeaseAttrs({
    publicIp: '192.0.2.3',
    publicIpv6: '2001:db8::3',
    backendType: 'vxlan',
    backendData: vxlanLeaseData(1, 'aa:bb:cc:dd:ee:ff'),
    backendV6Data: vxlanLeaseData(1, 'aa:bb:cc:dd:ee:01'),
  });
  assert.equal(
    s,
    '{"PublicIP":"192.0.2.3","PublicIPv6":"2001:db8::3","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}}',
  );
  assert.equal(encodeLeaseAttrs(decodeLeaseAttrs(s)), s);
});

test('decode tolerates older forms and Go-style case-insensitive keys', () => {
  const old = decodeLeaseAttrs(
    '{"PublicIP":"10.0.0.1","BackendType":"vxlan","BackendData":{"VtepMAC":"c6:d2:32:6f:8f:44"}}',
  );
  assert.equal(old.publicIpv6, null);
  assert.deepEqual(vxlanDataOf(old.backendData), { vni: null, vtepMac: 'c6:d2:32:6f:8f:44' });
  const oldest = decodeLeaseAttrs('{"PublicIP":"10.0.0.1"}');
  assert.equal(oldest.backendType, '');
  assert.equal(encodeLeaseAttrs(oldest), '{"PublicIP":"10.0.0.1","PublicIPv6":null}');
  const ci = decodeLeaseAttrs(
    '{"publicip":"10.0.0.2","backendtype":"vxlan","backenddata":{"vni":7,"vtepmac":"AA:BB:CC:DD:EE:FF"},"Extra":1}',
  );
  assert.equal(ci.publicIp, '10.0.0.2');
  assert.deepEqual(vxlanDataOf(ci.backendData), { vni: 7, vtepMac: 'aa:bb:cc:dd:ee:ff' });
});

test('decode rejects unusable values with FormatError', () => {
  for (const bad of [
    '',
    'null',
    '[]',
    '{}',
    '{"PublicIP":5}',
    '{"PublicIP":"1.2.3"}',
    '{"PublicIP":"1.2.3.4","PublicIPv6":"x"}',
    '{"PublicIP":"1.2.3.4","BackendType":3}',
  ]) {
    assert.throws(() => decodeLeaseAttrs(bad), FormatError, bad);
  }
});

test('fuzz: random JSON and random bytes give a lease or a FormatError, never anything else', () => {
  const check = (text: string): void => {
    try {
      const a = decodeLeaseAttrs(text);
      assert.equal(typeof a.publicIp, 'string');
      vxlanDataOf(a.backendData);
      encodeLeaseAttrs(a);
      leaseFromKeyValue('10.1.2.0-24', text, null);
    } catch (e) {
      assert.ok(e instanceof FormatError, String(e));
    }
  };
  fc.assert(fc.property(fc.json(), check), { numRuns: 2000 });
  fc.assert(fc.property(fc.string(), check), { numRuns: 1000 });
  const leaseish = fc.record({
    PublicIP: fc.oneof(fc.ipV4(), fc.string(), fc.integer()),
    PublicIPv6: fc.oneof(fc.constant(null), fc.ipV6(), fc.string()),
    BackendType: fc.oneof(fc.constant('vxlan'), fc.string(), fc.constant(null)),
    BackendData: fc.oneof(
      fc.jsonValue(),
      fc.record({ VNI: fc.jsonValue(), VtepMAC: fc.oneof(fc.string(), fc.constant('aa:bb:cc:dd:ee:ff')) }),
    ),
  });
  fc.assert(
    fc.property(leaseish, (o) => check(JSON.stringify(o))),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string(), (k) => void parseSubnetKey(k)),
    { numRuns: 2000 },
  );
});

test('subnet keys both ways, IPv4 and dual stack', () => {
  assert.equal(makeSubnetKey(parseIpv4Cidr('10.244.1.0/24')), '10.244.1.0-24');
  const k = makeSubnetKey(parseIpv4Cidr('10.12.13.0/24'), parseIpv6Cidr('fd00:12:13::/56'));
  assert.equal(k, '10.12.13.0-24&fd00:12:13::-56');
  const p = parseSubnetKey(`/coreos.com/network/subnets/${k}`)!;
  assert.deepEqual(p.subnet, parseIpv4Cidr('10.12.13.0/24'));
  assert.deepEqual(p.ipv6Subnet, parseIpv6Cidr('fd00:12:13::/56'));
  assert.equal(makeSubnetKey(null, parseIpv6Cidr('fc00::/64')), '0.0.0.0-0&fc00::-64');
  assert.equal(parseSubnetKey('0.0.0.0-0&fc00::-64')!.subnet, null);
  assert.equal(parseSubnetKey('10.244.1.0-24')!.subnet!.prefixLen, 24);
  assert.equal(parseSubnetKey('config'), null);
  assert.equal(parseSubnetKey('10.244.1.5-24'), null, 'host bits set');
  assert.equal(parseSubnetKey('10.244.1.0-33'), null);
});

test('Go canonical IPv6 formatting', () => {
  const cases: [string, string][] = [
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['fd00:0:0:1::', 'fd00:0:0:1::'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ];
  for (const [i, o] of cases) assert.equal(formatIpv6(parseIpv6(i)!), o, i);
  assert.equal(parseIpv6('1::2::3'), null);
  assert.equal(parseIpv6('12345::'), null);
});
