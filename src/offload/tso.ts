/**
 * tso: TCP segmentation in TypeScript of a super-packet read from a TUN device with IFF_VNET_HDR
 * and TUNSETOFFLOAD TSO4/TSO6 (the userspace half of "TSO": the kernel handed us one IP packet of
 * up to 64 KiB and a virtio_net_hdr saying "cut me into gso_size-byte segments"), plus completion
 * of partial (NEEDS_CSUM) checksums on plain packets. Same rules as the kernel's tcp_gso_segment
 * and wireguard-go's gsoSplit:
 *   - IPv4: total length per segment, ID incremented per segment, header checksum recomputed;
 *     IPv6: payload length per segment;
 *   - TCP: sequence number advanced by gso_size per segment; FIN and PSH only on the last
 *     segment, CWR only on the first; a full checksum per segment;
 *   - hdr_len from the virtio header is not trusted: headers end at csum_start + TCP data offset.
 * A caller may cap the segment length (`maxLen`, the path MTU): when gso_size would make segments
 * longer, they are cut smaller (TCP accepts any segmentation); this is how a drop of the underlay
 * MTU under a running connection is absorbed without fragmenting every segment.
 *
 * Output layout (what makes one UDP GSO send possible): segment i is written at
 *   dstOff + i * stride + prefix,   stride = prefix + headerLen + gsoSize,
 * so the `prefix` bytes in front of each segment (22 for VXLAN + inner Ethernet, 0 for flannel-UDP)
 * can take its overlay header in place, and the UDP payloads [dstOff + i*stride, +stride) are
 * back to back: equal sizes, the last one shorter. Payload bytes are copied and summed by one
 * native `csumCopy` call per super-packet; headers are fixed in JS. No allocation.
 *
 * Scatter-gather layout (`segmentHeaders`, no payload copy): only each segment's headers are
 * written, header i at hdrAt + i * hdrSlot + prefix; its payload stays in the super-packet at
 * `payloadOffset(i)` (`payloadLength(i)` bytes) and is gathered by the send's iovecs. The payload
 * is only summed (one native sum-only pass, no write) for the TCP checksums.
 */
import { checksumAdd, checksumFinish, checksumFold } from '../wire/checksum';
import { ViewCache } from '../wire/view-cache';
import {
  IP_PROTO_TCP,
  IPV4_OFF_CHECKSUM,
  IPV4_OFF_TOTAL_LENGTH,
  IPV4_VERSION,
  ipVersion,
  ipv4Checksum,
  ipv4HeaderLength,
  ipv4Id,
  ipv4Protocol,
  ipv4TotalLength,
  readI32,
  writeU16,
} from '../wire/ipv4';
import { IPV6_HEADER_SIZE, IPV6_OFF_PAYLOAD_LENGTH, IPV6_VERSION, ipv6NextHeader } from '../wire/ipv6';
import { CsumCopier, SUM_ONLY } from './csum-copy';
import {
  pseudoSumIpv4,
  pseudoSumIpv6,
  tcpChecksum,
  tcpFlags,
  tcpHeaderLength,
  TCP_CWR,
  TCP_FIN,
  TCP_MIN_HEADER_SIZE,
  TCP_OFF_CHECKSUM,
  TCP_OFF_DATA_OFFSET,
  TCP_OFF_FLAGS,
  TCP_OFF_SEQ,
  TCP_PSH,
} from '../wire/tcp';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  vnetCsumOffset,
  vnetCsumStart,
  vnetFlags,
  vnetGsoSize,
  vnetGsoType,
} from '../wire/virtio-net-hdr';

/** PLAN_PER_SEGMENT is the copy-plan entries of one segment: its header, then its payload. */
const PLAN_PER_SEGMENT = 2;
const PLAN_PAYLOAD = 1;

/** SegmentError lists the negative results of `TsoSegmenter.segment`. */
export const SegmentError = {
  /** gso_type is not TCPV4/TCPV6 (UDP_L4 is never enabled by weft). */
  unsupported: -1,
  /** Headers inconsistent with the virtio header (not TCP, offsets beyond the packet, ...). */
  malformed: -2,
  /** The output region is too small, or more segments than the plan holds. */
  noRoom: -3,
} as const;

/** MAX_GSO_SEGMENTS is the kernel's UDP_MAX_SEGMENTS: datagrams per UDP GSO send. */
export const MAX_GSO_SEGMENTS = 64;
/** MAX_GSO_BYTES is the largest UDP GSO payload over IPv4 (65535 - 20 - 8). */
export const MAX_GSO_BYTES = 65507;

/**
 * segmentsPerTrain is how many `stride`-byte datagrams fit in one UDP GSO send (at most 64 and
 * at most 65507 bytes).
 */
