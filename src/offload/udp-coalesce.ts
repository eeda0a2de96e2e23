/**
 * udp-coalesce: UDP datagrams of one flow, received (and decapsulated) in one batch, written to a
 * TUN device with IFF_VNET_HDR as ONE super-packet: a virtio_net_hdr with gso_type
 * VIRTIO_NET_HDR_GSO_UDP_L4 (USO, Linux >= 6.2) and NEEDS_CSUM. The kernel then runs
 * tun_get_user, netif_rx, IP receive, routing and netfilter once for up to 64 datagrams, and
 * segments the skb back into the original datagrams where they are needed: at a receiving socket
 * without UDP_GRO (udp_queue_rcv_skb -> udp_rcv_segment), or before a device that cannot take it.
 * wireguard-go does the same (tun/offload_linux.go, udpGRO / udpPacketsCanCoalesce).
 *
 * Rules (a datagram that breaks one is written alone, as it came):
 *   - same flow: IP version, addresses, ports; same IPv4 ToS, TTL and DF / IPv6 traffic class,
 *     flow label and hop limit. The first datagram's headers become the super-packet's and the
 *     kernel copies them into every segment, so every other header field must already be equal.
 *   - IPv4 without options and not a fragment (the segments would repeat neither correctly), IPv6
 *     with UDP directly after the fixed header (no extension headers); IP and UDP lengths exactly
 *     the packet (no padding); a payload of at least one byte; a valid IPv4 header checksum (the
 *     headers of later datagrams are dropped, so they are checked here, as the kernel would).
 *   - consecutive among the batch's UDP datagrams: only the most recent output takes a datagram,
 *     so datagrams of a flow stay in arrival order with no per-flow bookkeeping.
 *   - equal UDP payload sizes; the last may be shorter and closes the run (__udp_gso_segment cuts
 *     gso_size-byte segments and leaves the remainder to the last one).
 *   - IP packet <= 65535 bytes; at most 64 datagrams (UDP_MAX_SEGMENTS: virtio_net_hdr_to_skb
 *     refuses a GSO_UDP_L4 packet with more than gso_size * 64 payload bytes).
 *   - IPv4 IDs: segmentation of SKB_GSO_UDP_L4 (inet_gso_segment: not UFO, not TCP's FIXEDID)
 *     writes id, id + 1, ... from the first segment's ID. A datagram joins only when its ID is the
 *     next in that sequence, so every delivered datagram is byte for byte the one that was sent.
 *     (Unconnected IPv4 sockets send DF datagrams with ID 0: those are not merged.)
 *   - checksums: every merged datagram's UDP checksum is verified before the super-packet is
 *     written, by ONE native sum-only pass over the batch (pseudo-header + header + payload must
 *     fold to 0xffff). The super-packet's NEEDS_CSUM tells the receiving kernel not to check
 *     again, so this pass is the only check those payload bytes get. A datagram that fails is
 *     dropped and counted (`badChecksum`, `dropped`); the run is cut around it and the datagrams
 *     before and after it still go out (merged again where two or more are left).
 *   - not merged: IPv4 checksum 0 ("no checksum", RFC 768) and partial checksums (the
 *     pseudo-header sum a kernel sender leaves for its NIC over veth: src/offload/partial-csum.ts).
 *     Neither carries a sum to verify; as part of a NEEDS_CSUM super-packet, the kernel would
 *     write a computed checksum into segments the sender sent without one, wherever it segments
 *     for a device without checksum offload. Written alone (a partial one with its own NEEDS_CSUM
 *     header), each reaches the socket exactly as sent.
 *
 * Output (gathered, never copied): a super-packet is the first datagram in place behind its
 * virtio header (the 10 bytes in front of each inner packet are its own: VXLAN's inner header),
 * then each later datagram's payload slice where it was received: `trains[k]` descriptors, one
 * TUN writev. The first datagram's headers are fixed up in place: IP total / payload length and
 * header checksum, UDP length, UDP checksum = folded pseudo-header sum of the super-packet (what
 * NEEDS_CSUM expects); virtio header: NEEDS_CSUM, GSO_UDP_L4, hdr_len = IP + UDP header,
 * gso_size = the first datagram's payload, csum_start = the UDP header, csum_offset = 6.
 *
 * Stages per batch:
 *   1. `begin(buf)`.
 *   2. `add(off, len)` per UDP packet (`isUdpPacket`), in arrival order; decisions read headers
 *      only; a merge plans the datagram's checksum (and the first one's) as SUM_ONLY entries.
 *   3. `finish(offsets, lengths, trains, start)`: ONE native sum pass; runs cut at bad datagrams;
 *      descriptors written from `start` on. Returns the index after the last descriptor.
 * No allocation per packet; all state is in typed arrays sized at construction.
 */
