/**
 * The flannel plugin's pure parts: subnet.env as flannel's plugin reads it, the delegate it renders
 * (byte for byte what flannel-io/cni-plugin saves), Go's JSON key order, and flannel's messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CniError } from '../../src/errors';
import { goJsonMarshal } from '../../src/cni/go-json';
import { withRouteGateways } from '../../src/cni/gateways';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_SUBNET_FILE,
  loadFlannelNetConf,
  renderDelegate,
} from '../../src/cni/netconf';
import { parseFlannelSubnetEnv } from '../../src/cni/subnet-env';
import { STOCK_CONFLIST } from '../../src/cni/install';

const ENV =
  'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

/** stockFlannelConf is the flannel entry of the stock conflist as a runtime sends it (name, cniVersion added). */
function stockFlannelConf(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...STOCK_CONFLIST.plugins[0], name: 'cbr0', cniVersion: '0.3.1', ...extra });
}

test('stock conflist + subnet.env render the delegate flannel saves, byte for byte', () => {
  const n = loadFlannelNetConf(stockFlannelConf());
  assert.equal(n.subnetFile, DEFAULT_SUBNET_FILE);
  assert.equal(n.dataDir, DEFAULT_DATA_DIR);
  const d = renderDelegate(n, parseFlannelSubnetEnv(ENV, 'subnet.env'));
  // Go's json.Marshal of flannel's map: keys sorted at every level, routes as types.Route.
  assert.equal(
    goJsonMarshal(d),
    '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],' +
      '"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,' +
      '"mtu":1450,"name":"cbr0","type":"bridge"}',
  );
});

test('delegate defaults yield to what the delegate map sets; ipMasq is the inverse of FLANNEL_IPMASQ', () => {
  const env = parseFlannelSubnetEnv(ENV.replace('IPMASQ=true', 'IPMASQ=false'), 'f');
  const d = renderDelegate(loadFlannelNetConf(stockFlannelConf()), env);
  assert.equal(d.ipMasq, true);
  const own = renderDelegate(
    loadFlannelNetConf(
      stockFlannelConf({
        delegate: { type: 'bridge', ipMasq: false, mtu: 1400, isGateway: false, bridge: 'cbr1' },
      }),
    ),
    env,
  );
  assert.deepEqual([own.ipMasq, own.mtu, own.isGateway, own.bridge], [false, 1400, false, 'cbr1']);
  // isGateway is a bridge default only.
  const ptp = renderDelegate(loadFlannelNetConf(stockFlannelConf({ delegate: { type: 'ptp' } })), env);
  assert.equal('isGateway' in ptp, false);
  assert.equal(ptp.type, 'ptp');
});

test('ipam: the plugin ipam map is the base, ranges from the subnets, routes = ipam.routes + networks', () => {
  const env = parseFlannelSubnetEnv(
    'FLANNEL_NETWORK=10.244.0.0/16,10.245.0.0/16,10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\n' +
      'FLANNEL_IPV6_NETWORK=fd00:10::/56\nFLANNEL_IPV6_SUBNET=fd00:10:0:7::1/64\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=false\n',
    'f',
  );
  const n = loadFlannelNetConf(
    stockFlannelConf({ ipam: { dataDir: '/tmp/x', routes: [{ dst: '192.0.2.7/24', gw: '10.244.7.254' }] } }),
  );
  const d = renderDelegate(n, env);
  assert.deepEqual(d.ipam, {
    dataDir: '/tmp/x',
    type: 'host-local',
    ranges: [[{ subnet: '10.244.7.0/24' }], [{ subnet: 'fd00:10:0:7::/64' }]],
    routes: [
      { dst: '192.0.2.0/24', gw: '10.244.7.254' },
      { dst: '10.244.0.0/16' },
      { dst: '10.245.0.0/16' },
      { dst: 'fd00:10::/56' },
    ],
  });
  const ownType = renderDelegate(loadFlannelNetConf(stockFlannelConf({ ipam: { type: 'static' } })), env);
  assert.equal((ownType.ipam as { type: string }).type, 'static');
});

