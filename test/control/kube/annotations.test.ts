/** flannel's node annotations: keys, the lease of a node, the patch flannel sends, the status patch. */
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  annotationKeys,
  annotationPatch,
  cidrContains,
  desiredAnnotations,
  networkUnavailablePatch,
  nodeToLease,
  peerFieldsChanged,
  podCidrOf,
  storedVtepMac,
  type KubeNode,
} from '../../../src/control/kube/annotations';
import { parseIpv4Cidr } from '../../../src/net/addr';
import { vxlanLeaseData } from '../../../src/control/lease';

const A = annotationKeys();
const VX = {
  publicIp: '192.0.2.1',
  publicIpv6: null,
  backendType: 'vxlan',
  backendData: vxlanLeaseData(1, '0a:58:0a:f4:01:00'),
  backendV6Data: null,
};

function node(ann: Record<string, string> = {}, podCIDR = '10.244.1.0/24', podCIDRs?: string[]): KubeNode {
  return { metadata: { name: 'n1', annotations: ann }, spec: { podCIDR, podCIDRs: podCIDRs ?? [podCIDR] } };
}

test('annotation keys follow flannel newAnnotations', () => {
  assert.equal(A.backendType, 'flannel.alpha.coreos.com/backend-type');
  assert.equal(A.subnetKubeManaged, 'flannel.alpha.coreos.com/kube-subnet-manager');
  assert.equal(A.backendPublicIpOverwrite, 'flannel.alpha.coreos.com/public-ip-overwrite');
  assert.equal(annotationKeys('example.com/flannel').backendData, 'example.com/flannel-backend-data');
  assert.equal(annotationKeys('example.com/').backendData, 'example.com/backend-data');
  assert.equal(annotationKeys('example.com/x-').backendPublicIp, 'example.com/x-public-ip');
});

test('a fresh node gets exactly flannel vxlan annotations, sorted, as one status patch', () => {
  const d = desiredAnnotations(node(), A, VX);
  assert.ok(d);
  assert.equal(
    annotationPatch(d.set),
    '{"metadata":{"annotations":{' +
      '"flannel.alpha.coreos.com/backend-data":"{\\"VNI\\":1,\\"VtepMAC\\":\\"0a:58:0a:f4:01:00\\"}",' +
      '"flannel.alpha.coreos.com/backend-type":"vxlan",' +
      '"flannel.alpha.coreos.com/kube-subnet-manager":"true",' +
      '"flannel.alpha.coreos.com/public-ip":"192.0.2.1"}}}',
  );
  // Already annotated: nothing to send.
  assert.equal(desiredAnnotations(node(d.set), A, VX), null);
});

test('udp writes backend-type "" and backend-data null', () => {
  const d = desiredAnnotations(node(), A, { ...VX, backendType: '', backendData: null });
  assert.ok(d);
  assert.equal(d.set[A.backendType], '');
  assert.equal(d.set[A.backendData], 'null');
});

test('public-ip-overwrite is advertised instead of our IP; only changed keys are sent', () => {
  const ann = { [A.backendPublicIpOverwrite]: '203.0.113.9', [A.subnetKubeManaged]: 'true', other: 'kept' };
  const d = desiredAnnotations(node(ann), A, VX);
  assert.ok(d);
  assert.equal(d.overwrite, '203.0.113.9');
  assert.equal(d.set[A.backendPublicIp], '203.0.113.9');
  assert.equal(d.set[A.subnetKubeManaged], undefined, 'unchanged key not sent');
  assert.equal(d.set.other, undefined);
});

test('nodeToLease: podCIDR, first IPv4 of podCIDRs, bad public-ip, too many CIDRs', () => {
  const ann = {
    [A.backendPublicIp]: '192.0.2.7',
    [A.backendType]: 'vxlan',
    [A.backendData]: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:07"}',
    [A.subnetKubeManaged]: 'true',
  };
  const l = nodeToLease(node(ann), A);
  assert.ok(!('error' in l));
  assert.equal(l.key, '10.244.1.0-24');
  assert.equal(l.attrs.publicIp, '192.0.2.7');
  assert.deepEqual(l.attrs.backendData, { VNI: 1, VtepMAC: '0a:00:00:00:00:07' });
  const dual = nodeToLease(node(ann, 'fd00::/64', ['fd00::/64', '10.244.9.0/24']), A);
  assert.ok(!('error' in dual) && dual.key === '10.244.9.0-24');
  assert.ok('error' in nodeToLease(node({ ...ann, [A.backendPublicIp]: 'nope' }), A));
  assert.ok(
    'error' in nodeToLease(node(ann, '10.244.1.0/24', ['10.244.1.0/24', 'fd00::/64', '10.244.2.0/24']), A),
  );
  assert.ok('error' in podCidrOf(node(ann, 'garbage', [])));
});

test('updates count only when backend-data, backend-type or public-ip change', () => {
  const a = node({ [A.backendPublicIp]: '192.0.2.7', x: '1' });
  assert.equal(peerFieldsChanged(a, node({ [A.backendPublicIp]: '192.0.2.7', x: '2' }), A), false);
  assert.equal(peerFieldsChanged(a, node({ [A.backendPublicIp]: '192.0.2.8', x: '1' }), A), true);
  assert.equal(peerFieldsChanged(undefined, a, A), true);
});

test('NetworkUnavailable=False patch, stored VTEP MAC, containsCIDR', () => {
  assert.equal(
    networkUnavailablePatch(new Date('2026-12-05T11:00:00.123Z')),
    '{"status":{"conditions":[{"type":"NetworkUnavailable","status":"False","lastHeartbeatTime":"2026-12-05T11:00:00Z","lastTransitionTime":"2026-12-05T11:00:00Z","reason":"FlannelIsUp","message":"Flannel is running on this node"}]}}',
  );
  assert.equal(
    storedVtepMac(
      node({ [A.backendData]: '{"VNI":1,"VtepMAC":"0a:00:00:00:00:07"}' }),
      'flannel.alpha.coreos.com',
    ),
    '0a:00:00:00:00:07',
  );
  assert.equal(storedVtepMac(node({ [A.backendData]: 'null' }), 'flannel.alpha.coreos.com'), null);
  const net = parseIpv4Cidr('10.244.0.0/16')!;
  assert.equal(cidrContains(net, parseIpv4Cidr('10.244.3.0/24')!), true);
  assert.equal(cidrContains(net, parseIpv4Cidr('10.245.3.0/24')!), false);
  assert.equal(cidrContains(net, parseIpv4Cidr('10.0.0.0/8')!), false);
});