import { checksumAdd, checksumFinish, checksumFold } from '../wire/checksum';
import {
  IP_PROTO_UDP,
  IPV4_MIN_HEADER_SIZE,
  IPV4_OFF_FLAGS_FRAGMENT,
  IPV4_OFF_SRC,
  IPV4_OFF_TOS,
  IPV4_OFF_TTL,
  IPV4_VERSION,
  ipVersion,
  ipv4ChecksumValid,
  ipv4HeaderLength,
  ipv4Id,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4TotalLength,
  setIpv4Checksum,
  setIpv4TotalLength,
} from '../wire/ipv4';
import {
  IPV6_HEADER_SIZE,
  IPV6_OFF_HOP_LIMIT,
  IPV6_OFF_PAYLOAD_LENGTH,
  IPV6_OFF_SRC,
  IPV6_VERSION,
  ipv6NextHeader,
  ipv6PacketLength,
  setIpv6PayloadLength,
} from '../wire/ipv6';
import { pseudoSumIpv4, pseudoSumIpv6 } from '../wire/tcp';
import {
  setUdpChecksum,
  setUdpLength,
  UDP_HEADER_SIZE,
  UDP_OFF_LENGTH,
  udpChecksum,
  udpLength,
} from '../wire/udp';
import {
  UDP_CSUM_OFFSET,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VIRTIO_NET_HDR_SIZE,
  writeVnetHdr,
} from '../wire/virtio-net-hdr';
import { CsumCopier, SUM_ONLY } from './csum-copy';
import { writeSingleVnetHdr } from './partial-csum';

/** MAX_IP_PACKET is the largest super-packet (16-bit IP length fields). */
const MAX_IP_PACKET = 65535;
/** UDP_MAX_SEGMENTS is the kernel's limit of datagrams per UDP GSO packet. */
export const UDP_MAX_SEGMENTS = 64;

/** UdpCoalesceStats are cumulative counters (plain numbers, read any time). */
export interface UdpCoalesceStats {
  /** UDP packets that went in. */
  packetsIn: number;
  /** TUN writes (super-packets + datagrams written alone). */
  packetsOut: number;
  /** Super-packets written (GSO_UDP_L4, two or more datagrams each). */
  superPackets: number;
  /** Datagrams carried by those super-packets. */
  coalesced: number;
  /** Datagrams dropped because their UDP checksum failed the sum check before merging. */
  badChecksum: number;
  /** Datagrams with a partial checksum written alone with NEEDS_CSUM. */
  partialCsum: number;
}

/**
 * isUdpPacket reports whether the IP packet at buf[off..off+len) is IPv4 or IPv6 carrying UDP
 * (fragments included), i.e. whether it belongs to the UDP coalescer.
 */
export function isUdpPacket(buf: Uint8Array, off: number, len: number): boolean {
  const v = ipVersion(buf, off);
  if (v === IPV4_VERSION) return len >= IPV4_MIN_HEADER_SIZE && ipv4Protocol(buf, off) === IP_PROTO_UDP;
  if (v === IPV6_VERSION) return len >= IPV6_HEADER_SIZE && ipv6NextHeader(buf, off) === IP_PROTO_UDP;
  return false;
}

