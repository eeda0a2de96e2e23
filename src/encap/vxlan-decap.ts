/**
 * VXLAN decapsulation (RFC 7348 §5), hot path: validates a received VXLAN UDP payload and finds
 * the inner IP packet in place (no copy).
 *
 * Stages (per packet; the first failing check counts exactly one drop and returns -1):
 *   1. length: at least VXLAN 8 + inner Ethernet 14 bytes             -> tooShort
 *   2. flags: the I bit must be set                                    -> badVxlanFlags
 *      other reserved bits are ignored (RFC 7348 §5) but counted      -> anomaly vxlanReservedBitsSet
 *   3. VNI must be ours                                                -> badVni
 *   4. inner Ethernet dst must be our VTEP MAC                         -> badInnerDstMac
 *   5. inner Ethernet src must not be our VTEP MAC (loop guard)        -> ownInnerSrcMac
 *   6. EtherType IPv4 or IPv6 (an 802.1Q tag is dropped, §6.1)         -> badEthertype
 *   7. inner IP header valid for that EtherType                        -> badInnerIp
 *
 * Inner length: the contract is `len - (ret - off)` (the rest of the frame). If the frame carried
 * Ethernet padding after the IP packet, that is longer than the IP packet: the anomaly
 * `innerPadding` is counted, and callers wanting the exact length use `ipPacketLength(buf, ret)`
 * (src/wire/ip.ts); writing the padded length to a TUN is harmless, the kernel trims it.
 */
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethDstEquals, ethEtherType, ethSrcEquals } from '../wire/ethernet';
import { ipv4TotalLength, isValidIpv4 } from '../wire/ipv4';
import { ipv6PacketLength, isValidIpv6 } from '../wire/ipv6';
import { VXLAN_HEADER_SIZE, vxlanHasVni, vxlanReservedBitsSet, vxlanVni } from '../wire/vxlan';
import { VXLAN_ENCAP_SIZE } from './constants';
import { Anomaly, DropReason, type AnomalyCounters, type DropCounters } from './drop-reason';
import type { VxlanConfig } from './vxlan-config';

/**
 * vxlanDecap validates the VXLAN UDP payload at buf[off..off+len) and returns the offset of the
 * inner IP packet (off + 22), or -1 after incrementing exactly one `drops` slot. Accepted frames
 * with reserved bits set, or with padding after the IP packet, also count in `anomalies`.
 */
export function vxlanDecap(
  buf: Buffer,
  off: number,
  len: number,
  cfg: VxlanConfig,
  drops: DropCounters,
  anomalies: AnomalyCounters,
): number {
  if (len < VXLAN_ENCAP_SIZE) {
    drops[DropReason.tooShort]++;
    return -1;
  }
  if (!vxlanHasVni(buf, off)) {
    drops[DropReason.badVxlanFlags]++;
    return -1;
  }
  if (vxlanVni(buf, off) !== cfg.vni) {
    drops[DropReason.badVni]++;
    return -1;
  }
  const eth = off + VXLAN_HEADER_SIZE;
  const mac = cfg.localMac;
  if (!ethDstEquals(buf, eth, mac)) {
    drops[DropReason.badInnerDstMac]++;
    return -1;
  }
  if (ethSrcEquals(buf, eth, mac)) {
    drops[DropReason.ownInnerSrcMac]++;
    return -1;
  }
  const etherType = ethEtherType(buf, eth);
  const inner = off + VXLAN_ENCAP_SIZE;
  const avail = len - VXLAN_ENCAP_SIZE;
  let v4: boolean;
  if (etherType === ETHERTYPE_IPV4) v4 = true;
  else if (etherType === ETHERTYPE_IPV6) v4 = false;
  else {
    drops[DropReason.badEthertype]++;
    return -1;
  }
  if (v4 ? !isValidIpv4(buf, inner, avail) : !isValidIpv6(buf, inner, avail)) {
    drops[DropReason.badInnerIp]++;
    return -1;
  }
  // Counted only once the frame is accepted, so anomalies describe delivered frames.
  if (vxlanReservedBitsSet(buf, off)) anomalies[Anomaly.vxlanReservedBitsSet]++;
  const ipLen = v4 ? ipv4TotalLength(buf, inner) : ipv6PacketLength(buf, inner);
  if (ipLen !== avail) anomalies[Anomaly.innerPadding]++;
  return inner;
}
