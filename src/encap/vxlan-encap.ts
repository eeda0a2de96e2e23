/**
 * VXLAN encapsulation (RFC 7348 §5), hot path: turns an inner IP packet into a VXLAN UDP payload
 * by writing 22 bytes into the headroom in front of it.
 *
 * Stages (per packet, no allocation, never throws):
 *   1. pick the inner EtherType from the IP version nibble (6 -> 0x86DD, anything else -> 0x0800;
 *      the caller has already rejected non-IP packets with `badIpVersion`),
 *   2. write the inner Ethernet header: dst = peer's VTEP MAC, src = our VTEP MAC (flannel peers
 *      drop frames not addressed to their flannel.1 MAC, see docs/wire-formats.md),
 *   3. write the VXLAN header: flags 0x08, reserved bits zero, 24-bit VNI.
 *
 * Ownership: the caller owns `buf`; bytes buf[off-22..off) are overwritten.
 */
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, writeEthernetHeader } from '../wire/ethernet';
import { ipVersion } from '../wire/ipv4';
import { IPV6_VERSION } from '../wire/ipv6';
import { VXLAN_HEADER_SIZE, writeVxlanHeader } from '../wire/vxlan';
import { VXLAN_ENCAP_SIZE } from './constants';
import type { VxlanConfig } from './vxlan-config';

/**
 * vxlanEncap writes VXLAN(8) + inner Ethernet(14) in front of the IP packet at buf[off..off+len)
 * and returns the new start, off - 22; the UDP payload is then buf[start .. off+len). Requires
 * off >= 22 (HEADROOM guarantees it) and len >= 1; `peerMac` is the peer's 6-byte VTEP MAC.
 */
export function vxlanEncap(buf: Buffer, off: number, len: number, peerMac: Buffer, cfg: VxlanConfig): number {
  const start = off - VXLAN_ENCAP_SIZE;
  writeVxlanHeader(buf, start, cfg.vni);
  const eth = start + VXLAN_HEADER_SIZE;
  const etherType = len > 0 && ipVersion(buf, off) === IPV6_VERSION ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
  writeEthernetHeader(buf, eth, peerMac, cfg.localMac, etherType);
  return start;
}
