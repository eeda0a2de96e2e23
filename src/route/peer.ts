/**
 * Peer: one remote node of the overlay, as the route table and the encapsulators see it.
 *
 * Peers are immutable; a changed lease produces a new Peer object (and a new route table),
 * so a cached lookup result can never describe a peer that has since changed.
 */

/** Backend is the overlay encapsulation a peer speaks: RFC 7348 VXLAN or flannel-UDP (raw IP in UDP). */
export type Backend = 'vxlan' | 'udp';

/** Peer is a remote VTEP and the overlay subnet it leases. */
export interface Peer {
  /** Dense index (0..n-1) within the table that holds the peer; used for per-peer counter slots. */
  readonly index: number;
  /** The overlay subnet this peer leases, in CIDR form (`10.244.1.0/24` or `fd00:1::/64`). */
  readonly subnet: string;
  /** Public (underlay) IPv4 address, dotted quad: where its VTEP listens. */
  readonly publicIp: string;
  /** `publicIp` as an unsigned 32-bit integer in host order (192.0.2.1 -> 0xc0000201). */
  readonly publicIpU32: number;
  /** The peer's VTEP MAC (6 bytes), used as the inner Ethernet destination; null for flannel-UDP. */
  readonly vtepMac: Buffer | null;
  /** The encapsulation the peer expects. */
  readonly backend: Backend;
}
