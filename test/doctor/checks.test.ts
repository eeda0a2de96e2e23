/**
 * Unit tests of `weft doctor`'s checks on made-up node views (no namespaces): each check's verdict
 * and wording for healthy and broken inputs, the podCIDR check through a fake NodeReader, the
 * port-unreachable parser, the reach check with scripted probes, clock skew judgement, and the
 * JSON / text renderers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags } from '../../src/control/flags';
import { parseNetworkConfig } from '../../src/control/net-config';
import { parseIpv4Cidr } from '../../src/net/addr';
import { parseSubnetEnv } from '../../src/control/subnet-env';
import type { Lease } from '../../src/control/lease';
import type { NodeView } from '../../src/doctor/node-view';
import type { HostLink } from '../../src/doctor/host';
import { checkMtu } from '../../src/doctor/checks/mtu';
import { checkSubnet } from '../../src/doctor/checks/subnet';
import { checkPodCidr, type KubeNodeSpec } from '../../src/doctor/checks/podcidr';
import { checkPeers } from '../../src/doctor/checks/peers';
import { checkReach, type ReachProbes } from '../../src/doctor/checks/reach';
import { checkClock } from '../../src/doctor/checks/clock';
import { checkOffload } from '../../src/doctor/checks/offload';
import { isPortUnreachableFor } from '../../src/doctor/port-probe';
import { renderJson, renderText } from '../../src/doctor/render';
import { hasProblem, type Finding } from '../../src/doctor/finding';

const NOW = Date.parse('2026-12-05T12:00:00Z');

function lease(subnet: string, publicIp: string, mac: string | null, ttlS = 86400): Lease {
  return {
    key: subnet.replace('/', '-'),
    subnet: parseIpv4Cidr(subnet),
    ipv6Subnet: null,
    attrs: {
      publicIp,
      publicIpv6: null,
      backendType: mac ? 'vxlan' : '',
      backendData: mac ? { VNI: 1, VtepMAC: mac } : null,
      backendV6Data: null,
    },
    expiration: new Date(NOW + ttlS * 1000),
  };
}

const OWN = lease('10.244.3.0/24', '192.0.2.3', '02:00:00:00:00:03');
const PEER = lease('10.244.4.0/24', '192.0.2.4', '02:00:00:00:00:04');

function link(
  name: string,
  mtu: number,
  kind: string,
  addrs: string[] = [],
  mac: string | null = null,
): HostLink {
  return { name, mtu, kind, mac, up: true, addrs };
}

/** view builds a healthy kernel flannel.1 node's view; `over` replaces parts. */
function view(over: Partial<NodeView> = {}, argv: string[] = []): NodeView {
  const config = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
  const links = [
    link('eth0', 1500, '', ['192.0.2.3/24']),
    link('flannel.1', 1450, 'vxlan', ['10.244.3.0/32'], '02:00:00:00:00:03'),
  ];
  const base: NodeView = {
    flags: parseFlags(['--iface', 'eth0', ...argv], {}),
    now: NOW,
    store: null,
    storeError: null,
    config,
    configSource: 'test',
    configError: null,
    leases: [OWN, PEER],
    ownLease: OWN,
    ownLeaseBy: 'public-ip',
    peers: [PEER],
    ext: { name: 'eth0', addr: '192.0.2.3', mtu: 1500, publicIp: '192.0.2.3' },
    extError: null,
    subnetEnv: parseSubnetEnv(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    ),
    subnetEnvError: null,
    links,
    routes: [
      { dst: '10.244.4.0/24', gateway: '10.244.4.0', dev: 'flannel.1', flags: ['onlink'] },
      { dst: '192.0.2.0/24', dev: 'eth0', flags: [] },
    ],
    dev: 'flannel.1',
    devLink: links[1]!,
    flavor: 'kernel-vxlan',
    neigh: [{ dst: '10.244.4.0', lladdr: '02:00:00:00:00:04', state: ['PERMANENT'] }],
    fdb: [{ mac: '02:00:00:00:00:04', dst: '192.0.2.4', state: 'permanent' }],
  };
  return { ...base, ...over };
}

