/**
 * allocator: which subnet a node may lease (flannel `pkg/subnet/etcd/local_manager.go`
 * allocateSubnet, isSubnetConfigCompat; `pkg/subnet/config.go`).
 *
 * Candidates are walked upward from SubnetMin to SubnetMax one subnet at a time, skipping any that
 * overlaps an existing lease, stopping at 100; one is picked uniformly at random (so nodes starting
 * together rarely collide). The network's first subnet is outside the range by default because
 * SubnetMin defaults to Network + one subnet. IPv6 is chosen independently the same way.
 */

import { LeaseError } from '../errors';
import { Ipv4Net, Ipv6Net, ipv4NetOverlaps, ipv6NetOverlaps } from '../net/addr';
import { Lease } from './lease';
import { NetworkConfig } from './net-config';

/** MAX_CANDIDATES is flannel's cap on free subnets considered per allocation. */
export const MAX_CANDIDATES = 100;

/** isSubnetCompatible: an IPv4 subnet has the configured length and lies in SubnetMin..SubnetMax. */
export function isSubnetCompatible(cfg: NetworkConfig, sn: Ipv4Net | null): boolean {
  if (!cfg.enableIPv4) return sn === null;
  return sn !== null && sn.prefixLen === cfg.subnetLen && sn.ip >= cfg.subnetMin && sn.ip <= cfg.subnetMax;
}

/** isIPv6SubnetCompatible is isSubnetCompatible for the IPv6 side. */
export function isIPv6SubnetCompatible(cfg: NetworkConfig, sn: Ipv6Net | null): boolean {
  if (!cfg.enableIPv6) return sn === null;
  return (
    sn !== null &&
    sn.prefixLen === cfg.ipv6SubnetLen &&
    sn.ip >= cfg.ipv6SubnetMin &&
    sn.ip <= cfg.ipv6SubnetMax
  );
}

/** isLeaseCompatible: both sides of a lease fit the config (what flannel checks before reusing one). */
export function isLeaseCompatible(cfg: NetworkConfig, l: Pick<Lease, 'subnet' | 'ipv6Subnet'>): boolean {
  return isSubnetCompatible(cfg, l.subnet) && isIPv6SubnetCompatible(cfg, l.ipv6Subnet);
}

/** freeSubnets4 lists up to `max` free IPv4 subnets in range, lowest first. */
export function freeSubnets4(
  cfg: NetworkConfig,
  taken: readonly (Ipv4Net | null)[],
  max = MAX_CANDIDATES,
): Ipv4Net[] {
  const used = taken.filter((t): t is Ipv4Net => t !== null);
  const size = 2 ** (32 - cfg.subnetLen);
  const out: Ipv4Net[] = [];
  for (let ip = cfg.subnetMin; ip <= cfg.subnetMax && out.length < max; ip += size) {
    const sn = { ip, prefixLen: cfg.subnetLen };
    if (!used.some((u) => ipv4NetOverlaps(u, sn))) out.push(sn);
  }
  return out;
}

/** freeSubnets6 lists up to `max` free IPv6 subnets in range, lowest first. */
export function freeSubnets6(
  cfg: NetworkConfig,
  taken: readonly (Ipv6Net | null)[],
  max = MAX_CANDIDATES,
): Ipv6Net[] {
  const used = taken.filter((t): t is Ipv6Net => t !== null);
  const size = 1n << BigInt(128 - cfg.ipv6SubnetLen);
  const out: Ipv6Net[] = [];
  // A walk over a mostly-taken /64 space could be endless; flannel has the same bound in practice.
  let steps = 0;
  for (
    let ip = cfg.ipv6SubnetMin;
    ip <= cfg.ipv6SubnetMax && out.length < max && steps < 1 << 20;
    ip += size, steps++
  ) {
    const sn = { ip, prefixLen: cfg.ipv6SubnetLen };
    if (!used.some((u) => ipv6NetOverlaps(u, sn))) out.push(sn);
  }
  return out;
}

/**
 * allocateSubnet picks a free subnet (and IPv6 subnet when enabled) at random among the first 100
 * free candidates. `taken` is every live lease plus anything the caller has just lost a race on.
 * Throws LeaseError `out of subnets` when nothing is free.
 */
export function allocateSubnet(
  cfg: NetworkConfig,
  taken: readonly Pick<Lease, 'subnet' | 'ipv6Subnet'>[],
  random: () => number = Math.random,
): { subnet: Ipv4Net | null; ipv6Subnet: Ipv6Net | null } {
  let subnet: Ipv4Net | null = null;
  let ipv6Subnet: Ipv6Net | null = null;
  if (cfg.enableIPv4) {
    const c = freeSubnets4(
      cfg,
      taken.map((t) => t.subnet),
    );
    if (c.length === 0) throw new LeaseError('out of subnets');
    subnet = c[Math.floor(random() * c.length) % c.length]!;
  }
  if (cfg.enableIPv6) {
    const c = freeSubnets6(
      cfg,
      taken.map((t) => t.ipv6Subnet),
    );
    if (c.length === 0) throw new LeaseError('out of subnets');
    ipv6Subnet = c[Math.floor(random() * c.length) % c.length]!;
  }
  return { subnet, ipv6Subnet };
}
