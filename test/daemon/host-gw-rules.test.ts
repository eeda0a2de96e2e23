/**
 * host-gw's rules without a network: flannel's lease value, the NAT refusal, which leases count,
 * and the routed-peer records.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors';
import { encodeLeaseAttrs, leaseFromKeyValue } from '../../src/control/lease';
import {
  NAT_ERROR,
  checkHostGwIface,
  hostGwIgnoreWarning,
  hostGwLeaseAttrs,
  hostGwPeers,
} from '../../src/daemon/host-gw';

test("host-gw lease: flannel's exact value, no BackendData", () => {
  assert.equal(
    encodeLeaseAttrs(hostGwLeaseAttrs('192.0.2.1')),
    '{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"host-gw"}',
  );
});

test("host-gw behind NAT: flannel's error, naming --public-ip", () => {
  checkHostGwIface({ name: 'eth0', addr: '192.0.2.1', mtu: 1500, publicIp: '192.0.2.1' });
  assert.throws(
    () => checkHostGwIface({ name: 'eth0', addr: '192.0.2.1', mtu: 1500, publicIp: '203.0.113.5' }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.field === '--public-ip' &&
      e.message.includes(NAT_ERROR) &&
      e.message.includes('203.0.113.5') &&
      e.message.includes('eth0 has 192.0.2.1'),
  );
});

test("host-gw peers: only host-gw leases, others ignored with flannel's warning", () => {
  const exp = new Date(Date.now() + 3600_000);
  const hg = leaseFromKeyValue(
    '10.244.2.0-24',
    '{"PublicIP":"192.0.2.2","PublicIPv6":null,"BackendType":"host-gw"}',
    exp,
  );
  const vx = leaseFromKeyValue(
    '10.244.3.0-24',
    '{"PublicIP":"192.0.2.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:03"}}',
    exp,
  );
  const udp = leaseFromKeyValue('10.244.4.0-24', '{"PublicIP":"192.0.2.4","PublicIPv6":null}', exp);
  assert.equal(hostGwIgnoreWarning(hg), null);
  assert.equal(hostGwIgnoreWarning(vx), 'Ignoring non-host-gw subnet: type=vxlan');
  assert.equal(hostGwIgnoreWarning(udp), 'Ignoring non-host-gw subnet: type=');
  const peers = hostGwPeers([vx, udp, hg]);
  assert.deepEqual(
    peers.map((p) => [p.subnet, p.publicIp]),
    [['10.244.2.0/24', '192.0.2.2']],
  );
});