export function segmentsPerTrain(stride: number): number {
  const n = Math.floor(MAX_GSO_BYTES / stride);
  return n < MAX_GSO_SEGMENTS ? (n < 1 ? 1 : n) : MAX_GSO_SEGMENTS;
}

/**
 * completePartialChecksum finishes a NEEDS_CSUM checksum of the packet at buf[off..off+len): the
 * field at csumStart + csumOffset holds the pseudo-header sum; the sum from csumStart to the end
 * (field included) is folded and complemented into it. Returns false when the offsets do not fit.
 */
export function completePartialChecksum(
  buf: Uint8Array,
  off: number,
  len: number,
  csumStart: number,
  csumOffset: number,
): boolean {
  if (csumStart + csumOffset + 2 > len) return false;
  const field = off + csumStart + csumOffset;
  writeU16(buf, field, checksumFinish(checksumAdd(buf, off + csumStart, len - csumStart, 0)));
  return true;
}

/**
 * finishVnetPacket handles a packet read with a virtio_net_hdr at buf[vnetOff] that is NOT a
 * super-packet: completes a partial checksum when NEEDS_CSUM is set. Returns false when the
 * header's offsets are inconsistent (the caller drops the packet).
 */
export function finishVnetPacket(buf: Uint8Array, vnetOff: number, pktOff: number, pktLen: number): boolean {
  if ((vnetFlags(buf, vnetOff) & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) return true;
  return completePartialChecksum(
    buf,
    pktOff,
    pktLen,
    vnetCsumStart(buf, vnetOff),
    vnetCsumOffset(buf, vnetOff),
  );
}

/** isGso reports whether the virtio header at buf[vnetOff] describes a super-packet. */
export function isGso(buf: Uint8Array, vnetOff: number): boolean {
  return (vnetGsoType(buf, vnetOff) & ~VIRTIO_NET_HDR_GSO_ECN) !== VIRTIO_NET_HDR_GSO_NONE;
}

/** TsoSegmenter cuts TCP super-packets into segments; reusable, allocation-free. */
export class TsoSegmenter {
  /** Segments written by the last successful `segment` call. */
  count = 0;
  /** Distance between consecutive segments' prefixes (= UDP payload size of all but the last). */
  stride = 0;
  /** IP + TCP header length of every segment. */
  headerLen = 0;
  /** Inner packet length of the last segment (the others are headerLen + gsoSize). */
  lastLen = 0;
  /** TCP payload bytes per full segment of the last super-packet (gso_size, or less when capped). */
  gsoSize = 0;
  /** Super-packets cut into smaller segments than their gso_size because of `maxLen`. */
  clamped = 0;
  /**
   * Leave each segment's TCP checksum partial (the folded pseudo-header sum, as a CHECKSUM_PARTIAL
   * skb has it) for the receiver to finish: VXLAN RCO (`--vxlan-rco`, src/wire/vxlan.ts).
   */
  partialChecksums = false;

  private readonly copier: CsumCopier;
  // Output buffers' DataViews: a caller alternating two (headers for scatter-gather, copies)
  // allocates nothing.
  private readonly views = new ViewCache();

  /** TsoSegmenter handles super-packets of up to `maxSegments` segments. */
  constructor(readonly maxSegments = 512) {
    this.copier = new CsumCopier(maxSegments * PLAN_PER_SEGMENT);
  }

  /** Byte offset, in the source buffer, of the first payload byte of the last super-packet. */
  payloadStart = 0;

  private v6 = false;
  private l4 = 0;
  private tcpLen = 0;
  private lastPayload = 0;
  private capped = false;

  /**
   * segment cuts the super-packet buf[pktOff..pktOff+pktLen), whose virtio header is at
   * buf[vnetOff], into `dst` starting at `dstOff` with `prefix` free bytes in front of every
   * segment, never writing at or beyond `dstEnd`. Returns the segment count (fields above
   * describe the layout) or a negative `SegmentError`. `dst` may be `buf` if the regions do not
   * overlap. `maxLen` > 0 caps each segment's IP length (headers + payload), e.g. at the path MTU.
   */
  segment(
    buf: Uint8Array,
    vnetOff: number,
    pktOff: number,
    pktLen: number,
    dst: Uint8Array,
    dstOff: number,
    dstEnd: number,
    prefix: number,
    maxLen = 0,
  ): number {
    const segs = this.plan(buf, vnetOff, pktOff, pktLen, maxLen);
    if (segs < 0) return segs;
    const hdrLen = this.headerLen;
    const gso = this.gsoSize;
    const stride = prefix + hdrLen + gso;
    if (
      segs > this.maxSegments ||
      dstOff + (segs - 1) * stride + prefix + hdrLen + this.lastPayload > dstEnd
    ) {
      return SegmentError.noRoom;
    }
    // Phase 1: plan header + payload copies (PLAN_PER_SEGMENT entries per segment, the payload's
    // at PLAN_PAYLOAD), one native call copies and sums them.
    const cp = this.copier;
    cp.count = 0;
    for (let i = 0; i < segs; i++) {
      const at = dstOff + i * stride + prefix;
      cp.add(pktOff, at, hdrLen);
      cp.add(pktOff + hdrLen + i * gso, at + hdrLen, i === segs - 1 ? this.lastPayload : gso);
    }
    cp.run(buf, dst);
    // Phase 2: per-segment header fields and checksums.
    this.fixHeaders(buf, pktOff, dst, dstOff + prefix, stride, segs);
    this.stride = stride;
    return segs;
  }

  /**
   * segmentHeaders is `segment` without the payload copy (scatter-gather): it writes the headers
   * of segment i at dst[hdrAt + i * hdrSlot + prefix, +headerLen) and leaves the payload where it
   * is, at `payloadOffset(i)` in `buf` (`payloadLength(i)` bytes), summing it for the TCP
   * checksums in one native sum-only pass. Returns the segment count or a negative
   * `SegmentError` (noRoom when prefix + headers exceed `hdrSlot`, or the slots pass `hdrEnd`).
   */
  segmentHeaders(
    buf: Uint8Array,
    vnetOff: number,
    pktOff: number,
    pktLen: number,
    dst: Uint8Array,
    hdrAt: number,
    hdrSlot: number,
    hdrEnd: number,
    prefix: number,
    maxLen = 0,
  ): number {
    const segs = this.plan(buf, vnetOff, pktOff, pktLen, maxLen);
    if (segs < 0) return segs;
    const hdrLen = this.headerLen;
    const gso = this.gsoSize;
    if (segs > this.maxSegments || prefix + hdrLen > hdrSlot || hdrAt + segs * hdrSlot > hdrEnd) {
      return SegmentError.noRoom;
    }
    const cp = this.copier;
    cp.count = 0;
    const payload = pktOff + hdrLen;
    for (let i = 0; i < segs; i++) {
      cp.add(pktOff, hdrAt + i * hdrSlot + prefix, hdrLen);
      cp.add(payload + i * gso, SUM_ONLY, i === segs - 1 ? this.lastPayload : gso);
    }
    cp.run(buf, dst);
    this.fixHeaders(buf, pktOff, dst, hdrAt + prefix, hdrSlot, segs);
    this.stride = hdrSlot;
    this.payloadStart = payload;
    return segs;
  }

  /** payloadOffset is where segment i's payload starts in the source buffer (after `segmentHeaders`). */
  payloadOffset(i: number): number {
    return this.payloadStart + i * this.gsoSize;
  }

  /** payloadLength is segment i's payload length (the last one may be shorter). */
  payloadLength(i: number): number {
    return i === this.count - 1 ? this.lastPayload : this.gsoSize;
  }

  /**
   * plan validates the super-packet against its virtio header and sets the layout fields
   * (headerLen, gsoSize, count, lastLen, ...). Returns the segment count or a `SegmentError`.
   */
  private plan(buf: Uint8Array, vnetOff: number, pktOff: number, pktLen: number, maxLen: number): number {
    const type = vnetGsoType(buf, vnetOff) & ~VIRTIO_NET_HDR_GSO_ECN;
    let v6: boolean;
    if (type === VIRTIO_NET_HDR_GSO_TCPV4) v6 = false;
    else if (type === VIRTIO_NET_HDR_GSO_TCPV6) v6 = true;
    else return SegmentError.unsupported;
    let gso = vnetGsoSize(buf, vnetOff);
    const l4 = vnetCsumStart(buf, vnetOff);
    if (gso === 0 || l4 + TCP_MIN_HEADER_SIZE > pktLen) return SegmentError.malformed;
    const version = ipVersion(buf, pktOff);
    if (v6) {
      // csum_start covers extension headers; only a TCP next header directly is accepted.
      if (
        version !== IPV6_VERSION ||
        l4 < IPV6_HEADER_SIZE ||
        (l4 === IPV6_HEADER_SIZE && ipv6NextHeader(buf, pktOff) !== IP_PROTO_TCP)
      )
        return SegmentError.malformed;
    } else {
      if (
        version !== IPV4_VERSION ||
        ipv4HeaderLength(buf, pktOff) !== l4 ||
        ipv4Protocol(buf, pktOff) !== IP_PROTO_TCP
      ) {
        return SegmentError.malformed;
      }
    }
    const tcpLen = tcpHeaderLength(buf, pktOff + l4);
    const hdrLen = l4 + tcpLen;
    if (tcpLen < TCP_MIN_HEADER_SIZE || hdrLen > pktLen) return SegmentError.malformed;
    // Segments over the path MTU would be fragmented on the underlay: cut them smaller instead.
    const capped = maxLen > hdrLen && hdrLen + gso > maxLen;
    if (capped) gso = maxLen - hdrLen;
    const payload = pktLen - hdrLen;
    const segs = payload === 0 ? 1 : Math.ceil(payload / gso);
    this.v6 = v6;
    this.l4 = l4;
    this.tcpLen = tcpLen;
    this.capped = capped;
    this.headerLen = hdrLen;
    this.gsoSize = gso;
    this.lastPayload = payload - (segs - 1) * gso;
    this.lastLen = hdrLen + this.lastPayload;
    this.count = segs;
    return segs;
  }

  /**
   * fixHeaders writes the per-segment IP/TCP fields and checksums of segment i's headers at
   * dst[base + i * step], with the copier's sums (entry PLAN_PER_SEGMENT * i + PLAN_PAYLOAD:
   * segment i's payload).
   */
  private fixHeaders(
    buf: Uint8Array,
    pktOff: number,
    dst: Uint8Array,
    base: number,
    step: number,
    segs: number,
  ): void {
    const sums = this.copier.sums;
    const v6 = this.v6;
    const l4 = this.l4;
    const tcpLen = this.tcpLen;
    const hdrLen = this.headerLen;
    const gso = this.gsoSize;
    const tcpOff = pktOff + l4;
    // As an int32: a uint32 above 2^31 would be a heap number, one allocation per super-packet.
    const seq0 = readI32(buf, tcpOff + TCP_OFF_SEQ);
    const flags = tcpFlags(buf, tcpOff);
    const id0 = v6 ? 0 : ipv4Id(buf, pktOff);
    // Each segment's headers are a copy of the super-packet's except for the fields written
    // below, so both header sums are taken once, without those fields (unfolded sums subtract
    // exactly), and each segment adds its own values (RFC 1071 §2(C), incremental update).
    const doffWord = buf[tcpOff + TCP_OFF_DATA_OFFSET]! << 8;
    const tcpBase =
      checksumAdd(buf, tcpOff, tcpLen, 0) -
      (seq0 >>> 16) -
      (seq0 & 0xffff) -
      (doffWord | flags) -
      tcpChecksum(buf, tcpOff);
    const ipBase = v6
      ? 0
      : checksumAdd(buf, pktOff, l4, 0) - ipv4TotalLength(buf, pktOff) - id0 - ipv4Checksum(buf, pktOff);
    const pseudoBase = v6
      ? pseudoSumIpv6(buf, pktOff, IP_PROTO_TCP, 0)
      : pseudoSumIpv4(buf, pktOff, IP_PROTO_TCP, 0);
    // Per segment: flags (CWR only on the first, FIN and PSH only on the last), sequence number,
    // lengths, IPv4 ID, both checksums; multi-byte fields as one DataView store each (big-endian).
    const dv = this.views.of(dst);
    const last = segs - 1;
    const midFlags = flags & ~(TCP_CWR | TCP_FIN | TCP_PSH);
    const lastPayload = this.lastPayload;
    const partial = this.partialChecksums;
    for (let i = 0; i < segs; i++) {
      const ip = base + i * step;
      const th = ip + l4;
      const segLen = hdrLen + (i === last ? lastPayload : gso);
      const f =
        i === 0
          ? i === last
            ? flags
            : flags & ~(TCP_FIN | TCP_PSH)
          : i === last
            ? flags & ~TCP_CWR
            : midFlags;
      const seq = (seq0 + i * gso) | 0;
      dst[th + TCP_OFF_FLAGS] = f;
      dv.setInt32(th + TCP_OFF_SEQ, seq);
      if (v6) {
        dv.setUint16(ip + IPV6_OFF_PAYLOAD_LENGTH, segLen - IPV6_HEADER_SIZE);
      } else {
        const id = (id0 + i) & 0xffff;
        // "Total Length" and "Identification" are adjacent: one word.
        dv.setInt32(ip + IPV4_OFF_TOTAL_LENGTH, (segLen << 16) | id);
        dv.setUint16(ip + IPV4_OFF_CHECKSUM, checksumFinish(ipBase + segLen + id));
      }
      // The L4 length is under 64 KiB, so it is one word of the pseudo-header sum.
      const pseudo = pseudoBase + segLen - l4;
      const c = partial
        ? checksumFold(pseudo)
        : checksumFinish(
            tcpBase +
              (seq >>> 16) +
              (seq & 0xffff) +
              (doffWord | f) +
              pseudo +
              sums[PLAN_PER_SEGMENT * i + PLAN_PAYLOAD]!,
          );
      dv.setUint16(th + TCP_OFF_CHECKSUM, c);
    }
    if (this.capped) this.clamped++;
  }
}