/** UdpCoalescer merges runs of UDP datagrams of a batch into USO super-packets; allocation-free. */
export class UdpCoalescer {
  /** Cumulative counters. */
  readonly stats: UdpCoalesceStats = {
    packetsIn: 0,
    packetsOut: 0,
    superPackets: 0,
    coalesced: 0,
    badChecksum: 0,
    partialCsum: 0,
  };
  /** After `finish`: input packets carried by the output starting at descriptor k (0 for train members). */
  readonly outSegs: Uint16Array;
  /** After `finish`: bytes of those input packets (as passed to `add`). */
  readonly outBytes: Float64Array;
  /** After `finish`: packets (TUN writes) described; a super-packet counts once. */
  outputs = 0;
  /** After `finish`: input packets of this batch dropped (bad checksum), and their bytes. */
  dropped = 0;
  droppedBytes = 0;

  // Per output (index = output number in this batch).
  private readonly firstIn: Uint32Array;
  private readonly lastIn: Uint32Array;
  private readonly segs: Uint16Array;
  private readonly gsoSize: Uint16Array;
  private readonly l4Off: Uint8Array; // IP header length; 0 = not a candidate (written alone)
  private readonly ipLen: Uint32Array; // IP length of the super-packet so far
  private readonly open: Uint8Array;
  // Per input (index = arrival order among this batch's UDP packets).
  private readonly inOff: Uint32Array;
  private readonly inLen: Uint32Array;
  private readonly inNext: Int32Array;
  private readonly inPlan: Int32Array; // sum-pass entry of the datagram (-1 = not planned)
  private readonly inPre: Float64Array; // its pseudo-header sum
  private readonly inBad: Uint8Array;
  private readonly copier: CsumCopier;
  private buf: Uint8Array = new Uint8Array(0);
  private n = 0;
  private inputs = 0;

  /**
   * UdpCoalescer handles batches of up to `maxPackets` UDP packets; `outSegs` / `outBytes` are
   * indexed by descriptor and sized `descriptors` (>= maxPackets); `maxSegments` caps a run (at
   * most UDP_MAX_SEGMENTS); `mtu` is the TUN's (see writePartialVnetHdr).
   */
  constructor(
    readonly maxPackets: number,
    descriptors = maxPackets,
    readonly maxSegments = UDP_MAX_SEGMENTS,
    readonly mtu = 65535,
  ) {
    if (maxSegments < 2 || maxSegments > UDP_MAX_SEGMENTS)
      throw new RangeError(`UdpCoalescer: maxSegments must be 2..${UDP_MAX_SEGMENTS}`);
    this.firstIn = new Uint32Array(maxPackets);
    this.lastIn = new Uint32Array(maxPackets);
    this.segs = new Uint16Array(maxPackets);
    this.gsoSize = new Uint16Array(maxPackets);
    this.l4Off = new Uint8Array(maxPackets);
    this.ipLen = new Uint32Array(maxPackets);
    this.open = new Uint8Array(maxPackets);
    this.inOff = new Uint32Array(maxPackets);
    this.inLen = new Uint32Array(maxPackets);
    this.inNext = new Int32Array(maxPackets);
    this.inPlan = new Int32Array(maxPackets);
    this.inPre = new Float64Array(maxPackets);
    this.inBad = new Uint8Array(maxPackets);
    this.outSegs = new Uint16Array(Math.max(descriptors, maxPackets));
    this.outBytes = new Float64Array(Math.max(descriptors, maxPackets));
    this.copier = new CsumCopier(maxPackets);
  }

  /** begin starts a batch over `buf`. */
  begin(buf: Uint8Array): void {
    this.buf = buf;
    this.n = 0;
    this.inputs = 0;
    this.dropped = 0;
    this.droppedBytes = 0;
    this.outputs = 0;
    this.copier.count = 0;
  }