const problemsOf = (fs: Finding[]): string[] =>
  fs.filter((f) => f.status === 'problem').map((f) => f.summary);

test('doctor checks: a healthy kernel flannel.1 node has no problems', () => {
  const v = view();
  for (const fs of [checkMtu(v), checkSubnet(v), checkPeers(v)]) assert.deepEqual(problemsOf(fs), []);
  assert.ok(checkPeers(v).some((f) => f.status === 'ok' && /1 peer through flannel\.1/.test(f.summary)));
});

test('doctor mtu: device above the underlay, FLANNEL_MTU above the device, Backend.MTU above the NIC, wasted capacity', () => {
  const v = view();
  const small = view({ ext: { ...v.ext!, mtu: 1400 } });
  assert.deepEqual(problemsOf(checkMtu(small)), [
    'flannel.1 MTU 1450 is larger than eth0 MTU 1400 - 50 = 1350',
    'FLANNEL_MTU=1450 in /run/flannel/subnet.env is larger than the overlay carries (1350)',
  ]);
  const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":9000}}');
  assert.match(
    problemsOf(checkMtu(view({ config: cfg })))[0]!,
    /Backend\.MTU 9000 is larger than eth0's MTU 1500/,
  );
  const lowDev = view({ devLink: { ...v.devLink!, mtu: 1400 } });
  const f = checkMtu(lowDev);
  assert.ok(f.some((x) => x.status === 'note' && /below the 1450/.test(x.summary)));
  assert.ok(problemsOf(f).some((s) => /FLANNEL_MTU=1450 .*\(1400\)/.test(s)));
  const udp = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}');
  const u = view({ config: udp, dev: 'flannel0', devLink: link('flannel0', 1472, 'tun', ['10.244.3.0/32']) });
  assert.deepEqual(problemsOf(checkMtu(u)), []);
  assert.ok(
    checkMtu(u).some((x) => x.status === 'note' && /FLANNEL_MTU=1450 differs from the 1472/.test(x.summary)),
  );
  const gone = view({ devLink: null });
  assert.ok(problemsOf(checkMtu(gone)).includes('the overlay device flannel.1 does not exist'));
});

test('doctor subnet: stale cni0 reads as the CNI plugin error; subnet.env vs lease; no lease; device address', () => {
  const v = view();
  const cni = view({ links: [...v.links!, link('cni0', 1450, 'bridge', ['10.244.9.1/24'])] });
  assert.deepEqual(problemsOf(checkSubnet(cni)), [
    'cni0 has 10.244.9.1/24: "cni0" already has an IP address different from 10.244.3.1/24',
  ]);
  const env = view({
    subnetEnv: parseSubnetEnv(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.8.1/24\nFLANNEL_MTU=1450\n',
    ),
  });
  assert.match(
    problemsOf(checkSubnet(env))[0]!,
    /FLANNEL_SUBNET=10\.244\.8\.1\/24, but this node's lease is 10\.244\.3\.0\/24/,
  );
  const none = view({ ownLease: null, peers: [PEER], leases: [PEER] });
  assert.match(problemsOf(checkSubnet(none))[0]!, /no lease in the store belongs to this node/);
  const noEnv = view({ subnetEnv: null, subnetEnvError: '/run/flannel/subnet.env does not exist' });
  assert.match(problemsOf(checkSubnet(noEnv))[0]!, /no subnet.env/);
  const devAddr = view({ devLink: { ...v.devLink!, addrs: ['10.244.1.0/32'] } });
  assert.match(
    problemsOf(checkSubnet(devAddr))[0]!,
    /flannel\.1 has 10\.244\.1\.0\/32, expected 10\.244\.3\.0\/32/,
  );
});

