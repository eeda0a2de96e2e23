/**
 * debug-routes: the JSON of /debug/routes (read by `weft trace`): this node, the peers the
 * dataplane encapsulates to, the DirectRouting peers and the leases that were not routed, and why.
 */
import type { Lease, LeaseRejection } from '../control';
import { ipv4NetToString } from '../control';
import type { KernelRoute } from '../io/route-sync';
import { bufferToMac } from '../net/addr';
import type { Backend } from '../route/peer';
import type { PeerSpec } from '../route/route-table';

/** NodeIdentity is what this node publishes and runs with, for /debug and `weft trace`. */
export interface NodeIdentity {
  /** The network's backend; host-gw has no dataplane (`dev` is then the external interface). */
  backend: Backend | 'host-gw';
  dev: string;
  subnet: string;
  network: string;
  publicIp: string;
  localIp: string;
  iface: string;
  vni: number;
  port: number;
  vtepMac: string | null;
  mtu: number;
  /** UDP I/O mode: decides the outer DF bit (batch VXLAN sockets clear it; Node dgram cannot). */
  io: 'batch' | 'dgram';
  leaseKey: string;
  leaseExpiration: string | null;
}

/** DebugPeer is one peer as /debug/routes shows it. */
export interface DebugPeer {
  subnet: string;
  publicIp: string;
  vtepMac: string | null;
  backend: Backend;
  port: number;
  leaseKey: string;
}

/** DebugDirectPeer is a DirectRouting peer: a kernel route via its public IP, no encapsulation. */
export interface DebugDirectPeer {
  subnet: string;
  publicIp: string;
  leaseKey: string;
  /** The route is in place (false after a failed or refused add, retried on the next change). */
  installed: boolean;
}

/** DebugRoutes is the JSON of /debug/routes (consumed by `weft trace`). */
export interface DebugRoutes {
  node: NodeIdentity | null;
  /** Peers reached through the dataplane (encapsulated). */
  peers: DebugPeer[];
  /** DirectRouting peers (vxlan `DirectRouting`, same L2): plain routed IP, not in the dataplane. */
  direct: DebugDirectPeer[];
  ignored: Array<{ leaseKey: string; reason: string }>;
}

/** DebugState is the daemon state /debug/routes is made of. */
export interface DebugState {
  node: NodeIdentity | null;
  known: ReadonlyMap<string, Lease>;
  peers: readonly PeerSpec[];
  directPeers: readonly PeerSpec[];
  /** The `direct` kernel routes installed now. */
  directRoutes: readonly KernelRoute[];
  ignored: ReadonlyMap<string, string>;
  rejected: ReadonlyMap<string, LeaseRejection>;
  /** Leases whose route a foreign kernel route holds: key -> that route. */
  conflicted: ReadonlyMap<string, string>;
}

/** debugRoutes builds the /debug/routes JSON from the daemon's state (control path; allocates). */
export function debugRoutes(s: DebugState): DebugRoutes {
  const port = s.node?.port ?? 0;
  const keyOf = new Map<string, string>();
  for (const [k, l] of s.known) if (l.subnet) keyOf.set(ipv4NetToString(l.subnet), k);
  const direct = new Map(s.directRoutes.map((r) => [r.dst, r.via]));
  return {
    node: s.node,
    peers: s.peers.map((p) => ({
      subnet: p.subnet,
      publicIp: p.publicIp,
      vtepMac: p.vtepMac ? bufferToMac(p.vtepMac) : null,
      backend: p.backend,
      port,
      leaseKey: keyOf.get(p.subnet) ?? '',
    })),
    direct: s.directPeers.map((p) => ({
      subnet: p.subnet,
      publicIp: p.publicIp,
      leaseKey: keyOf.get(p.subnet) ?? '',
      installed: direct.get(p.subnet) === p.publicIp,
    })),
    ignored: [
      ...[...s.ignored].map(([leaseKey, reason]) => ({ leaseKey, reason })),
      ...[...s.rejected].map(([leaseKey, r]) => ({
        leaseKey,
        reason: `rejected (${r.reason}): ${r.detail}`,
      })),
      ...[...s.conflicted].map(([leaseKey, holder]) => ({
        leaseKey,
        reason: `rejected (route_conflict): the kernel route ${holder} was not installed by weft`,
      })),
    ],
  };
}
