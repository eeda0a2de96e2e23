import test from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors';
import { backendMtu, parseNetworkConfig } from '../../src/control/net-config';
import { u32ToIpv4, formatIpv6 } from '../../src/net/addr';

test('flannel defaults: /16 gives /24 subnets, first subnet skipped, backend udp when absent', () => {
  const c = parseNetworkConfig('{"Network":"10.5.0.0/16"}');
  assert.equal(c.enableIPv4, true);
  assert.equal(c.enableIPv6, false);
  assert.equal(c.subnetLen, 24);
  assert.equal(u32ToIpv4(c.subnetMin), '10.5.1.0');
  assert.equal(u32ToIpv4(c.subnetMax), '10.5.255.0');
  assert.deepEqual(c.backend, { type: 'udp', port: 8285 });
  assert.equal(backendMtu(c, 1500), 1472);
});

test('vxlan defaults and options; Type and keys match case-insensitively', () => {
  const c = parseNetworkConfig(
    '{"network":"10.244.0.0/16","backend":{"type":"VXLAN","vni":42,"port":4789,"mtu":9001,"directRouting":true}}',
  );
  assert.deepEqual(c.backend, {
    type: 'vxlan',
    vni: 42,
    port: 4789,
    mtu: 9001,
    directRouting: true,
    macPrefix: '0E-2A',
  });
  assert.equal(backendMtu(c, 1500), 8951);
  const d = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  assert.deepEqual(d.backend, {
    type: 'vxlan',
    vni: 1,
    port: 8472,
    mtu: null,
    directRouting: false,
    macPrefix: '0E-2A',
  });
  assert.equal(backendMtu(d, 1500), 1450);
});

test('host-gw: Type only (matched case-insensitively), MTU is the interface MTU', () => {
  const c = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"Host-GW"}}');
  assert.deepEqual(c.backend, { type: 'host-gw' });
  assert.equal(backendMtu(c, 1500), 1500);
  assert.equal(backendMtu(c, 9001), 9001);
});

test("flannel's other backends are refused naming what weft supports and what the backend is", () => {
  const cases: Array<[string, RegExp]> = [
    ['ipip', /IP-in-IP/],
    ['ipsec', /IPsec/],
    ['wireguard', /WireGuard/],
    ['alloc', /allocat/],
    ['extension', /extension/],
    ['tencent-vpc', /cloud/],
    ['aws-vpc', /cloud/],
    ['gce', /cloud/],
    ['ali-vpc', /cloud/],
    ['IPIP', /IP-in-IP/],
  ];
  for (const [type, what] of cases) {
    assert.throws(
      () => parseNetworkConfig(`{"Network":"10.0.0.0/16","Backend":{"Type":"${type}"}}`),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.equal(e.field, 'Backend.Type');
        assert.match(e.message, /must be "vxlan", "udp" or "host-gw" \(the backends weft implements\)/);
        assert.match(e.message, new RegExp(`flannel's "${type.toLowerCase()}" backend`));
        assert.match(e.message, what);
        assert.doesNotMatch(e.message, /must be "vxlan" or "udp"/);
        return true;
      },
      type,
    );
  }
});

test('narrow networks: prefix+2 subnets; explicit SubnetMin/Max honoured', () => {
  const c = parseNetworkConfig('{"Network":"10.0.0.0/26"}');
  assert.equal(c.subnetLen, 28);
  assert.equal(u32ToIpv4(c.subnetMin), '10.0.0.16');
  assert.equal(u32ToIpv4(c.subnetMax), '10.0.0.48');
  const d = parseNetworkConfig(
    '{"Network":"10.1.0.0/16","SubnetLen":20,"SubnetMin":"10.1.32.0","SubnetMax":"10.1.64.0"}',
  );
  assert.equal(u32ToIpv4(d.subnetMin), '10.1.32.0');
  assert.equal(u32ToIpv4(d.subnetMax), '10.1.64.0');
  const e = parseNetworkConfig('{"Network":"10.1.2.3/16"}'); // masked like Go's ParseCIDR
  assert.equal(u32ToIpv4(e.network!.ip), '10.1.0.0');
});

test('IPv6 defaults: /64 subnets for /56, dual stack', () => {
  const c = parseNetworkConfig(
    '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}',
  );
  assert.equal(c.ipv6SubnetLen, 64);
  assert.equal(formatIpv6(c.ipv6SubnetMin), 'fd00:10:244:1::');
  assert.equal(formatIpv6(c.ipv6SubnetMax), 'fd00:10:244:ff::');
  const v6only = parseNetworkConfig(
    '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00::/120","Backend":{"Type":"vxlan"}}',
  );
  assert.equal(v6only.network, null);
  assert.equal(v6only.ipv6SubnetLen, 122);
});