test('doctor peers: wrong neighbour MAC, missing FDB and route, stale route, own MAC, weft and host-gw nodes', () => {
  const v = view();
  const badNeigh = view({
    neigh: [{ dst: '10.244.4.0', lladdr: '02:00:00:00:00:99', state: ['PERMANENT'] }],
  });
  assert.match(
    problemsOf(checkPeers(badNeigh))[0]!,
    /neighbour 10\.244\.4\.0 has MAC 02:00:00:00:00:99, the lease says 02:00:00:00:00:04/,
  );
  const noFdb = view({ fdb: [] });
  assert.match(problemsOf(checkPeers(noFdb))[0]!, /no FDB entry 02:00:00:00:00:04 dst 192\.0\.2\.4/);
  const noRoute = view({ routes: [] });
  assert.match(problemsOf(checkPeers(noRoute))[0]!, /no route 10\.244\.4\.0\/24 dev flannel\.1/);
  const stale = view({
    routes: [
      ...v.routes!,
      { dst: '10.244.77.0/24', gateway: '10.244.77.0', dev: 'flannel.1', flags: ['onlink'] },
    ],
  });
  assert.deepEqual(problemsOf(checkPeers(stale)), [
    'route 10.244.77.0/24 dev flannel.1 has no lease behind it',
  ]);
  const ownMac = view({ devLink: { ...v.devLink!, mac: '02:00:00:00:00:33' } });
  assert.match(
    problemsOf(checkPeers(ownMac))[0]!,
    /has MAC 02:00:00:00:00:33, but this node's lease publishes VtepMAC 02:00:00:00:00:03/,
  );

  const weft = view({
    flavor: 'weft-vxlan',
    devLink: link('flannel.1', 1450, 'tun', ['10.244.3.0/32']),
    routes: [{ dst: '10.244.4.0/24', dev: 'flannel.1', flags: [] }],
    neigh: null,
    fdb: null,
  });
  assert.deepEqual(problemsOf(checkPeers(weft)), []);
  assert.match(
    problemsOf(checkPeers(weft, '02:00:00:00:00:aa'))[0]!,
    /VTEP state file says 02:00:00:00:00:aa/,
  );
  assert.match(
    problemsOf(checkPeers({ ...weft, routes: [] }))[0]!,
    /no route 10\.244\.4\.0\/24 dev flannel\.1/,
  );

  const hg = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}');
  const hgLease = (l: Lease): Lease => ({
    ...l,
    attrs: { ...l.attrs, backendType: 'host-gw', backendData: null },
  });
  const hgView = view({
    config: hg,
    flavor: 'host-gw',
    dev: null,
    devLink: null,
    peers: [hgLease(PEER)],
    ownLease: hgLease(OWN),
    routes: [{ dst: '10.244.4.0/24', gateway: '192.0.2.4', dev: 'eth0', flags: [] }],
  });
  assert.deepEqual(problemsOf(checkPeers(hgView)), []);
  assert.match(
    problemsOf(checkPeers({ ...hgView, routes: [] }))[0]!,
    /no route 10\.244\.4\.0\/24 via 192\.0\.2\.4/,
  );
  // A udp lease in a vxlan network is a note, not a problem.
  const mixed = view({ peers: [PEER, lease('10.244.5.0/24', '192.0.2.5', null)] });
  assert.ok(checkPeers(mixed).some((f) => f.status === 'note' && /is a udp lease/.test(f.summary)));
});

