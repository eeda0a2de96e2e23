/**
 * vxlan-rco: the sender's half of VXLAN Remote Checksum Offload (draft-herbert-vxlan-rco; Linux
 * `remcsumtx`, drivers/net/vxlan vxlan_build_skb + vxlan_compute_rco). The wire fields are in
 * src/wire/vxlan.ts; the receiver's checks are in vxlan-decap.ts.
 *
 * A packet qualifies when its inner TCP/UDP checksum is partial, i.e. the field holds the folded
 * pseudo-header sum (src/offload/partial-csum.ts `partialCsumStart`, a header-only test), and the
 * coverage start (inner Ethernet 14 + IP header) fits the 7-bit, 2-byte-unit encoding. Linux
 * applies the same two conditions (CHECKSUM_PARTIAL, csum_start <= 254 and even, TCP/UDP offset).
 * A complete checksum that happens to equal its pseudo sum (one in 65535) is marked too; the
 * receiver's completion then writes back the value it already had, so nothing changes.
 */
import { partialCsumStart } from './partial-csum';
import { ipProtocol } from '../wire/ip';
import { ETH_HEADER_SIZE } from '../wire/ethernet';
import { IP_PROTO_UDP } from '../wire/ipv4';
import { VXLAN_MAX_RCO_START, setVxlanRco } from '../wire/vxlan';

/** rcoStartFits reports whether an L4 header `l4` bytes into the inner IP packet is encodable. */
export function rcoStartFits(l4: number): boolean {
  return ETH_HEADER_SIZE + l4 <= VXLAN_MAX_RCO_START;
}

/**
 * markRcoIfPartial sets the RCO fields of the VXLAN header at `vx` when the inner IP packet at
 * buf[inner..inner+len) qualifies (see the module comment); returns whether it did. Hot path:
 * reads headers only, no allocation.
 */
export function markRcoIfPartial(buf: Uint8Array, vx: number, inner: number, len: number): boolean {
  const l4 = partialCsumStart(buf, inner, len);
  if (l4 === 0 || !rcoStartFits(l4)) return false;
  setVxlanRco(buf, vx, ETH_HEADER_SIZE + l4, ipProtocol(buf, inner) === IP_PROTO_UDP);
  return true;
}
