/**
 * stale-bridge: the most common flannel CNI failure explained. When a node's subnet changes (a new
 * lease after the old one expired, a new podCIDR after the Node object was recreated), the bridge
 * from before still carries the old gateway address, and the bridge plugin refuses every new pod
 * with `"cni0" already has an IP address different from 10.244.2.1/24`. The plugin's message says
 * neither why nor what to do; this one names the stale bridge, both addresses and the fix.
 */
import { spawnSync } from 'node:child_process';
import { CniError } from '../errors';

const STALE_RE = /"([^"]+)" already has an IP address different from (\S+)/;

/** bridgeAddresses lists the IPv4 addresses (CIDR) of `dev` in the current namespace; [] if unknown. */
export function bridgeAddresses(dev: string): string[] {
  const r = spawnSync('ip', ['-o', '-4', 'addr', 'show', 'dev', dev], {
    encoding: 'utf8',
    timeout: 2000,
    env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin:/usr/bin:/bin` },
  });
  if (r.status !== 0 || typeof r.stdout !== 'string') return [];
  return [...r.stdout.matchAll(/\binet (\S+)/g)].map((m) => m[1]!);
}

/**
 * explainStaleBridge returns the explained error for a bridge plugin's "already has an IP address
 * different from" failure, or null for any other error. `addrs` looks the bridge's addresses up.
 */
export function explainStaleBridge(
  err: CniError,
  subnetFile: string,
  addrs: (dev: string) => string[] = bridgeAddresses,
): CniError | null {
  const m = STALE_RE.exec(err.message);
  if (!m) return null;
  const [, dev, want] = m as unknown as [string, string, string];
  const has = addrs(dev);
  const hasText = has.length > 0 ? ` but has ${has.join(', ')}` : '';
  return new CniError(
    err.cniCode,
    `stale bridge "${dev}": this node's pod subnet (FLANNEL_SUBNET in ${subnetFile}) needs gateway ${want} ` +
      `on ${dev}${hasText}, left from an earlier subnet of this node (a new lease or podCIDR since the bridge was made). ` +
      `Fix: on this node run "ip link delete ${dev}" and create the pod again; pods still attached to the old ` +
      `bridge lose their network and must be recreated too.`,
    err.message,
  );
}
