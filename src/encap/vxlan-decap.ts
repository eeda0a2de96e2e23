/**
 * VXLAN decapsulation (RFC 7348 §5), hot path: validates a received VXLAN UDP payload and finds
 * the inner IP packet in place (no copy).
 *
 * Stages (per packet; the first failing check counts exactly one drop and returns -1):
 *   1. length: at least VXLAN 8 + inner Ethernet 14 bytes             -> tooShort
 *   2. flags: the I bit must be set                                    -> badVxlanFlags
 *      the RCO flag (draft-herbert-vxlan-rco) needs `cfg.rco`          -> vxlanRcoDisabled
 *      other reserved bits are ignored (RFC 7348 §5) but counted      -> anomaly vxlanReservedBitsSet
 *   3. VNI must be ours                                                -> badVni
 *   4. inner Ethernet dst must be our VTEP MAC                         -> badInnerDstMac
 *   5. inner Ethernet src must not be our VTEP MAC (loop guard)        -> ownInnerSrcMac
 *   6. EtherType IPv4 or IPv6 (an 802.1Q tag is dropped, §6.1)         -> badEthertype
 *   7. inner IP header valid for that EtherType                        -> badInnerIp
 *   8. RCO frames: start must be the inner L4 header of a TCP/UDP packet and the offset its
 *      checksum field                                                  -> badVxlanRco
 *      (the field then holds the pseudo-header sum: the partial-checksum paths of ingress finish
 *      it, src/offload/partial-csum.ts, as they do for a kernel sender's CHECKSUM_PARTIAL)
 *
 * Inner length: the contract is `len - (ret - off)` (the rest of the frame). If the frame carried
 * Ethernet padding after the IP packet, that is longer than the IP packet: the anomaly
 * `innerPadding` is counted, and callers wanting the exact length use `ipPacketLength(buf, ret)`
 * (src/wire/ip.ts); writing the padded length to a TUN is harmless, the kernel trims it.
 */
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethDstEquals, ethEtherType, ethSrcEquals } from '../wire/ethernet';
import { IP_PROTO_TCP, IP_PROTO_UDP, IPV4_OFF_PROTOCOL, ipv4TotalLength, isValidIpv4 } from '../wire/ipv4';
import { IPV6_HEADER_SIZE, IPV6_OFF_NEXT_HEADER, ipv6PacketLength, isValidIpv6 } from '../wire/ipv6';
import {
  VXLAN_HEADER_SIZE,
  VXLAN_RCO_TCP_OFFSET,
  VXLAN_RCO_UDP_OFFSET,
  vxlanHasRco,
  vxlanHasVni,
  vxlanRcoOffset,
  vxlanRcoStart,
  vxlanReservedBitsSet,
  vxlanVni,
} from '../wire/vxlan';
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
  const rco = vxlanHasRco(buf, off);
  if (rco && !cfg.rco) {
    drops[DropReason.vxlanRcoDisabled]++;
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
  if (rco && !rcoFieldsValid(buf, off, inner, avail, v4)) {
    drops[DropReason.badVxlanRco]++;
    return -1;
  }
  // Counted only once the frame is accepted, so anomalies describe delivered frames.
  if (vxlanReservedBitsSet(buf, off, rco)) anomalies[Anomaly.vxlanReservedBitsSet]++;
  const ipLen = v4 ? ipv4TotalLength(buf, inner) : ipv6PacketLength(buf, inner);
  if (ipLen !== avail) anomalies[Anomaly.innerPadding]++;
  return inner;
}

/**
 * rcoFieldsValid checks an RCO frame's start and offset against the inner IP packet at `inner`
 * (`avail` bytes): the start must be the inner Ethernet header plus the IP header (IPv4 IHL, or
 * the 40-byte IPv6 header with TCP/UDP directly behind it), the offset that protocol's checksum
 * field, and the field inside the frame. Anything else would make the receiver write a sum
 * somewhere other than a checksum.
 */
function rcoFieldsValid(buf: Buffer, off: number, inner: number, avail: number, v4: boolean): boolean {
  const start = vxlanRcoStart(buf, off);
  const o = vxlanRcoOffset(buf, off);
  const l4 = v4 ? (buf[inner] & 0x0f) << 2 : IPV6_HEADER_SIZE;
  const proto = buf[inner + (v4 ? IPV4_OFF_PROTOCOL : IPV6_OFF_NEXT_HEADER)];
  if (start !== VXLAN_ENCAP_SIZE - VXLAN_HEADER_SIZE + l4) return false;
  if (proto !== (o === VXLAN_RCO_UDP_OFFSET ? IP_PROTO_UDP : IP_PROTO_TCP)) return false;
  return l4 + (o === VXLAN_RCO_UDP_OFFSET ? VXLAN_RCO_UDP_OFFSET : VXLAN_RCO_TCP_OFFSET) + 2 <= avail;
}
