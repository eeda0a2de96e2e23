/**
 * subnet check: this node's lease, subnet.env and the addresses derived from them must agree.
 * flanneld and weft write subnet.env once, at start; the CNI bridge plugin gives cni0 the subnet's
 * `.1` when it creates the bridge and never changes it. A node that got a new lease (expired while
 * down, store wiped, public IP changed) therefore leaves a stale cni0 behind, and the plugin fails
 * every new pod with `"cni0" already has an IP address different from <new .1/len>`.
 */
import { Ipv4Net, u32ToIpv4, ipv4NetEqual, ipv4NetToString, parseIpv4Cidr } from '../../control';
import { Finding, note, ok, problem, skipped } from '../finding';
import type { NodeView } from '../node-view';

const gatewayOf = (n: Ipv4Net): string => `${u32ToIpv4((n.ip + 1) >>> 0)}/${n.prefixLen}`;
const inside = (addr: string, net: Ipv4Net): boolean => {
  const a = parseIpv4Cidr(`${addr.split('/')[0]}/${net.prefixLen}`);
  return a !== null && a.ip === net.ip;
};

/** checkSubnet compares the lease, subnet.env, cni0 and the overlay device's address. */
export function checkSubnet(v: NodeView): Finding[] {
  const out: Finding[] = [];
  const env = v.subnetEnv;
  const file = v.flags.subnetFile;
  const lease = v.ownLease;
  const net = v.config?.network ?? null;

  if (v.leases === null) {
    out.push(skipped('subnet', `leases not readable: ${v.storeError ?? 'unknown'}`));
  } else if (!lease) {
    out.push(
      problem(
        'subnet',
        `no lease in the store belongs to this node (public IP ${v.ext?.publicIp ?? '?'}${env?.subnet ? `, subnet.env subnet ${ipv4NetToString(env.subnet)}` : ''})`,
        'other nodes route to a subnet only while its lease exists: this node is unreachable from the overlay (the daemon is down, its lease expired, or it publishes another --public-ip)',
        'start flanneld / weft run on this node (it reuses or acquires a lease); give doctor the same flags as the node (--iface, --public-ip, store flags)',
      ),
    );
  } else {
    out.push(
      ok(
        'subnet',
        `lease ${lease.key} for ${lease.subnet ? ipv4NetToString(lease.subnet) : '?'} (public IP ${lease.attrs.publicIp})`,
      ),
    );
  }

  if (!env) {
    out.push(
      problem(
        'subnet',
        `no subnet.env: ${v.subnetEnvError ?? file}`,
        'the CNI flannel plugin and Docker read FLANNEL_SUBNET and FLANNEL_MTU from it; without it no pod gets an address',
        `start the node (it writes ${file}), or pass doctor the node's --subnet-file`,
      ),
    );
  } else {
    if (lease?.subnet && env.subnet && !ipv4NetEqual(lease.subnet, env.subnet)) {
      out.push(
        problem(
          'subnet',
          `subnet.env has FLANNEL_SUBNET=${gatewayOf(env.subnet)}, but this node's lease is ${ipv4NetToString(lease.subnet)}`,
          'pods get addresses from subnet.env while peers route the lease to this node: traffic to pods misses. The lease changed after subnet.env was written (the daemon is not running, or lost and re-acquired its lease)',
          `restart flanneld / weft run (it rewrites ${file}); then fix cni0 as below if it holds the old address`,
        ),
      );
    } else if (lease?.subnet && env.subnet) {
      out.push(ok('subnet', `subnet.env FLANNEL_SUBNET=${gatewayOf(env.subnet)} matches the lease`));
    }
    if (net && env.network && !ipv4NetEqual(net, env.network)) {
      out.push(
        problem(
          'subnet',
          `subnet.env has FLANNEL_NETWORK=${ipv4NetToString(env.network)}, but the network config says ${ipv4NetToString(net)}`,
          'the config changed after the node started: routes and masquerade rules follow the old network',
          'restart the node so it rewrites subnet.env and its rules',
        ),
      );
    }
    if (env.ipMasq !== null && env.ipMasq !== v.flags.ipMasq) {
      out.push(
        note(
          'subnet',
          `subnet.env has FLANNEL_IPMASQ=${env.ipMasq} but the flags say --ip-masq=${v.flags.ipMasq}`,
          "the CNI plugin masquerades pod traffic itself only when FLANNEL_IPMASQ is false; doctor may not have the node's own flags",
          "run doctor with the node's unit-file command line or FLANNELD_* variables",
        ),
      );
    }
  }

  // cni0: the bridge plugin's message, reproduced before it happens.
  const want = lease?.subnet ?? env?.subnet ?? null;
  const cni0 = v.links?.find((l) => l.name === 'cni0');
  if (want && cni0) {
    const expected = gatewayOf(want);
    const stale = cni0.addrs.filter((a) => a !== expected);
    if (stale.length > 0) {
      out.push(
        problem(
          'subnet',
          `cni0 has ${stale.join(', ')}: "cni0" already has an IP address different from ${expected}`,
          'the node got a new subnet while cni0 kept the old one; the CNI bridge plugin refuses to add a second address, so new pods on this node stay in ContainerCreating',
          `drain the node, \`ip link delete cni0\` and let the CNI plugin recreate it with ${expected} (restart the pods); keep leases stable: keep subnet.env and the store's data, and a fixed --public-ip`,
        ),
      );
    } else if (cni0.addrs.length > 0) {
      out.push(ok('subnet', `cni0 has ${expected}`));
    }
  }

  // The overlay device holds <subnet>.0/32: the source of host-to-pod traffic and the peers' gateway.
  if (want && v.devLink && net) {
    const expected = `${u32ToIpv4(want.ip)}/32`;
    const inNet = v.devLink.addrs.filter((a) => inside(a, net));
    const stale = inNet.filter((a) => a !== expected);
    if (!inNet.includes(expected) || stale.length > 0) {
      out.push(
        problem(
          'subnet',
          `${v.devLink.name} has ${inNet.length ? inNet.join(', ') : 'no address in the network'}, expected ${expected}`,
          `${v.devLink.name}'s address is the peers' gateway for this node's subnet (their neighbour entry and route point at it) and the source of host-to-pod traffic; a stale one sends replies from an address no peer routes back`,
          `restart the node (flannel and weft set ${expected} and remove other addresses in the network)`,
        ),
      );
    }
  }
  return out;
}
