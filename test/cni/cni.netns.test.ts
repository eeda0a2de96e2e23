/**
 * weft's `flannel` CNI plugin with the real plugins (Debian's bridge, host-local, portmap in
 * /usr/lib/cni), the stock kube-flannel conflist unchanged, run inside a node namespace with its
 * own /run and /var/lib (test/helpers/cni-node.ts). Needs root (namespaces, bridges, iptables);
 * CI runs as root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { CniError } from '../../src/errors';
import { STOCK_CONFLIST } from '../../src/cni/install';
import { Attachment } from '../../src/cni/runtime';
import { CniNode, STOCK_ENV } from '../helpers/cni-node';
import { cleanupFor, ping, requireRoot, run } from '../helpers/netns';

const CACHE_DIR = '/var/lib/cni/flannel';
const EXPECTED_DELEGATE =
  '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],' +
  '"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,' +
  '"mtu":1450,"name":"cbr0","type":"bridge"}';

type Result = {
  ips: Array<{ address: string; gateway: string }>;
  interfaces: Array<{ name: string; sandbox?: string }>;
};

function attachment(netns: string, id: string): Attachment {
  return { containerId: id, netns, ifName: 'eth0' };
}

function cniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CniError) return e;
    throw e;
  }
  assert.fail('expected a CNI error');
}

test('VERSION: the versions the delegates support', (t) => {
  requireRoot();
  const node = CniNode.create(cleanupFor(t));
  const rt = node.runtime(STOCK_CONFLIST);
  const ours = rt.version('flannel');
  assert.deepEqual(ours, rt.version('bridge'));
  assert.ok(ours.supportedVersions.includes('0.3.1'));
});

test('stock conflist: two pods on cni0 ping each other and the gateway; DEL cleans up; cache 0600', (t) => {
  requireRoot();
  const c = cleanupFor(t);
  const node = CniNode.create(c);
  node.writeSubnetEnv(STOCK_ENV);
  const rt = node.runtime(STOCK_CONFLIST);
  const p1 = node.pod();
  const p2 = node.pod();
  const r1 = rt.add(attachment(p1.netns, 'pod-one')) as unknown as Result;
  const r2 = rt.add(attachment(p2.netns, 'pod-two')) as unknown as Result;
  // The result passed through portmap: bridge's interfaces and host-local's addresses.
  assert.deepEqual(
    r1.ips.map((i) => [i.address, i.gateway]),
    [['10.244.1.2/24', '10.244.1.1']],
  );
  assert.deepEqual(
    r2.ips.map((i) => [i.address, i.gateway]),
    [['10.244.1.3/24', '10.244.1.1']],
  );
  assert.ok(r1.interfaces.some((i) => i.name === 'cni0'));
  assert.ok(r1.interfaces.some((i) => i.name === 'eth0' && i.sandbox === p1.netns));

  // cni0 is in the node namespace, with the gateway and FLANNEL_MTU; none in the root namespace.
  assert.match(node.ns.ip('-4', '-o', 'addr', 'show', 'dev', 'cni0'), /inet 10\.244\.1\.1\/24/);
  assert.match(node.ns.ip('-o', 'link', 'show', 'dev', 'cni0'), /mtu 1450/);
  assert.match(p1.ns.ip('-o', 'link', 'show', 'dev', 'eth0'), /mtu 1450/);
  // isDefaultGateway + a route per FLANNEL_NETWORK.
  const routes = p1.ns.ip('route');
  assert.match(routes, /^default via 10\.244\.1\.1 dev eth0/m);
  assert.match(routes, /^10\.244\.0\.0\/16 via 10\.244\.1\.1 dev eth0/m);
  // hairpinMode reached the bridge ports.
  assert.match(run('ip', ['netns', 'exec', node.ns.name, 'bridge', '-d', 'link', 'show']), /hairpin on/);

  assert.equal(ping(p1.ns, '10.244.1.3').received, 3, 'pod1 -> pod2');
  assert.equal(ping(p2.ns, '10.244.1.2').received, 3, 'pod2 -> pod1');
  assert.equal(ping(p1.ns, '10.244.1.1').received, 3, 'pod1 -> gateway (cni0)');

  // The delegate config saved for DEL: flannel's bytes, file 0600 in a 0700 directory.
  const cache = node.hostPath(`${CACHE_DIR}/pod-one`);
  assert.equal(fs.readFileSync(cache, 'utf8'), EXPECTED_DELEGATE);
  assert.equal(fs.statSync(cache).mode & 0o777, 0o600);
  assert.equal(fs.statSync(node.hostPath(CACHE_DIR)).mode & 0o777, 0o700);
  // host-local's allocations are in the node's /var/lib/cni/networks.
  assert.ok(fs.existsSync(node.hostPath('/var/lib/cni/networks/cbr0/10.244.1.2')));

  rt.del(attachment(p1.netns, 'pod-one'), r1);
  assert.equal(fs.existsSync(cache), false, 'cache removed by DEL');
  assert.equal(
    fs.existsSync(node.hostPath('/var/lib/cni/networks/cbr0/10.244.1.2')),
    false,
    'address released',
  );
  assert.doesNotMatch(p1.ns.ip('-o', 'link'), /eth0/, 'eth0 removed');
  // DEL again (no cache) and DEL of a container never added both succeed, as the spec asks.
  rt.del(attachment(p1.netns, 'pod-one'), r1);
  rt.del(attachment(p1.netns, 'never-added'));
  assert.equal(ping(p2.ns, '10.244.1.1').received, 3, 'pod2 unaffected');
});

test('portmap chained after flannel: the host port reaches the pod', async (t) => {
  requireRoot();
  const node = CniNode.create(cleanupFor(t));
  node.writeSubnetEnv(STOCK_ENV);
  const rt = node.runtime(STOCK_CONFLIST);
  const p = node.pod();
  const att: Attachment = {
    ...attachment(p.netns, 'pod-web'),
    capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
  };
  const r = rt.add(att);
  const nat = run('ip', ['netns', 'exec', node.ns.name, 'iptables', '-t', 'nat', '-S']);
  assert.match(nat, /-N CNI-HOSTPORT-DNAT/);
  assert.match(nat, /--dport 8080 .*-j DNAT --to-destination 10\.244\.1\.2:80/);
  // A server on the pod's port 80, reached from a second pod through the node's host port.
  const srv = p.ns.spawn('http', process.execPath, [
    '-e',
    "require('net').createServer(s=>s.end('hello from the pod\\n')).listen(80,'0.0.0.0',()=>console.log('up'))",
  ]);
  await srv.waitForLine(/up/, 10_000);
  const client = node.pod();
  rt.add(attachment(client.netns, 'pod-client'));
  const got = client.ns.exec(process.execPath, [
    '-e',
    "const s=require('net').connect(8080,'10.244.1.1');let d='';s.on('data',b=>d+=b);s.on('end',()=>process.stdout.write(d));",
  ]);
  assert.equal(got, 'hello from the pod\n');
  rt.del(att, r);
  assert.doesNotMatch(
    run('ip', ['netns', 'exec', node.ns.name, 'iptables', '-t', 'nat', '-S']),
    /--dport 8080/,
  );
});

test('CHECK delegates to the bridge (0.4.0 list) and passes on a healthy pod; refused for 0.3.1', (t) => {
  requireRoot();
  const node = CniNode.create(cleanupFor(t));
  node.writeSubnetEnv(STOCK_ENV);
  const rt = node.runtime({ ...STOCK_CONFLIST, cniVersion: '0.4.0' });
  const p = node.pod();
  const att = attachment(p.netns, 'pod-chk');
  const r = rt.add(att);
  rt.check(att, r);
  // Break the pod's address: the bridge's CHECK notices.
  p.ns.ip('addr', 'flush', 'dev', 'eth0');
  const e = cniError(() => rt.check(att, r));
  assert.match(e.message, /10\.244\.1\.2/);
  // A container the plugin never saw: code 3 (unknown container).
  const other = { ...att, containerId: 'never-added' };
  assert.equal(cniError(() => rt.check(other, r)).cniCode, 3);
  rt.del(att, r);
  // The stock 0.3.1 list: the runtime refuses, and so does the plugin itself if asked.
  const old = node.runtime(STOCK_CONFLIST);
  assert.equal(cniError(() => old.check(att, r)).cniCode, 1);
});

test("subnet.env missing a key: flannel's message, nothing saved or created", (t) => {
  requireRoot();
  const node = CniNode.create(cleanupFor(t));
  node.writeSubnetEnv(STOCK_ENV.replace('FLANNEL_MTU=1450\n', ''));
  const rt = node.runtime(STOCK_CONFLIST);
  const p = node.pod();
  const e = cniError(() => rt.add(attachment(p.netns, 'pod-x')));
  assert.equal(e.cniCode, 999);
  assert.equal(e.message, 'loadFlannelSubnetEnv failed: /run/flannel/subnet.env is missing FLANNEL_MTU');
  assert.equal(fs.existsSync(node.hostPath(`${CACHE_DIR}/pod-x`)), false);
  assert.doesNotMatch(node.ns.ip('-o', 'link'), /cni0/);
  // No file at all: flannel's message, with where it comes from in the details.
  fs.rmSync(node.hostPath('/run/flannel/subnet.env'));
  const e2 = cniError(() => rt.add(attachment(p.netns, 'pod-x')));
  assert.equal(
    e2.message,
    'loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory',
  );
  assert.match(e2.details, /weft run/);
});

test('stale cni0 after the node subnet changed: a named error with the fix, and the fix works', (t) => {
  requireRoot();
  const node = CniNode.create(cleanupFor(t));
  node.writeSubnetEnv(STOCK_ENV);
  const rt = node.runtime(STOCK_CONFLIST);
  const p1 = node.pod();
  rt.add(attachment(p1.netns, 'pod-old'));
  // The node got a new lease / podCIDR: subnet.env now says 10.244.2.0/24, cni0 still has .1.1.
  node.writeSubnetEnv(STOCK_ENV.replace('10.244.1.1/24', '10.244.2.1/24'));
  const p2 = node.pod();
  const e = cniError(() => rt.add(attachment(p2.netns, 'pod-new')));
  assert.match(e.message, /^stale bridge "cni0"/);
  assert.match(e.message, /needs gateway 10\.244\.2\.1\/24 on cni0 but has 10\.244\.1\.1\/24/);
  assert.match(e.message, /FLANNEL_SUBNET in \/run\/flannel\/subnet\.env/);
  assert.match(e.message, /Fix: on this node run "ip link delete cni0"/);
  assert.match(e.details, /"cni0" already has an IP address different from 10\.244\.2\.1\/24/);
  // The runtime tears a failed ADD down with DEL (the bridge made the veth before failing).
  rt.del(attachment(p2.netns, 'pod-new'));
  assert.doesNotMatch(p2.ns.ip('-o', 'link'), /eth0/);
  // Following the advice: the next ADD builds a fresh cni0 with the new gateway.
  node.ns.ip('link', 'delete', 'cni0');
  rt.add(attachment(p2.netns, 'pod-new'));
  assert.match(node.ns.ip('-4', '-o', 'addr', 'show', 'dev', 'cni0'), /inet 10\.244\.2\.1\/24/);
  assert.equal(ping(p2.ns, '10.244.2.1').received, 3);
});