test('doctor podcidr: skipped outside Kubernetes mode; empty podCIDR, outside Network, vs subnet.env', async () => {
  const v = view();
  const reader = (spec: KubeNodeSpec | null) => ({ readNode: async () => spec });
  assert.equal((await checkPodCidr(v, false, 'n1', reader({})))[0]!.status, 'skipped');
  const empty = await checkPodCidr(v, true, 'node-a', reader({}));
  assert.match(problemsOf(empty)[0]!, /node "node-a" pod cidr not assigned/);
  assert.match(empty[0]!.fix!, /--allocate-node-cidrs=true --cluster-cidr=10\.244\.0\.0\/16/);
  const outside = await checkPodCidr(v, true, 'node-a', reader({ podCIDR: '10.99.3.0/24' }));
  assert.match(problemsOf(outside)[0]!, /doesn't contain it/);
  const other = await checkPodCidr(
    v,
    true,
    'node-a',
    reader({ podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24'] }),
  );
  assert.match(
    problemsOf(other)[0]!,
    /subnet\.env has 10\.244\.3\.0\/24 but node "node-a" podCIDR is 10\.244\.7\.0\/24/,
  );
  assert.deepEqual(
    problemsOf(await checkPodCidr(v, true, 'node-a', reader({ podCIDR: '10.244.3.0/24' }))),
    [],
  );
  assert.match(problemsOf(await checkPodCidr(v, true, 'node-a', reader(null)))[0]!, /does not exist/);
  assert.match(problemsOf(await checkPodCidr(v, true, '', reader({})))[0]!, /NODE_NAME is not set/);
});

test('doctor port probe: a port unreachable quoting our datagram, and nothing else', () => {
  // IPv4(ICMP) | ICMP 3/3 | quoted IPv4(UDP) to 192.0.2.4 | UDP 40000 -> 8472
  const b = Buffer.alloc(20 + 8 + 20 + 8);
  b[0] = 0x45;
  b[9] = 1;
  b[20] = 3;
  b[21] = 3;
  b[28] = 0x45;
  b[37] = 17;
  b.set([192, 0, 2, 4], 28 + 16);
  b.writeUInt16BE(40000, 48);
  b.writeUInt16BE(8472, 50);
  assert.equal(isPortUnreachableFor(b, '192.0.2.4', 8472), true);
  assert.equal(isPortUnreachableFor(b, '192.0.2.5', 8472), false);
  assert.equal(isPortUnreachableFor(b, '192.0.2.4', 4789), false);
  const hostUnreach = Buffer.from(b);
  hostUnreach[21] = 1;
  assert.equal(isPortUnreachableFor(hostUnreach, '192.0.2.4', 8472), false);
  assert.equal(isPortUnreachableFor(b.subarray(0, 30), '192.0.2.4', 8472), false);
});

test('doctor reach: replies, a refused port and silence each read differently', async () => {
  const third = lease('10.244.5.0/24', '192.0.2.5', '02:00:00:00:00:05');
  const v = view({ peers: [PEER, third, lease('10.244.6.0/24', '192.0.2.6', '02:00:00:00:00:06')] });
  const probes: ReachProbes = {
    echo: async (dst) => (dst === '10.244.4.0' ? { kind: 'reply', rttMs: 1 } : { kind: 'timeout' }),
    port: async (dst) => (dst === '192.0.2.5' ? { kind: 'refused' } : { kind: 'silent' }),
  };
  const f = await checkReach(v, 100, probes);
  const p = problemsOf(f);
  assert.equal(p.length, 2);
  assert.match(p[0]!, /10\.244\.5\.0 .*answers UDP 8472 with port unreachable/);
  assert.match(p[1]!, /10\.244\.6\.0 .*no answer, and the port probe got no port unreachable back/);
  assert.ok(f.some((x) => x.status === 'ok' && /1 of 3 peers/.test(x.summary)));
});

test('doctor clock: skew judged against the renew margin; an overdue renewal is a problem', () => {
  const v = view();
  const embedded = { ...v, store: { kind: 'embedded' } as NodeView['store'] };
  assert.equal(checkClock(v, { skewMs: 300, against: 'x' }, null)[0]!.status, 'ok');
  assert.equal(checkClock(embedded, { skewMs: 30_000, against: 'x' }, null)[0]!.status, 'note');
  assert.match(
    problemsOf(checkClock(embedded, { skewMs: -2_000_000, against: 'x' }, null))[0]!,
    /ahead of x/,
  );
  // etcd times leases itself: a large skew is a note there.
  const etcd = { ...v, store: { kind: 'etcd' } as NodeView['store'] };
  assert.equal(checkClock(etcd, { skewMs: -2_000_000, against: 'x' }, null)[0]!.status, 'note');
  const late = view({ ownLease: lease('10.244.3.0/24', '192.0.2.3', '02:00:00:00:00:03', 600) });
  assert.match(
    problemsOf(checkClock(late, null, null))[0]!,
    /expires in 600 s, past its renewal point \(3600 s before expiry\)/,
  );
  // A short TTL renews at half its life (the lease manager's rule).
  const short = view({ ownLease: lease('10.244.3.0/24', '192.0.2.3', '02:00:00:00:00:03', 100) }, [
    '--subnet-lease-ttl',
    '120',
  ]);
  assert.deepEqual(problemsOf(checkClock(short, null, null)), []);
  const ahead = { ...embedded, peers: [lease('10.244.4.0/24', '192.0.2.4', null, 86400 + 7200)] };
  assert.ok(
    checkClock(ahead, null, null).some(
      (f) => f.status === 'note' && /more than any lease lifetime/.test(f.summary),
    ),
  );
});

test('doctor offload: veth, NIC offload, the kernel VXLAN device', () => {
  const v = view({ links: [link('eth0', 1500, 'veth', ['192.0.2.3/24']), view().devLink!] });
  const f = checkOffload(
    v,
    new Map([['tx-checksumming', true]]),
    new Map([['tx-checksum-ip-generic', true]]),
  );
  assert.match(f[0]!.summary, /eth0 is a veth with tx-checksumming on/);
  assert.match(f[0]!.why!, /offload, not corruption/);
  assert.match(f[1]!.fix!, /ethtool -K flannel\.1 tx-checksum-ip-generic off/);
  assert.equal(hasProblem(f), false);
  assert.equal(checkOffload(view(), new Map([['tx-checksumming', false]]), null)[0]!.status, 'ok');
});

test('doctor render: JSON carries the findings and the problem count; text labels each line', () => {
  const findings: Finding[] = [
    { check: 'mtu', status: 'ok', summary: 'fine' },
    { check: 'peers', status: 'problem', summary: 'broken', why: 'because', fix: 'do this' },
  ];
  const r = {
    node: {
      flavor: 'kernel-vxlan' as const,
      store: 'embedded',
      config: 'x',
      iface: 'eth0',
      publicIp: '192.0.2.3',
      lease: 'k',
      dev: 'flannel.1',
      peers: 1,
    },
    findings,
  };
  const j = JSON.parse(renderJson(r)) as { problems: number; findings: Finding[] };
  assert.equal(j.problems, 1);
  assert.deepEqual(j.findings, findings);
  const text = renderText(r);
  assert.match(text, /^PROBLEM peers    broken\n {17}why: because\n {17}fix: do this$/m);
  assert.match(text, /weft doctor: 1 problem found\n$/);
});

test('doctor kube access: the Kubernetes store is used through nodeName/getNode; 404 is no Node', async () => {
  const { kubeAccess, kubeMode } = await import('../../src/doctor/kube-nodes');
  assert.equal(await kubeAccess(null), null);
  const nodes: Record<string, { spec?: KubeNodeSpec }> = { 'node-a': { spec: { podCIDR: '10.244.3.0/24' } } };
  const store = {
    kind: 'etcd',
    nodeName: async () => 'node-a',
    getNode: async (n: string) => {
      const node = nodes[n];
      if (!node) throw Object.assign(new Error('not found'), { status: 404 });
      return node;
    },
  } as unknown as NodeView['store'];
  const a = await kubeAccess(store);
  assert.equal(a?.nodeName, 'node-a');
  assert.deepEqual(await a!.reader.readNode('node-a'), { podCIDR: '10.244.3.0/24' });
  assert.equal(await a!.reader.readNode('node-b'), null);
  const noName = {
    ...(store as object),
    nodeName: async () => {
      throw Object.assign(new Error('NODE_NAME: must be set'), { field: 'NODE_NAME' });
    },
  } as unknown as NodeView['store'];
  assert.equal((await kubeAccess(noName))?.nodeName, '');
  assert.equal(kubeMode(parseFlags([], {})), false);
  assert.equal(kubeMode({ ...parseFlags([], {}), kubeSubnetMgr: true } as never), true);
});
