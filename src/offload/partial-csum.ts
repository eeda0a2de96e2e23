/**
 * partial-csum: inner TCP/UDP checksums that arrive partial, and their completion.
 *
 * A Linux sender with checksum offload (CHECKSUM_PARTIAL) writes only the pseudo-header sum into
 * the L4 checksum field (RFC 9293 §3.1 and RFC 768 for IPv4, RFC 8200 §8.1 for IPv6; the kernel's
 * `~csum_tcpudp_magic(...)`) and leaves the rest to the NIC. Over veth, and every bridge of veths
 * (containers, kind-style clusters, namespace testbeds), no NIC ever finishes it: the skb keeps
 * its CHECKSUM_PARTIAL mark across the namespace boundary and a kernel VXLAN peer's frames reach
 * weft's UDP socket with inner checksums that hold only that sum. The kernel receiving such a
 * packet trusts the mark; a TUN write carries no mark, so the TCP/UDP stack behind the TUN drops it.
 *
 * Recognition reads headers only: the field equals the folded pseudo-header sum of the packet's
 * own addresses, protocol and L4 length. A complete checksum equal to that value would need the
 * rest of the segment to sum to exactly 0xffff (one in 65535); completing such a packet anyway
 * writes back the value it already had (the completion sums the field too), so a packet with a
 * correct checksum is never changed. Packets whose field differs are left alone, so a complete but
 * wrong checksum still reaches the kernel's check and is dropped (and counted) there.
 *
 * Two ways to finish a recognised packet:
 *   - `PartialCsumCompleter` (TUN without IFF_VNET_HDR: `--offload off`, `--io dgram`): sums the
 *     L4 bytes of every partial packet of a batch in ONE native csumCopy call (SUM_ONLY plan
 *     entries) and writes the complemented sums. Packets with complete checksums cost one header
 *     comparison, no pass over their payload.
 *   - `writePartialVnetHdr` (TUN with IFF_VNET_HDR): a virtio-net header with NEEDS_CSUM,
 *     csum_start = L4 offset and csum_offset = 16 (TCP) / 6 (UDP), and the kernel marks the skb
 *     CHECKSUM_PARTIAL exactly as the sender had it: no pass over the payload at all.
 *
 * Partial checksums come with a second veth habit: the sender's TSO super-packets (up to 64 KiB,
 * always partial) cross the namespace boundary unsegmented and reach a UDP socket as one
 * datagram. Both ways above deliver them as one packet; the header way also marks them GSO so
 * a forwarding kernel re-segments them.
 *
 * Not recognised (left as they are): IPv4 fragments, IPv6 packets with extension headers before
 * TCP/UDP, IPv4 UDP with checksum 0 ("no checksum", RFC 768).
 */
import { checksumFold } from '../wire/checksum';
import { ipPacketLength, ipProtocol } from '../wire/ip';
import {
  IP_PROTO_TCP,
  IP_PROTO_UDP,
  IPV4_MIN_HEADER_SIZE,
  IPV4_VERSION,
  ipVersion,
  ipv4HeaderLength,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4TotalLength,
} from '../wire/ipv4';
import { IPV6_HEADER_SIZE, IPV6_VERSION, ipv6NextHeader, ipv6PacketLength } from '../wire/ipv6';
import { setUdpChecksum, UDP_HEADER_SIZE, udpChecksum } from '../wire/udp';
import { BAD_RANGE, CsumCopier, SUM_ONLY } from './csum-copy';
import {
  pseudoSumIpv4,
  pseudoSumIpv6,
  setTcpChecksum,
  tcpChecksum,
  tcpHeaderLength,
  TCP_MIN_HEADER_SIZE,
} from '../wire/tcp';
import {
  TCP_CSUM_OFFSET,
  UDP_CSUM_OFFSET,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  writeVnetHdr,
  zeroVnetHdr,
} from '../wire/virtio-net-hdr';

/**
 * partialCsumStart returns csum_start, the L4 header's offset from the IP header, when the IP
 * packet at buf[off..off+len) is TCP or UDP and its checksum field holds exactly the folded
 * pseudo-header sum (a partial checksum); 0 otherwise. Reads headers only. `len` may include
 * trailing padding: the IP header's own length decides the L4 length.
 */
export function partialCsumStart(buf: Uint8Array, off: number, len: number): number {
  const v = ipVersion(buf, off);
  let l4: number;
  let proto: number;
  let ipLen: number;
  if (v === IPV4_VERSION) {
    if (len < IPV4_MIN_HEADER_SIZE) return 0;
    l4 = ipv4HeaderLength(buf, off);
    ipLen = ipv4TotalLength(buf, off);
    // A fragment's checksum covers the reassembled datagram; nothing partial is ever fragmented
    // (MF clear and fragment offset 0; DF may be set).
    if (l4 < IPV4_MIN_HEADER_SIZE || ipLen > len || ipv4IsFragment(buf, off)) return 0;
    proto = ipv4Protocol(buf, off);
  } else if (v === IPV6_VERSION) {
    if (len < IPV6_HEADER_SIZE) return 0;
    l4 = IPV6_HEADER_SIZE;
    ipLen = ipv6PacketLength(buf, off);
    if (ipLen > len) return 0;
    proto = ipv6NextHeader(buf, off);
  } else {
    return 0;
  }
  const l4Len = ipLen - l4;
  let have: number;
  if (proto === IP_PROTO_TCP) {
    if (l4Len < TCP_MIN_HEADER_SIZE) return 0;
    have = tcpChecksum(buf, off + l4);
  } else if (proto === IP_PROTO_UDP) {
    if (l4Len < UDP_HEADER_SIZE) return 0;
    have = udpChecksum(buf, off + l4);
  } else {
    return 0;
  }
  // IPv4 UDP checksum 0 means "none" (RFC 768); a partial sum is never 0 (it folds a non-zero sum).
  if (have === 0) return 0;
  const pseudo =
    v === IPV4_VERSION ? pseudoSumIpv4(buf, off, proto, l4Len) : pseudoSumIpv6(buf, off, proto, l4Len);
  return have === checksumFold(pseudo) ? l4 : 0;
}

