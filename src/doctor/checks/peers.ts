/**
 * peers check: the kernel state that carries traffic to each peer, against the peer's lease.
 *
 * What a node should hold per peer lease (flannel `pkg/backend/vxlan/vxlan_network.go`,
 * `hostgw`, `udp`):
 *   - kernel flannel.<VNI> (flanneld): `ip neigh <subnet>.0 lladdr <VtepMAC> permanent`,
 *     `bridge fdb <VtepMAC> dst <PublicIP>`, `ip route <subnet> via <subnet>.0 dev flannel.1 onlink`;
 *   - weft's flannel.<VNI> (a TUN; weft keeps MACs and public IPs itself): `<subnet> dev flannel.1`;
 *   - vxlan DirectRouting peers on the same L2, and host-gw: `<subnet> via <PublicIP>`;
 *   - udp: one route, `<Network> dev flannel0`.
 * A route into the overlay for a subnet nobody leases, or a neighbour entry with another MAC than
 * the lease's (the peer restarted with a new VTEP MAC), blackholes that traffic: weft peers count
 * it as `bad_inner_dst_mac`, kernel peers drop it silently.
 */
import { Ipv4Net, Lease, u32ToIpv4, ipv4NetToString, parseIpv4Cidr, vxlanDataOf } from '../../control';
import { Finding, note, ok, problem, skipped } from '../finding';
import type { HostRoute } from '../host';
import type { NodeView } from '../node-view';

/** routeNet parses `ip route` destinations: a host route is printed without `/32`. */
function routeNet(r: HostRoute): Ipv4Net | null {
  if (r.dst === 'default') return parseIpv4Cidr('0.0.0.0/0');
  return parseIpv4Cidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
}

const sameNet = (a: Ipv4Net | null, b: Ipv4Net | null): boolean =>
  a !== null && b !== null && a.ip === b.ip && a.prefixLen === b.prefixLen;

/** leaseMac is a vxlan lease's VTEP MAC, or null. */
export function leaseMac(l: Lease): string | null {
  return l.attrs.backendType === 'vxlan' ? (vxlanDataOf(l.attrs.backendData)?.vtepMac ?? null) : null;
}

