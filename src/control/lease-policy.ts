/**
 * lease-policy: which peer leases may become routes. The store is writable by every node (and by
 * anyone holding its credentials), so a lease is a claim, not an instruction: flannel routes
 * whatever it finds (`pkg/backend/vxlan/vxlan_network.go` handleSubnetEvents checks nothing but
 * the backend type), which lets one bad key replace the underlay's connected route on every node.
 *
 * A peer lease is routed only if:
 * - its IPv4 subnet lies inside `Network` with exactly `SubnetLen` bits (what flannel's own
 *   allocator and `isSubnetConfigCompat` demand of a lease, reservations included);
 * - it is not our own subnet, nor a subnet another key already holds (first key in order wins);
 * - its PublicIP is a unicast address (not 0/8, 127/8, multicast 224/4, reserved 240/4 or the
 *   limited broadcast) and not an address of this host;
 * - for vxlan, its VtepMAC is unicast (multicast bit clear, not all zero) and its VNI, when
 *   present (flannel < 0.14 omits it), is ours.
 * Overlap with kernel routes weft did not install is the route programmer's check
 * (`src/io/route-sync.ts`, reason `route_conflict`).
 */

import { Ipv4Net, ipv4Mask, ipv4NetToString, parseIpv4 } from '../net/addr';
import { Lease, vxlanDataOf } from './lease';

/** LEASE_REJECT_REASONS are the stable `reason` labels of `weft_leases_rejected_total`. */
export const LEASE_REJECT_REASONS = [
  'outside_network',
  'subnet_length',
  'own_subnet',
  'duplicate_subnet',
  'public_ip',
  'own_public_ip',
  'vtep_mac',
  'vni',
  'route_conflict',
] as const;

/** LeaseRejectReason is one of LEASE_REJECT_REASONS. */
export type LeaseRejectReason = (typeof LEASE_REJECT_REASONS)[number];

/** LeaseRejection is why a lease is not routed, with a sentence for the log. */
export interface LeaseRejection {
  readonly reason: LeaseRejectReason;
  readonly detail: string;
}

/** LeasePolicy is what a peer lease is checked against. */
export interface LeasePolicy {
  /** The cluster network (`Network`). */
  readonly network: Ipv4Net;
  /** `SubnetLen`. */
  readonly subnetLen: number;
  /** Our own subnet (never routed to a peer). */
  readonly ownSubnet: Ipv4Net | null;
  /** IPv4 addresses of this host, host-order u32 (our PublicIP among them). */
  readonly ownAddrs: ReadonlySet<number>;
  /** Our VNI (vxlan), or null to skip the VNI check. */
  readonly vni: number | null;
}

function contains(outer: Ipv4Net, inner: Ipv4Net): boolean {
  if (inner.prefixLen < outer.prefixLen) return false;
  return (inner.ip & ipv4Mask(outer.prefixLen)) >>> 0 === outer.ip;
}

/** unicastIPv4Problem says why `u32` cannot be a peer's underlay address, or null if it can. */
export function unicastIPv4Problem(u32: number): string | null {
  const a = u32 >>> 24;
  if (a === 0) return 'is in 0.0.0.0/8 (this network)';
  if (a === 127) return 'is loopback';
  if (a >= 224 && a < 240) return 'is multicast';
  if (u32 >>> 0 === 0xffffffff) return 'is the limited broadcast address';
  if (a >= 240) return 'is reserved (240.0.0.0/4)';
  return null;
}

/** unicastMacProblem says why a MAC (colon form) cannot be a VTEP's, or null if it can. */
export function unicastMacProblem(mac: string): string | null {
  const bytes = mac.split(':').map((h) => parseInt(h, 16));
  if (bytes.length !== 6 || bytes.some((b) => !(b >= 0 && b <= 255))) return 'is not a MAC address';
  if (bytes.every((b) => b === 0)) return 'is all zero';
  if (bytes.every((b) => b === 0xff)) return 'is the broadcast address';
  if ((bytes[0]! & 1) === 1) return 'is a multicast address';
  return null;
}