  /** pending is the number of packets added since `begin`. */
  get pending(): number {
    return this.inputs;
  }

  /**
   * add takes the UDP packet buf[off..off+len) (`isUdpPacket`; the 10 bytes before `off` must be
   * free to overwrite). Returns false only when the batch already holds `maxPackets` packets.
   */
  add(off: number, len: number): boolean {
    const i = this.inputs;
    if (i >= this.maxPackets) return false;
    this.inputs = i + 1;
    this.inOff[i] = off;
    this.inLen[i] = len;
    this.inNext[i] = -1;
    this.inPlan[i] = -1;
    this.inBad[i] = 0;
    this.stats.packetsIn++;
    const l4 = this.candidate(off, len);
    const n = this.n;
    if (l4 > 0 && n > 0) {
      const j = n - 1;
      if (this.open[j] === 1 && this.canAppend(j, off, len, l4)) {
        this.append(j, i, off, len, l4);
        return true;
      }
    }
    this.firstIn[n] = i;
    this.lastIn[n] = i;
    this.segs[n] = 1;
    this.l4Off[n] = l4;
    this.ipLen[n] = len;
    this.gsoSize[n] = l4 > 0 ? len - l4 - UDP_HEADER_SIZE : 0;
    this.open[n] = l4 > 0 ? 1 : 0;
    this.n = n + 1;
    return true;
  }

  /**
   * finish runs the sum pass (one native call), completes every output and writes descriptors
   * [start, end) of the table: a datagram written alone is one descriptor (virtio header +
   * packet); a super-packet is `trains[k]` descriptors. Returns `end`.
   */
  finish(offsets: Uint32Array, lengths: Uint32Array, trains: Uint16Array, start: number): number {
    const buf = this.buf;
    this.copier.run(buf, buf);
    const sums = this.copier.sums;
    let w = start;
    let outputs = 0;
    for (let k = 0; k < this.n; k++) {
      if (this.segs[k] === 1) {
        w = this.emitPlain(this.firstIn[k]!, offsets, lengths, trains, w);
        outputs++;
        continue;
      }
      // Cut the run at datagrams whose checksum failed: the good ones around them still go out.
      let head = -1;
      let count = 0;
      let prev = -1;
      for (let i = this.firstIn[k]!; i !== -1; i = this.inNext[i]!) {
        if (checksumFold(this.inPre[i]! + sums[this.inPlan[i]!]!) !== 0xffff) {
          this.inBad[i] = 1;
          this.stats.badChecksum++;
          this.dropped++;
          this.droppedBytes += this.inLen[i]!;
          if (count > 0) {
            w = this.emitRun(k, head, prev, count, offsets, lengths, trains, w);
            outputs++;
          }
          head = -1;
          count = 0;
          continue;
        }
        if (count === 0) head = i;
        count++;
        prev = i;
      }
      if (count > 0) {
        w = this.emitRun(k, head, prev, count, offsets, lengths, trains, w);
        outputs++;
      }
    }
    this.stats.packetsOut += outputs;
    this.outputs = outputs;
    this.n = 0;
    this.inputs = 0;
    return w;
  }

