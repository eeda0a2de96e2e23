/**
 * VXLAN decapsulation (RFC 7348 §5), hot path: validates a received VXLAN UDP payload and finds
 * the inner IP packet in place (no copy).
 *
 * Stages (per packet; the first failing check counts exactly one drop and returns -1):
 *   1. length: at least VXLAN 8 + inner Ethernet 14 bytes             -> tooShort
 *   2. flags: the I bit must be set                                    -> badVxlanFlags
 *      the RCO flag (draft-herbert-vxlan-rco) needs `cfg.rco`          -> vxlanRcoDisabled
 *      other reserved bits are ignored (RFC 7348 §5) but counted      -> anomaly vxlanReservedBitsSet
 *   8. RCO frames: start must be the inner L4 header of a TCP/UDP packet and the offset its
 *      checksum field                                                  -> badVxlanRco
 *      (the field then holds the pseudo-header sum: the partial-checksum paths of ingress finish
 *      it, src/offload/partial-csum.ts, as they do for a kernel sender's CHECKSUM_PARTIAL)
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
import { IP_PROTO_TCP, IP_PROTO_UDP, IPV4_OFF_PROTOCOL } from '../wire/ipv4';
import { IPV6_HEADER_SIZE, IPV6_OFF_NEXT_HEADER } from '../wire/ipv6';
import {
  VXLAN_FLAG_I,
  VXLAN_FLAG_RCO,
  VXLAN_HEADER_SIZE,
  VXLAN_OFF_RCO,
  VXLAN_OFF_RCO_FLAG,
  VXLAN_RCO_START_MASK,
  VXLAN_RCO_SHIFT,
  VXLAN_RCO_TCP_OFFSET,
  VXLAN_RCO_UDP,
  VXLAN_RCO_UDP_OFFSET,
} from '../wire/vxlan';
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
  const rco = (buf[off + VXLAN_OFF_RCO_FLAG] & VXLAN_FLAG_RCO) !== 0;
  if (rco && !cfg.rco) {
    drops[DropReason.vxlanRcoDisabled]++;
    return -1;
  }
  const reserved =
    (flags & ~VXLAN_FLAG_I) |
    (buf[off + 1] & ~VXLAN_FLAG_RCO) |
    buf[off + 2] |
    buf[off + 3] |
    (rco ? 0 : buf[off + 7]);
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
  if (rco && !rcoFieldsValid(buf, off, inner, avail, version)) {
    drops[DropReason.badVxlanRco]++;
    return -1;
  }
  // Counted only once the frame is accepted, so anomalies describe delivered frames.
  if (reserved !== 0) anomalies[Anomaly.vxlanReservedBitsSet]++;
  if (ipPacketLength(buf, inner) !== avail) anomalies[Anomaly.innerPadding]++;
  return inner;
}

/**
 * rcoFieldsValid checks an RCO frame's start and offset against the inner IP packet at `inner`
 * (`avail` bytes): the start must be the inner Ethernet header plus the IP header (IPv4 IHL, or
 * the 40-byte IPv6 header with TCP/UDP directly behind it), the offset that protocol's checksum
 * field, and the field inside the frame. Anything else would make the receiver write a sum
 * somewhere other than a checksum.
 */
function rcoFieldsValid(buf: Buffer, off: number, inner: number, avail: number, version: number): boolean {
  const b = buf[off + VXLAN_OFF_RCO];
  const start = (b & VXLAN_RCO_START_MASK) << VXLAN_RCO_SHIFT;
  const udp = (b & VXLAN_RCO_UDP) !== 0;
  let l4: number;
  let proto: number;
  if (version === 4) {
    l4 = (buf[inner] & 0x0f) << 2;
    proto = buf[inner + IPV4_OFF_PROTOCOL];
  } else {
    l4 = IPV6_HEADER_SIZE;
    proto = buf[inner + IPV6_OFF_NEXT_HEADER];
  }
  if (start !== VXLAN_ENCAP_SIZE - VXLAN_HEADER_SIZE + l4) return false;
  if (proto !== (udp ? IP_PROTO_UDP : IP_PROTO_TCP)) return false;
  return l4 + (udp ? VXLAN_RCO_UDP_OFFSET : VXLAN_RCO_TCP_OFFSET) + 2 <= avail;
}
