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
 * (src/encap/inner-ip.ts); writing the padded length to a TUN is harmless, the kernel trims it.
 */
import { ETH_OFF_SRC, ETH_OFF_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet';
import { VXLAN_FLAG_I, VXLAN_HEADER_SIZE } from '../wire/vxlan';
import { VXLAN_ENCAP_SIZE } from './constants';
import { Anomaly, DropReason, type AnomalyCounters, type DropCounters } from './drop-reason';
import { innerIpValid, ipPacketLength } from './inner-ip';
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
  const flags = buf[off];
  if ((flags & VXLAN_FLAG_I) === 0) {
    drops[DropReason.badVxlanFlags]++;
    return -1;
  }
  const reserved = (flags & ~VXLAN_FLAG_I) | buf[off + 1] | buf[off + 2] | buf[off + 3] | buf[off + 7];
  if (((buf[off + 4] << 16) | (buf[off + 5] << 8) | buf[off + 6]) !== cfg.vni) {
    drops[DropReason.badVni]++;
    return -1;
  }
  const eth = off + VXLAN_HEADER_SIZE;
  const mac = cfg.localMac;
  if (
    buf[eth] !== mac[0] ||
    buf[eth + 1] !== mac[1] ||
    buf[eth + 2] !== mac[2] ||
    buf[eth + 3] !== mac[3] ||
    buf[eth + 4] !== mac[4] ||
    buf[eth + 5] !== mac[5]
  ) {
    drops[DropReason.badInnerDstMac]++;
    return -1;
  }
  const s = eth + ETH_OFF_SRC;
  if (
    buf[s] === mac[0] &&
    buf[s + 1] === mac[1] &&
    buf[s + 2] === mac[2] &&
    buf[s + 3] === mac[3] &&
    buf[s + 4] === mac[4] &&
    buf[s + 5] === mac[5]
  ) {
    drops[DropReason.ownInnerSrcMac]++;
    return -1;
  }
  const etherType = (buf[eth + ETH_OFF_TYPE] << 8) | buf[eth + ETH_OFF_TYPE + 1];
  let version: number;
  if (etherType === ETHERTYPE_IPV4) version = 4;
  else if (etherType === ETHERTYPE_IPV6) version = 6;
  else {
    drops[DropReason.badEthertype]++;
    return -1;
  }
  const inner = off + VXLAN_ENCAP_SIZE;
  const avail = len - VXLAN_ENCAP_SIZE;
  if (!innerIpValid(buf, inner, avail, version)) {
    drops[DropReason.badInnerIp]++;
    return -1;
  }
  // Counted only once the frame is accepted, so anomalies describe delivered frames.
  if (reserved !== 0) anomalies[Anomaly.vxlanReservedBitsSet]++;
  if (ipPacketLength(buf, inner) !== avail) anomalies[Anomaly.innerPadding]++;
  return inner;
}