  /** emitRun writes `count` good datagrams of output k, head..last, alone or as a super-packet. */
  private emitRun(
    k: number,
    head: number,
    last: number,
    count: number,
    offsets: Uint32Array,
    lengths: Uint32Array,
    trains: Uint16Array,
    w: number,
  ): number {
    if (count === 1) return this.emitPlain(head, offsets, lengths, trains, w);
    const buf = this.buf;
    const l4 = this.l4Off[k]!;
    const hl = l4 + UDP_HEADER_SIZE;
    const off = this.inOff[head]!;
    let ipLen = this.inLen[head]!;
    let bytes = ipLen;
    for (let i = this.inNext[head]!; ; i = this.inNext[i]!) {
      if (this.inBad[i] === 1) continue;
      ipLen += this.inLen[i]! - hl;
      bytes += this.inLen[i]!;
      if (i === last) break;
    }
    const th = off + l4;
    const udpLen = ipLen - l4;
    if (l4 === IPV4_MIN_HEADER_SIZE) {
      setIpv4TotalLength(buf, off, ipLen);
      setIpv4Checksum(buf, off, 0);
      setIpv4Checksum(buf, off, checksumFinish(checksumAdd(buf, off, IPV4_MIN_HEADER_SIZE, 0)));
    } else {
      setIpv6PayloadLength(buf, off, udpLen);
    }
    setUdpLength(buf, th, udpLen);
    // NEEDS_CSUM: the field holds the folded pseudo-header sum; segmentation adjusts it per segment.
    setUdpChecksum(buf, th, checksumFold(this.pseudo(off, l4, udpLen)));
    writeVnetHdr(
      buf,
      off - VIRTIO_NET_HDR_SIZE,
      VIRTIO_NET_HDR_F_NEEDS_CSUM,
      VIRTIO_NET_HDR_GSO_UDP_L4,
      hl,
      this.inLen[head]! - hl,
      l4,
      UDP_CSUM_OFFSET,
    );
    offsets[w] = off - VIRTIO_NET_HDR_SIZE;
    lengths[w] = this.inLen[head]! + VIRTIO_NET_HDR_SIZE;
    trains[w] = count;
    this.outSegs[w] = count;
    this.outBytes[w] = bytes;
    w++;
    for (let i = this.inNext[head]!; ; i = this.inNext[i]!) {
      if (this.inBad[i] === 1) continue;
      offsets[w] = this.inOff[i]! + hl;
      lengths[w] = this.inLen[i]! - hl;
      trains[w] = 0;
      this.outSegs[w] = 0;
      this.outBytes[w] = 0;
      w++;
      if (i === last) break;
    }
    this.stats.superPackets++;
    this.stats.coalesced += count;
    return w;
  }

  /** emitPlain writes input i alone: a zero virtio header, or NEEDS_CSUM for a partial checksum. */
  private emitPlain(
    i: number,
    offsets: Uint32Array,
    lengths: Uint32Array,
    trains: Uint16Array,
    w: number,
  ): number {
    const buf = this.buf;
    const off = this.inOff[i]!;
    const len = this.inLen[i]!;
    const h = off - VIRTIO_NET_HDR_SIZE;
    if (writeSingleVnetHdr(buf, h, off, len, this.mtu)) this.stats.partialCsum++;
    offsets[w] = h;
    lengths[w] = len + VIRTIO_NET_HDR_SIZE;
    trains[w] = 0;
    this.outSegs[w] = 1;
    this.outBytes[w] = len;
    return w + 1;
  }

  /** candidate returns the IP header length when the packet may be merged (rules above), else 0. */
  private candidate(off: number, len: number): number {
    const buf = this.buf;
    const v = ipVersion(buf, off);
    let l4: number;
    if (v === IPV4_VERSION) {
      if (len <= IPV4_MIN_HEADER_SIZE + UDP_HEADER_SIZE || ipv4Protocol(buf, off) !== IP_PROTO_UDP) return 0;
      if (ipv4HeaderLength(buf, off) !== IPV4_MIN_HEADER_SIZE || ipv4IsFragment(buf, off)) return 0;
      if (ipv4TotalLength(buf, off) !== len || !ipv4ChecksumValid(buf, off)) return 0;
      l4 = IPV4_MIN_HEADER_SIZE;
    } else if (v === IPV6_VERSION) {
      if (len <= IPV6_HEADER_SIZE + UDP_HEADER_SIZE || ipv6NextHeader(buf, off) !== IP_PROTO_UDP) return 0;
      if (ipv6PacketLength(buf, off) !== len) return 0;
      l4 = IPV6_HEADER_SIZE;
    } else {
      return 0;
    }
    const th = off + l4;
    if (udpLength(buf, th) !== len - l4) return 0;
    const c = udpChecksum(buf, th);
    if (c === 0) return 0;
    if (c === checksumFold(this.pseudo(off, l4, len - l4))) return 0;
    return l4;
  }