test('runtimeConfig is passed to the delegate; cniVersion copied only when set', () => {
  const env = parseFlannelSubnetEnv(ENV, 'f');
  const d = renderDelegate(
    loadFlannelNetConf(stockFlannelConf({ runtimeConfig: { portMappings: [] } })),
    env,
  );
  assert.deepEqual(d.runtimeConfig, { portMappings: [] });
  const noVer = renderDelegate(loadFlannelNetConf(JSON.stringify({ name: 'cbr0', type: 'flannel' })), env);
  assert.equal('cniVersion' in noVer, false);
});

test("flannel's errors: delegate with name / ipam / non-string type, bad routes, bad netconf", () => {
  const env = parseFlannelSubnetEnv(ENV, 'f');
  const render = (extra: Record<string, unknown>): unknown =>
    renderDelegate(loadFlannelNetConf(stockFlannelConf(extra)), env);
  assert.throws(() => render({ delegate: { name: 'x' } }), {
    message: "'delegate' dictionary must not have 'name' field, it'll be set by flannel",
  });
  assert.throws(() => render({ delegate: { ipam: {} } }), {
    message: "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel",
  });
  assert.throws(() => render({ delegate: { type: 7 } }), {
    message: "'delegate' dictionary, if present, must have (string) 'type' field",
  });
  assert.throws(
    () => render({ ipam: { routes: [{ dst: 'nope' }] } }),
    (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.cniCode, 999);
      assert.match(e.message, /failed to parse ipam\.routes: invalid CIDR address: nope/);
      return true;
    },
  );
  assert.throws(() => loadFlannelNetConf('{"name":"cbr0","subnetFile":5}'), {
    message: 'failed to load netconf: "subnetFile" must be a string',
  });
  assert.throws(() => loadFlannelNetConf('{nope'), /^CniError: failed to load netconf: /);
});

test("subnet.env: flannel's missing-key message, parse errors, CRLF, IPMASQ only 'true'", () => {
  assert.throws(
    () =>
      parseFlannelSubnetEnv(
        'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPMASQ=true\n',
        '/run/flannel/subnet.env',
      ),
    {
      message: '/run/flannel/subnet.env is missing FLANNEL_MTU',
    },
  );
  assert.throws(() => parseFlannelSubnetEnv('', 'f'), {
    message:
      'f is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ',
  });
  assert.throws(() => parseFlannelSubnetEnv(ENV.replace('1450', '14x'), 'f'), {
    message: 'strconv.ParseUint: parsing "14x": invalid syntax',
  });
  assert.throws(() => parseFlannelSubnetEnv(ENV.replace('10.244.1.1/24', '10.244.1.1'), 'f'), {
    message: 'invalid CIDR address: 10.244.1.1',
  });
  const e = parseFlannelSubnetEnv(ENV.replace(/\n/g, '\r\n').replace('IPMASQ=true', 'IPMASQ=TRUE'), 'f');
  assert.deepEqual(e, {
    networks: ['10.244.0.0/16'],
    subnet: '10.244.1.0/24',
    ip6Networks: [],
    ip6Subnet: null,
    mtu: 1450,
    ipmasq: false,
  });
});

test("go-json: sorted keys at every level, Go's HTML escapes", () => {
  assert.equal(
    goJsonMarshal({ b: 1, a: { d: [{ z: 1, y: 2 }], c: '<&>' } }),
    '{"a":{"c":"\\u003c\\u0026\\u003e","d":[{"y":2,"z":1}]},"b":1}',
  );
  assert.equal(goJsonMarshal({ ipam: 1, ipMasq: 2 }), '{"ipMasq":2,"ipam":1}');
});

test('CHECK prevResult: gateway-less routes get their family gateway, others untouched', () => {
  const r = {
    cniVersion: '0.4.0',
    ips: [
      { version: '4', address: '10.244.1.2/24', gateway: '10.244.1.1' },
      { version: '6', address: 'fd00::2/64', gateway: 'fd00::1' },
    ],
    routes: [{ dst: '10.244.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.244.1.254' }, { dst: 'fd00:10::/56' }],
  };
  assert.deepEqual((withRouteGateways(r) as typeof r).routes, [
    { dst: '10.244.0.0/16', gw: '10.244.1.1' },
    { dst: '0.0.0.0/0', gw: '10.244.1.254' },
    { dst: 'fd00:10::/56', gw: 'fd00::1' },
  ]);
  assert.equal(r.routes[0]!.gw, undefined, 'the input is not modified');
  assert.equal(withRouteGateways(null), null);
});
