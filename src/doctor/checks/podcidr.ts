/**
 * podcidr check (Kubernetes mode, `--kube-subnet-mgr`): flannel takes the node's lease from
 * `node.spec.podCIDR`, which kube-controller-manager sets only with `--allocate-node-cidrs=true`
 * and a `--cluster-cidr` equal to net-conf's `Network`. Without it flanneld crash-loops with
 * `node "<name>" pod cidr not assigned`; a podCIDR outside Network fails with `... doesn't
 * contain ...`. The Node is read through a NodeReader, so the check does not depend on which
 * Kubernetes client is wired in.
 */
import { Ipv4Net, ipv4NetEqual, ipv4NetToString, parseIpv4Cidr } from '../../control';
import { Finding, ok, problem, skipped } from '../finding';
import type { NodeView } from '../node-view';

/** KubeNodeSpec is the part of a Node the check reads. */
export interface KubeNodeSpec {
  readonly podCIDR?: string;
  readonly podCIDRs?: readonly string[];
}

/** NodeReader fetches a Node's spec by name; null when the Node does not exist. */
export interface NodeReader {
  readNode(name: string): Promise<KubeNodeSpec | null>;
}

const contains = (outer: Ipv4Net, inner: Ipv4Net): boolean =>
  inner.prefixLen >= outer.prefixLen &&
  parseIpv4Cidr(`${ipv4NetToString(inner).split('/')[0]}/${outer.prefixLen}`)?.ip === outer.ip;

/**
 * checkPodCidr runs in Kubernetes mode only: `kubeMode` false gives one `skipped`. `nodeName` is
 * flanneld's NODE_NAME; `reader` null means this build has no Kubernetes client.
 */
export async function checkPodCidr(
  v: NodeView,
  kubeMode: boolean,
  nodeName: string,
  reader: NodeReader | null,
): Promise<Finding[]> {
  if (!kubeMode) return [skipped('podcidr', 'not in Kubernetes mode (no --kube-subnet-mgr)')];
  if (!reader) return [skipped('podcidr', 'this weft has no Kubernetes API client')];
  if (!nodeName)
    return [
      problem(
        'podcidr',
        'no node name: NODE_NAME is not set',
        'in Kubernetes mode flanneld finds its Node by NODE_NAME (the kube-flannel DaemonSet sets it from spec.nodeName)',
        "run doctor with NODE_NAME=<node>, as the node's daemon runs",
      ),
    ];
  let node: KubeNodeSpec | null;
  try {
    node = await reader.readNode(nodeName);
  } catch (e) {
    return [skipped('podcidr', `cannot read node "${nodeName}": ${(e as Error).message}`)];
  }
  if (!node)
    return [
      problem(
        'podcidr',
        `node "${nodeName}" does not exist in the API`,
        'flanneld looks its lease up on its own Node object',
        'check NODE_NAME against `kubectl get nodes`',
      ),
    ];
  const cidrs = (
    node.podCIDRs && node.podCIDRs.length > 0 ? node.podCIDRs : node.podCIDR ? [node.podCIDR] : []
  ).filter((c) => !c.includes(':'));
  const net = v.config?.network ?? null;
  const netText = net ? ipv4NetToString(net) : 'Network';
  if (cidrs.length === 0)
    return [
      problem(
        'podcidr',
        `node "${nodeName}" pod cidr not assigned (spec.podCIDR is empty)`,
        'in Kubernetes mode flannel does not allocate subnets: it uses node.spec.podCIDR, which kube-controller-manager sets only with --allocate-node-cidrs=true and --cluster-cidr; flanneld crash-loops until then',
        `start kube-controller-manager with --allocate-node-cidrs=true --cluster-cidr=${netText} (kubeadm: --pod-network-cidr=${netText}), or set it once by hand: kubectl patch node ${nodeName} -p '{"spec":{"podCIDR":"<a free /24 in ${netText}>"}}'`,
      ),
    ];
  const pod = parseIpv4Cidr(cidrs[0]!);
  if (!pod) return [skipped('podcidr', `node "${nodeName}" has an unreadable podCIDR ${cidrs[0]}`)];
  const out: Finding[] = [];
  if (net && !contains(net, pod)) {
    out.push(
      problem(
        'podcidr',
        `node "${nodeName}" podCIDR ${cidrs[0]}: the network ${netText} doesn't contain it`,
        "the controller manager's --cluster-cidr differs from net-conf.json's Network; flanneld refuses the lease",
        `make --cluster-cidr and Network the same (${netText}), then recreate the node's podCIDR (it can only be set while empty)`,
      ),
    );
  } else out.push(ok('podcidr', `node "${nodeName}" podCIDR ${cidrs[0]} is inside ${netText}`));
  const env = v.subnetEnv?.subnet ?? null;
  if (env && !ipv4NetEqual(env, pod))
    out.push(
      problem(
        'podcidr',
        `subnet.env has ${ipv4NetToString(env)} but node "${nodeName}" podCIDR is ${cidrs[0]}`,
        'the podCIDR changed (the node was deleted and re-registered) while subnet.env kept the old subnet',
        'restart flanneld / weft run so it rewrites subnet.env, then fix cni0 (see the subnet findings)',
      ),
    );
  return out;
}
