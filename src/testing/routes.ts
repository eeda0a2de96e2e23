/**
 * routes: "a Router with these peers" for unit tests and benchmarks, so each one states only the
 * subnets, underlay addresses and backends it cares about.
 */
import { ipv4ToU32, macToBuffer } from '../net/addr';
import type { Backend } from '../route/peer';
import { RouteTable, indexPeers, type PeerSpec } from '../route/route-table';
import { Router, type RouterOptions } from '../route/router';

/** PEER_VTEP_MAC is the VTEP MAC a VXLAN peerSpec gets unless told otherwise. */
export const PEER_VTEP_MAC = '0e:00:00:00:00:02';

/**
 * peerSpec is the PeerSpec of a peer owning `subnet` at underlay `publicIp`; a VXLAN peer's VTEP
 * MAC is `vtepMac` (default PEER_VTEP_MAC), a flannel-UDP peer has none.
 */
export function peerSpec(
  subnet: string,
  publicIp: string,
  backend: Backend = 'vxlan',
  vtepMac: Buffer | string = PEER_VTEP_MAC,
): PeerSpec {
  return {
    subnet,
    publicIp,
    publicIpU32: ipv4ToU32(publicIp),
    vtepMac: backend === 'vxlan' ? (typeof vtepMac === 'string' ? macToBuffer(vtepMac) : vtepMac) : null,
    backend,
  };
}

/** routerFor is a Router over a RouteTable of `peers`, indexed in the order given. */
export function routerFor(peers: readonly PeerSpec[], o: RouterOptions = {}): Router {
  return new Router(RouteTable.build(indexPeers(peers)), o);
}
