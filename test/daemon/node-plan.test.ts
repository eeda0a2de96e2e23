/**
 * The node plan (src/daemon/node-plan.ts): flags + net-conf + interface + lease -> device, VNI,
 * port, MTU and the dataplane's config, as flanneld decides them, with no kernel involved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseFlags, parseIpv4Cidr, parseNetworkConfig } from '../../src/control';
import { dataplaneConfig, leaseAttrs, planNode, MIN_OVERLAY_MTU } from '../../src/daemon/node-plan';
import { UDP_OVERHEAD, VXLAN_OVERHEAD } from '../../src/encap/constants';
import { RouteSync } from '../../src/io/route-sync';
import { ConfigError } from '../../src/errors';

const eth0 = { name: 'eth0', mtu: 1500 };
const net = (backend: string): ReturnType<typeof parseNetworkConfig> =>
  parseNetworkConfig(`{"Network":"10.244.0.0/16","Backend":${backend}}`);

test('vxlan: flannel.<VNI>, port 8472 by default, MTU = interface MTU - 50', () => {
  const p = planNode(net('{"Type":"vxlan","VNI":4}'), eth0);
  assert.deepEqual(p, {
    backend: 'vxlan',
    dev: 'flannel.4',
    vni: 4,
    port: 8472,
    overhead: VXLAN_OVERHEAD,
    underlayMtu: 1500,
    mtu: 1450,
  });
});

test('vxlan Backend.MTU stands for the underlay MTU and wins over the interface', () => {
  const p = planNode(net('{"Type":"vxlan","MTU":9000,"Port":4789}'), eth0);
  assert.equal(p.mtu, 9000 - 50);
  assert.equal(p.port, 4789);
});

test('udp: flannel0, port 8285, MTU = interface MTU - 28; no Backend means udp (flannel)', () => {
  for (const be of ['{"Type":"udp"}', '{}']) {
    const p = planNode(
      parseNetworkConfig(`{"Network":"10.244.0.0/16"${be === '{}' ? '' : `,"Backend":${be}`}}`),
      eth0,
    );
    assert.deepEqual(
      { backend: p.backend, dev: p.dev, vni: p.vni, port: p.port, mtu: p.mtu },
      { backend: 'udp', dev: 'flannel0', vni: 0, port: 8285, mtu: 1472 },
    );
  }
});

test('host-gw: no device (the interface), no port, the interface MTU', () => {
  const p = planNode(net('{"Type":"host-gw"}'), { name: 'ens3', mtu: 9001 });
  assert.deepEqual(
    { backend: p.backend, dev: p.dev, port: p.port, mtu: p.mtu, overhead: p.overhead },
    { backend: 'host-gw', dev: 'ens3', port: 0, mtu: 9001, overhead: 0 },
  );
});

test('the MTU is the underlay MTU minus the overhead constants, for any underlay MTU', () => {
  fc.assert(
    fc.property(fc.integer({ min: 68 + VXLAN_OVERHEAD, max: 65535 }), (mtu) => {
      assert.equal(planNode(net('{"Type":"vxlan"}'), { name: 'x', mtu }).mtu, mtu - VXLAN_OVERHEAD);
      assert.equal(planNode(net('{"Type":"udp"}'), { name: 'x', mtu }).mtu, mtu - UDP_OVERHEAD);
    }),
  );
});

test('an overlay MTU below 68 is a ConfigError naming --iface', () => {
  assert.throws(
    () => planNode(net('{"Type":"vxlan"}'), { name: 'x', mtu: MIN_OVERLAY_MTU + VXLAN_OVERHEAD - 1 }),
    (e: unknown) => e instanceof ConfigError && e.field === '--iface' && /below 68/.test(e.message),
  );
  assert.equal(
    planNode(net('{"Type":"vxlan"}'), { name: 'x', mtu: MIN_OVERLAY_MTU + VXLAN_OVERHEAD }).mtu,
    68,
  );
});

test('lease attributes: vxlan carries VNI and VtepMAC, udp nothing, host-gw its type', () => {
  assert.deepEqual(leaseAttrs(net('{"Type":"vxlan","VNI":7}'), '192.0.2.1', '0e:00:00:00:00:01'), {
    publicIp: '192.0.2.1',
    publicIpv6: null,
    backendType: 'vxlan',
    backendData: { VNI: 7, VtepMAC: '0e:00:00:00:00:01' },
    backendV6Data: null,
  });
  assert.equal(leaseAttrs(net('{"Type":"udp"}'), '192.0.2.1', null).backendType, '');
  assert.equal(leaseAttrs(net('{"Type":"host-gw"}'), '192.0.2.1', null).backendType, 'host-gw');
});

test('dataplane config: <subnet>.0/32 on the TUN, flags applied, forwarding off the main thread', () => {
  const flags = parseFlags(['--src-port', 'flow', '--src-port-range', '50000-50100', '--workers', '2'], {});
  const routes = new RouteSync();
  const vx = dataplaneConfig(planNode(net('{"Type":"vxlan"}'), eth0), {
    flags,
    local: '192.0.2.1',
    subnet: parseIpv4Cidr('10.244.7.0/24')!,
    vtepMac: '0e:00:00:00:00:01',
    peers: [],
    routes,
  });
  assert.equal(vx.address, '10.244.7.0/32');
  assert.equal(vx.dev, 'flannel.1');
  assert.equal(vx.mtu, 1450);
  assert.deepEqual([vx.srcPort, vx.srcPortMin, vx.srcPortMax, vx.workers], ['flow', 50000, 50100, 2]);
  assert.equal(vx.forwardOffMain, true);
  assert.equal(vx.routes, routes);
  assert.deepEqual([...vx.vtepMac], [14, 0, 0, 0, 0, 1]);
  const udp = dataplaneConfig(planNode(net('{"Type":"udp"}'), eth0), {
    flags,
    local: '192.0.2.1',
    subnet: parseIpv4Cidr('10.244.7.0/24')!,
    vtepMac: null,
    peers: [],
    routes,
  });
  assert.equal(udp.srcPort, 'fixed', 'flannel-UDP keeps its port');
  assert.equal(udp.mtu, 1472);
});
