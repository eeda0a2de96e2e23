/**
 * peers: turning leases into the dataplane's Peer records (`src/route/peer.ts`), with flannel's
 * per-backend rules (`pkg/backend/vxlan/vxlan_network.go`, `pkg/backend/udp/udp_network_amd64.go`):
 * - vxlan ignores leases whose BackendType is not `vxlan`, and leases without a usable VtepMAC;
 * - udp does not filter by BackendType at all: every lease gets a route to PublicIP.
 * Only the IPv4 side becomes a Peer: flannel carries IPv6 subnets over a separate IPv6 underlay
 * (flannel-v6.<VNI>), which weft's IPv4 dataplane does not speak.
 */

import { Backend, Peer } from '../route/peer';
import type { PeerSpec } from '../route/route-table';
import { ipv4NetToString, parseIpv4 } from '../net/addr';
import { Lease, vxlanDataOf } from './lease';

/** leaseToPeer maps one lease for a node running `backend`; null when flannel would ignore it. */
export function leaseToPeer(lease: Lease, backend: Backend, index: number): Peer | null {
  if (lease.subnet === null) return null;
  const u32 = parseIpv4(lease.attrs.publicIp);
  if (u32 === null) return null;
  let vtepMac: Buffer | null = null;
  if (backend === 'vxlan') {
    if (lease.attrs.backendType !== 'vxlan') return null;
    const data = vxlanDataOf(lease.attrs.backendData);
    if (data === null) return null;
    vtepMac = Buffer.from(data.vtepMac.split(':').map((h) => parseInt(h, 16)));
  }
  return {
    index,
    subnet: ipv4NetToString(lease.subnet),
    publicIp: lease.attrs.publicIp,
    publicIpU32: u32,
    vtepMac,
    backend,
  };
}

/** Peers already mapped, per backend and lease object (a lease the store did not change maps once). */
const mapped = { vxlan: new WeakMap<Lease, Peer | null>(), udp: new WeakMap<Lease, Peer | null>() };

/**
 * leasesToPeers maps a peer set, dense indexes in key order; ignored leases are skipped. `sorted`
 * says the leases already come in key order.
 */
export function leasesToPeers(leases: Iterable<Lease>, backend: Backend, sorted = false): Peer[] {
  const out: Peer[] = [];
  const list = sorted ? leases : [...leases].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const cache = mapped[backend];
  for (const l of list) {
    let p = cache.get(l);
    if (p === undefined) cache.set(l, (p = leaseToPeer(l, backend, 0)));
    if (p) out.push(p.index === out.length ? p : { ...p, index: out.length });
  }
  return out;
}

/**
 * leasesToPeerSpecs maps a peer set like `leasesToPeers`, without table indexes: the records are
 * the ones mapped before for the same lease objects (an unchanged lease costs a WeakMap probe and
 * no allocation), which is what a pass over 10,000 leases for a handful of changes needs.
 */
export function leasesToPeerSpecs(leases: Iterable<Lease>, backend: Backend, sorted = false): PeerSpec[] {
  const out: PeerSpec[] = [];
  const list = sorted ? leases : [...leases].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const cache = mapped[backend];
  for (const l of list) {
    let p = cache.get(l);
    if (p === undefined) cache.set(l, (p = leaseToPeer(l, backend, 0)));
    if (p) out.push(p);
  }
  return out;
}
