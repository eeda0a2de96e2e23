/**
 * host-gw: flannel's host-gw backend (`pkg/backend/hostgw/hostgw.go`, `pkg/backend/route_network.go`),
 * the rules the daemon applies when `Backend.Type` is `host-gw`.
 *
 * host-gw has no device and no encapsulation: every node must sit on one L2, and each peer's
 * subnet is reached by a kernel route `<subnet> via <PublicIP> dev <external iface>`. The daemon
 * installs and removes those routes with the same code as vxlan `DirectRouting` routes; this
 * module holds what is specific to host-gw:
 *   - the node's lease: `{"PublicIP":"…","PublicIPv6":null,"BackendType":"host-gw"}` (no BackendData)
 *   - flannel's refusal when the public IP is not the interface address (NAT)
 *   - which peer leases count: only `host-gw` ones; others are ignored with flannel's warning
 *   - the MTU: the external interface's, since nothing is added to the packets
 *   - the route check: routes deleted behind weft's back are put back within ROUTE_CHECK_MS
 */

import { ConfigError } from '../errors';
import { Lease, LeaseAttrs } from '../control/lease';
import { leasesToPeers } from '../control/peers';
import type { RouteSync } from '../io/route-sync';
import type { Peer } from '../route/peer';
import type { ExtIface } from './iface';
import type { Logger } from './log';

/** HOST_GW is the backend type host-gw leases carry. */
export const HOST_GW = 'host-gw';

/** NAT_ERROR is flannel's error text when `--public-ip` is not the interface address. */
export const NAT_ERROR =
  "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend";

/**
 * checkHostGwIface refuses what flannel's host-gw refuses: a public IP other than the interface
 * address, because peers route to the public IP as a next hop on their own L2.
 */
export function checkHostGwIface(ext: ExtIface): void {
  if (ext.publicIp !== ext.addr) {
    throw new ConfigError(
      '--public-ip',
      `must be the address of the external interface with the host-gw backend: ${NAT_ERROR}`,
      `--public-ip ${ext.publicIp}, ${ext.name} has ${ext.addr}`,
    );
  }
}

/** hostGwLeaseAttrs is the lease value a host-gw node publishes (flannel's exact attributes). */
export function hostGwLeaseAttrs(publicIp: string): LeaseAttrs {
  return { publicIp, publicIpv6: null, backendType: HOST_GW, backendData: null, backendV6Data: null };
}

/** hostGwIgnoreWarning is flannel's warning for a peer lease host-gw ignores, or null when used. */
export function hostGwIgnoreWarning(lease: Lease): string | null {
  if (lease.attrs.backendType !== HOST_GW) {
    return `Ignoring non-${HOST_GW} subnet: type=${lease.attrs.backendType}`;
  }
  if (lease.subnet === null) return `Ignoring ${HOST_GW} lease ${lease.key}: no IPv4 subnet`;
  return null;
}

/**
 * hostGwPeers maps the host-gw leases of a peer set to the records the daemon's routed-peer code
 * installs as `<subnet> via <publicIp>`; other leases are left out. The records come from the
 * udp mapping, which takes any lease type and adds no backend data: a host-gw peer is never
 * handed to the dataplane, so only `subnet` and `publicIp` are read.
 */
export function hostGwPeers(leases: Iterable<Lease>): Peer[] {
  return leasesToPeers(
    [...leases].filter((l) => hostGwIgnoreWarning(l) === null),
    'udp',
  );
}

/** ROUTE_CHECK_MS is how often flannel's RouteNetwork checks its routes (`routeCheckRetries` s). */
export const ROUTE_CHECK_MS = 10_000;

/**
 * recoverRoutes is flannel's RouteNetwork.routeCheck: every route of `group` that is missing from
 * the main table is added again (in one batch) and logged as flannel logs it. A prefix that a route
 * weft did not install holds by now is left to it. Resolves with the number of routes put back; a
 * failure is logged, counted by `onError` and retried next time.
 */
export async function recoverRoutes(
  routes: RouteSync,
  group: string,
  log: Logger,
  onError: () => void,
): Promise<number> {
  const r = await routes.recover(group);
  for (const k of r.recovered) log.info(`Route recovered ${k.dst} : ${k.via}`);
  for (const c of r.conflicts) {
    log.warn(
      `Not recovering the route to ${c.route.dst}: a route weft did not install holds it (${c.holder})`,
    );
  }
  for (const e of r.errors) {
    onError();
    log.error(`Error recovering route to ${e.route.dst}: ${e.route.via}`, { error: e.error });
  }
  return r.recovered.length;
}