  /** canAppend: the candidate at `off` continues output j's run (rules above). */
  private canAppend(j: number, off: number, len: number, l4: number): boolean {
    if (this.l4Off[j] !== l4 || this.segs[j]! >= this.maxSegments) return false;
    const payload = len - l4 - UDP_HEADER_SIZE;
    if (payload > this.gsoSize[j]! || this.ipLen[j]! + payload > MAX_IP_PACKET) return false;
    const buf = this.buf;
    const s = this.inOff[this.firstIn[j]!]!;
    // Ports (the UDP header before "Length") and addresses (to the end of the fixed IP header).
    for (let b = 0; b < UDP_OFF_LENGTH; b++) if (buf[s + l4 + b] !== buf[off + l4 + b]) return false;
    if (l4 === IPV4_MIN_HEADER_SIZE) {
      for (let b = IPV4_OFF_SRC; b < l4; b++) if (buf[s + b] !== buf[off + b]) return false;
      if (
        buf[s + IPV4_OFF_TOS] !== buf[off + IPV4_OFF_TOS] ||
        buf[s + IPV4_OFF_TTL] !== buf[off + IPV4_OFF_TTL] ||
        buf[s + IPV4_OFF_FLAGS_FRAGMENT] !== buf[off + IPV4_OFF_FLAGS_FRAGMENT]
      )
        return false;
      // Segmentation numbers the segments id, id + 1, ...: only that sequence is delivered unchanged.
      if (ipv4Id(buf, off) !== ((ipv4Id(buf, s) + this.segs[j]!) & 0xffff)) return false;
    } else {
      for (let b = IPV6_OFF_SRC; b < l4; b++) if (buf[s + b] !== buf[off + b]) return false;
      // Version, traffic class and flow label: the word before "Payload Length".
      for (let b = 0; b < IPV6_OFF_PAYLOAD_LENGTH; b++) if (buf[s + b] !== buf[off + b]) return false;
      if (buf[s + IPV6_OFF_HOP_LIMIT] !== buf[off + IPV6_OFF_HOP_LIMIT]) return false;
    }
    return true;
  }

  /** append adds input i to output j and plans the checksum checks (the first one's on the first merge). */
  private append(j: number, i: number, off: number, len: number, l4: number): void {
    const cp = this.copier;
    if (this.segs[j] === 1) {
      const f = this.firstIn[j]!;
      const fo = this.inOff[f]!;
      const fl = this.inLen[f]! - l4;
      this.inPre[f] = this.pseudo(fo, l4, fl);
      this.inPlan[f] = cp.add(fo + l4, SUM_ONLY, fl);
    }
    this.inPre[i] = this.pseudo(off, l4, len - l4);
    this.inPlan[i] = cp.add(off + l4, SUM_ONLY, len - l4);
    const payload = len - l4 - UDP_HEADER_SIZE;
    this.inNext[this.lastIn[j]!] = i;
    this.lastIn[j] = i;
    this.segs[j] = this.segs[j]! + 1;
    this.ipLen[j] = this.ipLen[j]! + payload;
    if (payload < this.gsoSize[j]! || this.segs[j]! >= this.maxSegments) this.open[j] = 0;
  }

  private pseudo(ipOff: number, l4: number, l4Len: number): number {
    return l4 === IPV4_MIN_HEADER_SIZE
      ? pseudoSumIpv4(this.buf, ipOff, IP_PROTO_UDP, l4Len)
      : pseudoSumIpv6(this.buf, ipOff, IP_PROTO_UDP, l4Len);
  }
}