/**
 * checkLease applies the policy to one lease (not the duplicate rule, which needs the whole set:
 * see `filterLeases`). Returns null when the lease may be routed. Leases without an IPv4 subnet
 * pass through: the backend rules (peers.ts) ignore them.
 */
export function checkLease(l: Lease, p: LeasePolicy): LeaseRejection | null {
  const sn = l.subnet;
  if (sn === null) return null;
  const snText = ipv4NetToString(sn);
  if (!contains(p.network, sn)) {
    return {
      reason: 'outside_network',
      detail: `subnet ${snText} is outside Network ${ipv4NetToString(p.network)}`,
    };
  }
  if (sn.prefixLen !== p.subnetLen) {
    return { reason: 'subnet_length', detail: `subnet ${snText} is not a /${p.subnetLen} (SubnetLen)` };
  }
  if (p.ownSubnet && p.ownSubnet.ip === sn.ip && p.ownSubnet.prefixLen === sn.prefixLen) {
    return { reason: 'own_subnet', detail: `subnet ${snText} is our own subnet` };
  }
  const pub = parseIpv4(l.attrs.publicIp);
  if (pub === null)
    return { reason: 'public_ip', detail: `PublicIP "${l.attrs.publicIp}" is not an IPv4 address` };
  const bad = unicastIPv4Problem(pub);
  if (bad !== null) return { reason: 'public_ip', detail: `PublicIP ${l.attrs.publicIp} ${bad}` };
  if (p.ownAddrs.has(pub)) {
    return { reason: 'own_public_ip', detail: `PublicIP ${l.attrs.publicIp} is an address of this host` };
  }
  if (p.vni !== null && l.attrs.backendType === 'vxlan') {
    const data = vxlanDataOf(l.attrs.backendData);
    if (data !== null) {
      const macBad = unicastMacProblem(data.vtepMac);
      if (macBad !== null) return { reason: 'vtep_mac', detail: `VtepMAC ${data.vtepMac} ${macBad}` };
      if (data.vni !== null && data.vni !== p.vni) {
        return { reason: 'vni', detail: `VNI ${data.vni} is not ours (${p.vni})` };
      }
    }
  }
  return null;
}

/**
 * filterLeases splits a lease set into the ones that may be routed and the rejected ones (by key).
 * Leases are taken in key order, so which of two claims to one subnet wins does not depend on
 * arrival order, and every node picks the same one.
 */
export function filterLeases(
  leases: Iterable<Lease>,
  p: LeasePolicy,
): { accepted: Lease[]; rejected: Map<string, LeaseRejection> } {
  const sorted = [...leases].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const accepted: Lease[] = [];
  const rejected = new Map<string, LeaseRejection>();
  // Keyed by the subnet as a number: no string per lease (this runs on every change of 10,000).
  const holder = new Map<number, string>();
  let cache = verdicts.get(p);
  if (cache === undefined) verdicts.set(p, (cache = new WeakMap()));
  for (const l of sorted) {
    let r = cache.get(l);
    if (r === undefined) cache.set(l, (r = checkLease(l, p)));
    if (r !== null) {
      rejected.set(l.key, r);
      continue;
    }
    if (l.subnet !== null) {
      const id = l.subnet.ip * 64 + l.subnet.prefixLen;
      const first = holder.get(id);
      if (first !== undefined) {
        const sn = ipv4NetToString(l.subnet);
        rejected.set(l.key, {
          reason: 'duplicate_subnet',
          detail: `subnet ${sn} is already held by ${first}`,
        });
        continue;
      }
      holder.set(id, l.key);
    }
    accepted.push(l);
  }
  return { accepted, rejected };
}

/** Verdicts per policy and lease object: a lease the store did not change is not checked again. */
const verdicts = new WeakMap<LeasePolicy, WeakMap<Lease, LeaseRejection | null>>();
