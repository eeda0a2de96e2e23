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
import * as netdev from '../io/netdev';
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
 * recoverRoutes is flannel's RouteNetwork.routeCheck: every route in `want` (subnet -> gateway)
 * that is missing from the main table is added again and logged as flannel logs it. Resolves with
 * the number of routes put back; a failure is logged, counted by `onError` and retried next time.
 */
export async function recoverRoutes(
  want: ReadonlyMap<string, string>,
  dev: string,
  log: Logger,
  onError: () => void,
): Promise<number> {
  if (want.size === 0) return 0;
  const out = await netdev.ip(['-j', '-4', 'route', 'show', 'dev', dev]);
  const have = JSON.parse(out.trim() === '' ? '[]' : out) as Array<{ dst?: string; gateway?: string }>;
  let recovered = 0;
  for (const [subnet, gw] of want) {
    if (have.some((r) => r.dst === subnet && r.gateway === gw)) continue;
    try {
      await netdev.replaceRoute({ dst: subnet, via: gw, dev });
      recovered++;
      log.info(`Route recovered ${subnet} : ${gw}`);
    } catch (e) {
      onError();
      log.error(`Error recovering route to ${subnet}: ${gw}`, { error: (e as Error).message });
    }
  }
  return recovered;
}