/** l4CsumOffset is csum_offset for the TCP or UDP packet at `off` (TCP 16, UDP 6). */
export function l4CsumOffset(buf: Uint8Array, off: number): number {
  return ipProtocol(buf, off) === IP_PROTO_TCP ? TCP_CSUM_OFFSET : UDP_CSUM_OFFSET;
}

/**
 * writePartialVnetHdr writes, at buf[vnetOff..vnetOff+10), the virtio-net header of the packet at
 * `off` whose checksum is partial with csum_start `l4`: NEEDS_CSUM, and a hdr_len covering the L4
 * header so the kernel's linear part holds the checksum field.
 *
 * A TCP packet longer than `mtu` is a sender's TSO super-packet that crossed veth as one GSO skb
 * (its MSS is not on the wire): it is marked GSO TCPV4/TCPV6 with the segment size that fills the
 * `mtu`, so the kernel delivers it locally as one packet and re-segments it if it forwards it.
 */
export function writePartialVnetHdr(
  buf: Uint8Array,
  vnetOff: number,
  off: number,
  l4: number,
  mtu = 65535,
): void {
  const csumOffset = l4CsumOffset(buf, off);
  const tcp = csumOffset === TCP_CSUM_OFFSET;
  const l4Hdr = tcp ? tcpHeaderLength(buf, off + l4) : UDP_HEADER_SIZE;
  const hdrLen = l4 + Math.max(l4Hdr, csumOffset + 2);
  const v4 = ipVersion(buf, off) === IPV4_VERSION;
  const ipLen = ipPacketLength(buf, off);
  let gsoType = VIRTIO_NET_HDR_GSO_NONE;
  let gsoSize = 0;
  if (tcp && ipLen > mtu && mtu > hdrLen) {
    gsoType = v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
    gsoSize = mtu - hdrLen;
  }
  writeVnetHdr(buf, vnetOff, VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType, hdrLen, gsoSize, l4, csumOffset);
}

/**
 * writeSingleVnetHdr writes the virtio-net header of a packet the TUN takes alone (not merged):
 * NEEDS_CSUM (writePartialVnetHdr) when its checksum is partial, else all zero. Returns whether it
 * was partial, for the caller's counter.
 */
export function writeSingleVnetHdr(
  buf: Uint8Array,
  vnetOff: number,
  off: number,
  len: number,
  mtu = 65535,
): boolean {
  const l4 = partialCsumStart(buf, off, len);
  if (l4 > 0) {
    writePartialVnetHdr(buf, vnetOff, off, l4, mtu);
    return true;
  }
  zeroVnetHdr(buf, vnetOff);
  return false;
}

/**
 * PartialCsumCompleter completes the partial checksums of one batch in software: `add` each
 * recognised packet, then ONE `finish` (one native call) sums every planned L4 range and writes
 * the checksums. Allocation-free after construction.
 */
export class PartialCsumCompleter {
  private readonly copier: CsumCopier;
  private readonly l4At: Uint32Array;
  private readonly udp: Uint8Array;

  /** PartialCsumCompleter completes up to `capacity` packets per batch. */
  constructor(readonly capacity: number) {
    this.copier = new CsumCopier(capacity);
    this.l4At = new Uint32Array(capacity);
    this.udp = new Uint8Array(capacity);
  }

  /** pending is the number of packets planned since the last `finish`. */
  get pending(): number {
    return this.copier.count;
  }

  /**
   * add plans the completion of the packet at buf[off..) whose checksum `partialCsumStart` found
   * partial at L4 offset `l4`. Returns false when the batch's plan is full (the packet is left as
   * it is).
   */
  add(buf: Uint8Array, off: number, l4: number): boolean {
    const cp = this.copier;
    const k = cp.count;
    if (k >= this.capacity) return false;
    const ipLen = ipPacketLength(buf, off);
    const tcp = ipProtocol(buf, off) === IP_PROTO_TCP;
    cp.add(off + l4, SUM_ONLY, ipLen - l4);
    this.l4At[k] = off + l4;
    this.udp[k] = tcp ? 0 : 1;
    return true;
  }

  /** finish sums every planned range (one native call) and writes the completed checksums. */
  finish(buf: Uint8Array): void {
    const n = this.copier.count;
    if (n === 0) return;
    this.copier.run(buf, buf);
    const sums = this.copier.sums;
    for (let k = 0; k < n; k++) {
      if (sums[k] === BAD_RANGE) continue;
      // The range includes the field, which holds the pseudo-header sum: the total is complete.
      let c = ~sums[k]! & 0xffff;
      // RFC 768: a computed UDP checksum of 0 is sent as all ones (0 would mean "none").
      if (c === 0 && this.udp[k] === 1) c = 0xffff;
      if (this.udp[k] === 1) setUdpChecksum(buf, this.l4At[k]!, c);
      else setTcpChecksum(buf, this.l4At[k]!, c);
    }
  }
}
