/**
 * peer-leases: the daemon's book of peer leases. Given the store's current lease set it checks
 * each lease against the lease policy (lease-policy.ts), remembers which were refused, ignored
 * (another backend, no usable VtepMAC; host-gw: a non-host-gw lease) or held off by a foreign
 * kernel route, logs and counts each change once (flannel's "Subnet added/removed" lines, one
 * warning per key and reason), and hands back the leases to route.
 */
import {
  Lease,
  LeasePolicy,
  LeaseRejection,
  describeLease,
  filterLeases,
  ipv4NetToString,
  leaseToPeer,
  vxlanDataOf,
} from '../control';
import type { RouteConflict, RouteSync } from '../io/route-sync';
import type { DaemonCounters } from '../metrics/metrics';
import { hostGwIgnoreWarning } from './host-gw';
import type { Logger } from './log';
import type { Backend } from '../route/peer';

/** PeerLeasesDeps are what the book logs and counts into. */
export interface PeerLeasesDeps {
  log: Logger;
  counters: DaemonCounters;
  /** Called for a lease whose attributes changed (DirectRouting decides again, as flannel). */
  forget: (subnet: string) => void;
}

/** PeerLeases is the book of peer leases; see the module comment. */
export class PeerLeases {
  /** Every peer lease of the last set, own excluded. */
  readonly known = new Map<string, Lease>();
  /** Leases not routed for another reason than the policy, by key: why. */
  readonly ignored = new Map<string, string>();
  /** Peer leases refused by the policy, by key (one warning per key and reason). */
  readonly rejected = new Map<string, LeaseRejection>();
  /** Peer leases whose route a route weft did not install holds, by key. */
  readonly conflicted = new Map<string, string>();

  constructor(private readonly d: PeerLeasesDeps) {}

  /**
   * update makes `leases` the current set and returns the leases to route, in key order (the
   * first key holding a subnet wins it on every node).
   */
  update(leases: ReadonlyMap<string, Lease>, policy: LeasePolicy, backend: Backend | 'host-gw'): Lease[] {
    const { accepted, rejected } = filterLeases(leases.values(), policy);
    const hostGw = backend === 'host-gw';
    for (const [k, l] of this.known) {
      if (!leases.has(k)) {
        this.conflicted.delete(k);
        // An ignored or rejected lease never became a route, so its removal changes nothing.
        if (this.ignored.delete(k) || this.rejected.delete(k)) continue;
        this.d.counters.leaseRemoved++;
        this.d.log.info(`Subnet removed: ${l.subnet ? ipv4NetToString(l.subnet) : k}`, { key: k });
      }
    }
    for (const [k, r] of rejected) {
      const prev = this.rejected.get(k);
      this.rejected.set(k, r);
      if (prev?.reason === r.reason) continue;
      if (prev === undefined && this.known.has(k) && !this.ignored.has(k)) {
        this.d.counters.leaseRemoved++;
        this.d.log.info(`Subnet removed: ${ipv4NetToString(leases.get(k)!.subnet!)}`, { key: k });
      }
      this.ignored.delete(k);
      this.conflicted.delete(k);
      this.countRejected(r.reason);
      this.d.log.warn(`Refusing lease ${k}: ${r.detail}`, {
        reason: r.reason,
        lease: describeLease(leases.get(k)!),
      });
    }
    for (const l of accepted) {
      const k = l.key;
      const old = this.known.get(k);
      const wasRejected = this.rejected.delete(k);
      if (!wasRejected && old && (old === l || JSON.stringify(old.attrs) === JSON.stringify(l.attrs)))
        continue;
      // flannel decides DirectRouting again on every event for a lease; here on every change.
      if (l.subnet) this.d.forget(ipv4NetToString(l.subnet));
      if (hostGw) {
        // flannel's RouteNetwork: only host-gw leases count, the others get its warning.
        const warning = hostGwIgnoreWarning(l);
        if (warning !== null) {
          if (old && !this.ignored.has(k) && !wasRejected) this.d.counters.leaseRemoved++;
          this.d.counters.leaseIgnored++;
          this.ignored.set(k, warning);
          this.d.log.warn(warning, { key: k, lease: describeLease(l) });
          continue;
        }
      } else if (leaseToPeer(l, backend as Backend, 0) === null) {
        const why =
          backend === 'vxlan' && l.attrs.backendType !== 'vxlan'
            ? `backend type "${l.attrs.backendType || 'udp'}" is not vxlan`
            : backend === 'vxlan' && vxlanDataOf(l.attrs.backendData) === null
              ? 'no usable VtepMAC in BackendData'
              : 'no IPv4 subnet or public IP';
        this.d.counters.leaseIgnored++;
        this.ignored.set(k, why);
        // flannel: "Ignoring non-vxlan v4Subnet=... v6Subnet=... (udp)" style warning.
        this.d.log.warn(`Ignoring lease ${k}: ${why}`, { lease: describeLease(l) });
        continue;
      }
      this.ignored.delete(k);
      this.d.counters.leaseAdded++;
      const mac = vxlanDataOf(l.attrs.backendData)?.vtepMac;
      this.d.log.info(
        `Subnet added: ${ipv4NetToString(l.subnet!)} via ${l.attrs.publicIp}`,
        mac ? { vtepMac: mac, key: k } : { key: k },
      );
    }
    // Brought up to date in place: no new 10,000-entry map per pass (`leases` is the watcher's
    // live map, so a reference would not do: the next pass compares against it).
    for (const k of this.known.keys()) if (!leases.has(k)) this.known.delete(k);
    for (const [k, l] of leases) if (this.known.get(k) !== l) this.known.set(k, l);
    return accepted;
  }

  countRejected(reason: string): void {
    const c = this.d.counters.leaseRejected;
    c.set(reason, (c.get(reason) ?? 0) + 1);
  }

  /**
   * noteConflicts records the peer routes of `group` a foreign kernel route holds: refused as
   * `route_conflict` (warned once per key), and forgotten again once the route went in.
   */
  noteConflicts(group: string, conflicts: readonly RouteConflict[], owner: RouteSync | null): void {
    if (conflicts.length === 0 && this.conflicted.size === 0) return;
    const keyOf = new Map<string, string>();
    for (const [k, l] of this.known)
      if (l.subnet && !this.rejected.has(k)) keyOf.set(ipv4NetToString(l.subnet), k);
    const now = new Set<string>();
    for (const c of conflicts) {
      const k = keyOf.get(c.route.dst);
      if (k === undefined) continue;
      now.add(k);
      if (this.conflicted.get(k) === c.holder) continue;
      this.conflicted.set(k, c.holder);
      this.countRejected('route_conflict');
      this.d.log.warn(
        `Refusing lease ${k}: the kernel route ${c.holder} was not installed by weft; leaving it alone`,
        {
          reason: 'route_conflict',
          route: c.route.dst,
          group,
        },
      );
    }
    for (const [k] of this.conflicted) {
      const l = this.known.get(k);
      const dst = l?.subnet ? ipv4NetToString(l.subnet) : null;
      if (!now.has(k) && (dst === null || owner?.ownerOf(dst) !== undefined)) this.conflicted.delete(k);
    }
  }
}