const VX = '"Backend":{"Type":"vxlan"}';
const invalid: [string, string, RegExp?][] = [
  ['not json', 'config'],
  ['[1,2]', 'config'],
  ['{}', 'Network', /required/],
  ['{"Network":"10.0.0.0"}', 'Network', /IPv4 CIDR/],
  ['{"Network":"fd00::/64"}', 'Network'],
  ['{"Network":"10.0.0.0/16","EnableIPv4":"yes"}', 'EnableIPv4', /boolean/],
  ['{"Network":"10.0.0.0/29"}', 'Network', /Minimum useful network prefix is \/28/],
  ['{"Network":"10.0.0.0/16","SubnetLen":31}', 'SubnetLen', /less than \/31/],
  ['{"Network":"10.0.0.0/16","SubnetLen":17}', 'SubnetLen', /between 18 and 30 when Network is \/16/],
  ['{"Network":"10.0.0.0/16","SubnetLen":"24"}', 'SubnetLen', /integer/],
  ['{"Network":"10.0.0.0/16","SubnetLen":24.5}', 'SubnetLen', /integer/],
  ['{"Network":"10.0.0.0/16","SubnetMin":"10.1.0.0"}', 'SubnetMin', /not in the range/],
  ['{"Network":"10.0.0.0/16","SubnetMin":"10.0.1.5"}', 'SubnetMin', /SubnetLen boundary/],
  ['{"Network":"10.0.0.0/16","SubnetMin":"bogus"}', 'SubnetMin', /IPv4 address/],
  ['{"Network":"10.0.0.0/16","SubnetMax":"11.0.0.0"}', 'SubnetMax', /not in the range/],
  ['{"Network":"10.0.0.0/16","SubnetMax":"10.0.3.128"}', 'SubnetMax', /boundary/],
  [
    '{"Network":"10.0.0.0/16","SubnetMin":"10.0.9.0","SubnetMax":"10.0.3.0"}',
    'SubnetMin',
    /greater than SubnetMax/,
  ],
  ['{"EnableIPv4":false}', 'EnableIPv4', /at least one/],
  [`{"Network":"10.0.0.0/16","EnableIPv6":true,${VX}}`, 'IPv6Network', /required/],
  [`{"Network":"10.0.0.0/16","EnableIPv6":"1","IPv6Network":"fd00::/56",${VX}}`, 'EnableIPv6'],
  [`{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"10.0.0.0/8",${VX}}`, 'IPv6Network'],
  [`{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/125",${VX}}`, 'IPv6Network', /\/124/],
  [
    `{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetLen":127,${VX}}`,
    'IPv6SubnetLen',
    /\/127/,
  ],
  [
    `{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetLen":57,${VX}}`,
    'IPv6SubnetLen',
    /between 58/,
  ],
  [
    `{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetMin":"fd01::",${VX}}`,
    'IPv6SubnetMin',
    /range/,
  ],
  [
    `{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetMax":"fd00:0:0:1::1",${VX}}`,
    'IPv6SubnetMax',
    /boundary/,
  ],
  [
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","Backend":{"Type":"udp"}}',
    'EnableIPv6',
    /udp/,
  ],
  ['{"Network":"10.0.0.0/16","Backend":"vxlan"}', 'Backend', /object/],
  ['{"Network":"10.0.0.0/16","Backend":{}}', 'Backend.Type', /required/],
  [
    '{"Network":"10.0.0.0/16","Backend":{"Type":"banana"}}',
    'Backend.Type',
    /must be "vxlan", "udp" or "host-gw".*unknown backend type "banana"/,
  ],
  ['{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}', 'Backend.VNI', /0\.\.16777215/],
  ['{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","VNI":-1}}', 'Backend.VNI'],
  ['{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","Port":70000}}', 'Backend.Port'],
  ['{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","MTU":100}}', 'Backend.MTU'],
  ['{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","GBP":true}}', 'Backend.GBP', /Group Based Policy/],
  ['{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","Learning":true}}', 'Backend.Learning'],
  [
    '{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","DirectRouting":1}}',
    'Backend.DirectRouting',
    /boolean/,
  ],
  ['{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","MacPrefix":"0E2A"}}', 'Backend.MacPrefix'],
  ['{"Network":"10.0.0.0/16","Backend":{"Type":"udp","Port":0}}', 'Backend.Port', /1\.\.65535/],
];

for (const [json, field, rule] of invalid) {
  test(`invalid config -> ConfigError on ${field}: ${json}`, () => {
    assert.throws(
      () => parseNetworkConfig(json),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
        assert.equal(e.field, field);
        assert.equal(e.code, 'WEFT_ERR_CONFIG');
        assert.ok(e.message.startsWith(`${field}: `), e.message);
        if (rule) assert.match(e.message, rule);
        return true;
      },
    );
  });
}
