/**
 * iptables check: flannel's chains, when the flags ask for them (flannel `pkg/trafficmngr/iptables`):
 * `--ip-masq` wants the POSTROUTING jump and the FLANNEL-POSTRTG rules in nat, and
 * `--iptables-forward-rules` (default on) the FORWARD jump and FLANNEL-FWD in filter. Rule texts
 * come from src/control/iptables.ts, the same builders `weft run` installs from, so a node run by
 * flanneld is held to flanneld's rules. Also IPv4 forwarding: pod traffic crosses from cni0 to the
 * overlay device, which the kernel does only with net.ipv4.ip_forward=1 (checked when cni0 exists).
 */
import { FWD_CHAIN, Iptables, MASQ_CHAIN, forwardRules, masqRules, ruleText } from '../../control/iptables';
import { ipv4NetToString } from '../../control';
import { Finding, ok, problem, skipped } from '../finding';
import type { NodeView } from '../node-view';

/** checkIptables looks for the rules the flags imply; `iptables` is injectable for tests. */
export async function checkIptables(
  v: NodeView,
  ipForward: string | null,
  iptables: Iptables = new Iptables(),
): Promise<Finding[]> {
  const out: Finding[] = [];
  // Without a cni0 bridge there are no local pods to forward for, and the node's own traffic does not need it.
  const bridge = v.links?.some((l) => l.name === 'cni0') ?? false;
  if (ipForward === '0' && bridge) {
    out.push(
      problem(
        'iptables',
        'net.ipv4.ip_forward is 0 while cni0 holds pods',
        'pod traffic is forwarded between cni0 and the overlay device; with forwarding off the kernel drops it (the node itself still reaches peers, so host pings work)',
        '`sysctl -w net.ipv4.ip_forward=1` and persist it in /etc/sysctl.d/ (kubelet and Docker normally set it)',
      ),
    );
  }
  const f = v.flags;
  if (!f.ipMasq && !f.iptablesForwardRules) {
    out.push(
      skipped(
        'iptables',
        'neither --ip-masq nor --iptables-forward-rules is set: no flannel chains expected',
      ),
    );
    return out;
  }
  const net = v.config?.network;
  const sub = v.ownLease?.subnet ?? v.subnetEnv?.subnet ?? null;
  if (!net) {
    out.push(skipped('iptables', 'no network config to build the expected rules from'));
    return out;
  }
  let randomFully: boolean;
  try {
    randomFully = (await iptables.probe()).randomFully;
  } catch (e) {
    out.push(
      problem(
        'iptables',
        `iptables is not usable: ${(e as Error).message}`,
        f.ipMasq
          ? 'with --ip-masq, pod traffic to outside the network must be masqueraded; without rules it leaves with pod source addresses and no replies come back'
          : 'the FLANNEL-FWD rules accept forwarded pod traffic where the FORWARD policy is DROP (Docker sets it so)',
        'install iptables (apt-get install iptables) and restart the node',
      ),
    );
    return out;
  }
  const sets: Array<{ chain: string; flag: string; rules: ReturnType<typeof forwardRules> }> = [];
  if (f.ipMasq) {
    if (!sub) out.push(skipped('iptables', `no own subnet to build the ${MASQ_CHAIN} rules from`));
    else
      sets.push({
        chain: MASQ_CHAIN,
        flag: '--ip-masq',
        rules: masqRules({
          network: ipv4NetToString(net),
          podSubnet: ipv4NetToString(sub),
          randomFully: randomFully && !f.ipMasqFullyRandomDisable,
        }),
      });
  }
  if (f.iptablesForwardRules)
    sets.push({
      chain: FWD_CHAIN,
      flag: '--iptables-forward-rules',
      rules: forwardRules(ipv4NetToString(net)),
    });
  for (const s of sets) {
    let missing;
    try {
      missing = await iptables.missing(s.rules);
    } catch (e) {
      out.push(skipped('iptables', `cannot list ${s.chain}: ${(e as Error).message}`));
      continue;
    }
    if (missing.length === 0) {
      out.push(ok('iptables', `${s.chain}: all ${s.rules.length} rules of ${s.flag} in place`));
      continue;
    }
    const table = s.rules[0]!.table;
    out.push(
      problem(
        'iptables',
        `${s.chain}: ${missing.length} of ${s.rules.length} rules missing (${s.flag}): ${missing.map((r) => `-t ${r.table} ${ruleText(r)}`).join(' | ')}`,
        s.chain === MASQ_CHAIN
          ? "pod traffic to outside the network leaves with the pod's address and gets no replies, while FLANNEL_IPMASQ=true tells the CNI plugin not to masquerade itself"
          : "forwarded pod traffic meets the FORWARD policy; under Docker's DROP policy pods cannot reach other nodes",
        `restart the node (flanneld / weft run write the chain and resync it every --iptables-resync seconds; if the rules keep disappearing something flushes the ${table} table), or add them by hand: iptables -t ${table} ${ruleText(missing[0]!)}`,
      ),
    );
  }
  return out;
}