/** checkPeers compares routes, neighbours and FDB entries with the leases. */
export function checkPeers(v: NodeView, weftVtepMac: string | null = null): Finding[] {
  if (!v.config || v.leases === null) return [skipped('peers', 'no config or leases to compare with')];
  if (v.routes === null) return [skipped('peers', 'cannot read the routing table (`ip -j route` failed)')];
  const be = v.config.backend;
  const out: Finding[] = [];
  const dev = v.dev;
  const restart = `restart flanneld / weft run on this node: it rewrites every peer's entries from the leases`;

  // Our own identity as peers see it.
  const ownMac = v.ownLease ? leaseMac(v.ownLease) : null;
  if (v.flavor === 'kernel-vxlan' && ownMac && v.devLink?.mac && v.devLink.mac !== ownMac) {
    out.push(
      problem(
        'peers',
        `${v.devLink.name} has MAC ${v.devLink.mac}, but this node's lease publishes VtepMAC ${ownMac}`,
        "peers address their frames to the lease's MAC; the kernel drops frames for another MAC (PACKET_OTHERHOST), so nothing arrives (systemd MACAddressPolicy, or the device was recreated; flannel PR #1796)",
        "restart flanneld: it republishes the lease with the device's MAC",
      ),
    );
  }
  if (v.flavor === 'weft-vxlan' && ownMac && weftVtepMac && weftVtepMac !== ownMac) {
    out.push(
      problem(
        'peers',
        `weft's VTEP state file says ${weftVtepMac}, but this node's lease publishes ${ownMac}`,
        "the running weft uses the MAC it started with; if that is not the lease's, peers address it wrongly",
        'restart weft run so it republishes the lease from its state file',
      ),
    );
  }

  if (be.type === 'udp') {
    const net = v.config.network!;
    const has = v.routes.some((r) => r.dev === dev && sameNet(routeNet(r), net));
    out.push(
      has
        ? ok('peers', `route ${ipv4NetToString(net)} dev ${dev} (udp backend)`)
        : problem(
            'peers',
            `no route ${ipv4NetToString(net)} dev ${dev}`,
            'the udp backend sends the whole network into flannel0; without the route pod traffic takes the default route',
            restart,
          ),
    );
    return out;
  }

  const want = be.type === 'host-gw' ? 'host-gw' : 'vxlan';
  const bad: Finding[] = [];
  let good = 0;
  let direct = 0;
  const leased: Ipv4Net[] = [];
  for (const p of v.peers) {
    if (!p.subnet) continue;
    leased.push(p.subnet);
    const sn = ipv4NetToString(p.subnet);
    const type = p.attrs.backendType || 'udp';
    if (type !== want) {
      out.push(
        note(
          'peers',
          `lease ${p.key} (${p.attrs.publicIp}) is a ${type} lease; a ${want} node ignores it`,
          'nodes of different backends do not reach each other',
          'run every node with the same Backend.Type',
        ),
      );
      continue;
    }
    const routes = v.routes.filter((r) => sameNet(routeNet(r), p.subnet));
    const viaPublic = routes.find((r) => r.gateway === p.attrs.publicIp);
    if (be.type === 'host-gw' || (be.type === 'vxlan' && be.directRouting && viaPublic)) {
      if (viaPublic) {
        direct++;
        continue;
      }
      bad.push(
        problem(
          'peers',
          `no route ${sn} via ${p.attrs.publicIp} (host-gw peer ${p.key})`,
          "host-gw reaches each peer subnet through the peer's public IP; without the route the traffic follows the default route or is unreachable",
          `${restart} (it also re-adds a deleted route within 10 s while running)`,
        ),
      );
      continue;
    }
    const gw = u32ToIpv4(p.subnet.ip);
    const mac = leaseMac(p);
    const issues: string[] = [];
    if (v.flavor === 'kernel-vxlan') {
      const r = routes.find((x) => x.dev === dev);
      if (!r) issues.push(`no route ${sn} dev ${dev}`);
      else if (r.gateway !== gw) issues.push(`route ${sn} goes via ${r.gateway ?? 'no gateway'}, not ${gw}`);
      const n = v.neigh?.find((x) => x.dst === gw);
      if (v.neigh === null) issues.push(`neighbour table of ${dev} unreadable`);
      else if (!n || !n.lladdr) issues.push(`no neighbour entry ${gw} on ${dev}`);
      else if (mac && n.lladdr !== mac)
        issues.push(`neighbour ${gw} has MAC ${n.lladdr}, the lease says ${mac}`);
      if (v.fdb === null) issues.push(`FDB of ${dev} unreadable (is \`bridge\` installed?)`);
      else if (mac && !v.fdb.some((f) => f.mac === mac && f.dst === p.attrs.publicIp))
        issues.push(`no FDB entry ${mac} dst ${p.attrs.publicIp} on ${dev}`);
    } else if (v.flavor === 'weft-vxlan') {
      if (!routes.some((x) => x.dev === dev)) issues.push(`no route ${sn} dev ${dev}`);
    } else {
      issues.push(`the overlay device ${dev ?? '?'} is missing`);
    }
    if (issues.length === 0) good++;
    else
      bad.push(
        problem(
          'peers',
          `peer ${sn} (${p.attrs.publicIp}${mac ? `, VtepMAC ${mac}` : ''}): ${issues.join('; ')}`,
          "the kernel sends this peer's traffic by these entries: a missing route sends it elsewhere, a wrong neighbour MAC makes the peer drop every frame (weft counts bad_inner_dst_mac), a missing FDB entry leaves the frame with no underlay destination",
          restart,
        ),
      );
  }
  out.push(...bad);

  // Overlay routes and neighbours for subnets nobody leases any more.
  let stale = 0;
  if (dev && v.config.network) {
    const net = v.config.network;
    const own = v.ownLease?.subnet ?? null;
    for (const r of v.routes) {
      const rn = routeNet(r);
      if (r.dev !== dev || !rn || rn.prefixLen <= net.prefixLen) continue;
      if ((rn.ip & (0xffffffff << (32 - net.prefixLen))) >>> 0 !== net.ip) continue;
      if (leased.some((l) => sameNet(l, rn)) || sameNet(own, rn)) continue;
      stale++;
      out.push(
        problem(
          'peers',
          `route ${r.dst} dev ${dev} has no lease behind it`,
          "a stale route (the peer left, or its lease expired) sends that subnet's traffic into the overlay toward a VTEP that is gone",
          `\`ip route del ${r.dst} dev ${dev}\`, or ${restart}`,
        ),
      );
    }
    if (v.neigh && v.flavor === 'kernel-vxlan') {
      const macs = new Set(v.peers.map(leaseMac).filter((m): m is string => m !== null));
      for (const n of v.neigh) {
        if (!n.lladdr || !n.state.includes('PERMANENT')) continue;
        const known = v.peers.some((p) => p.subnet && u32ToIpv4(p.subnet.ip) === n.dst);
        if (!known && !macs.has(n.lladdr)) {
          out.push(
            note(
              'peers',
              `neighbour ${n.dst} lladdr ${n.lladdr} on ${dev} matches no lease`,
              'left behind by a peer that is gone; harmless unless a route still points at it',
              `\`ip neigh del ${n.dst} dev ${dev}\``,
            ),
          );
        }
      }
    }
  }
  if (bad.length === 0 && stale === 0) {
    const parts = [`${good} peer${good === 1 ? '' : 's'} through ${dev ?? 'the overlay'}`];
    if (direct > 0) parts.push(`${direct} routed directly`);
    out.push(
      ok(
        'peers',
        `${parts.join(', ')}: routes${v.flavor === 'kernel-vxlan' ? ', neighbours and FDB' : ''} match the leases`,
      ),
    );
  }
  return out;
}
