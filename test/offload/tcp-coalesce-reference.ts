/**
 * tcp-coalesce-reference: the TCP coalescer as it was before its per-segment work was cut
 * (byte-by-byte header comparisons, the pseudo-header and TCP header summed per segment in
 * JavaScript, a sum planned for every merged segment). Kept unchanged as the oracle of
 * tcp-coalesce-equiv.test.ts: src/offload/tcp-coalesce.ts must decide and write exactly what this
 * does. See src/offload/tcp-coalesce.ts for the rules.
 */
import { checksumAdd, checksumFinish, checksumFold } from '../../src/wire/checksum';
import {
  IP_PROTO_TCP,
  IPV4_MIN_HEADER_SIZE,
  IPV4_OFF_FLAGS_FRAGMENT,
  IPV4_OFF_SRC,
  IPV4_OFF_TOS,
  IPV4_OFF_TTL,
  IPV4_VERSION,
  ipVersion,
  ipv4HeaderLength,
  ipv4IsFragment,
  ipv4Protocol,
  ipv4TotalLength,
  readI32,
  setIpv4Checksum,
  setIpv4TotalLength,
} from '../../src/wire/ipv4';
import {
  IPV6_HEADER_SIZE,
  IPV6_OFF_HOP_LIMIT,
  IPV6_OFF_PAYLOAD_LENGTH,
  IPV6_OFF_SRC,
  IPV6_VERSION,
  ipv6NextHeader,
  ipv6PacketLength,
  setIpv6PayloadLength,
} from '../../src/wire/ipv6';
import { CsumCopier, SUM_ONLY } from '../../src/offload/csum-copy';
import { writeSingleVnetHdr } from '../../src/offload/partial-csum';
import {
  pseudoSumIpv4,
  pseudoSumIpv6,
  setTcpChecksum,
  setTcpFlags,
  tcpChecksum,
  tcpFlags,
  tcpHeaderLength,
  TCP_ACK,
  TCP_MIN_HEADER_SIZE,
  TCP_OFF_ACK,
  TCP_OFF_DATA_OFFSET,
  TCP_OFF_SEQ,
  TCP_PSH,
} from '../../src/wire/tcp';
import {
  TCP_CSUM_OFFSET,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_SIZE,
  writeVnetHdr,
} from '../../src/wire/virtio-net-hdr';

/** MAX_IP_PACKET is the largest super-packet (16-bit IP length fields). */
const MAX_IP_PACKET = 65535;
/** SEARCH_DEPTH bounds how many recent outputs a packet is compared with (flows per batch are few). */
const SEARCH_DEPTH = 8;

/** CoalesceStats are cumulative counters (plain numbers, read any time). */
interface CoalesceStats {
  /** Packets that went in. */
  packetsIn: number;
  /** Outputs written (super-packets + plain). */
  packetsOut: number;
  /** Super-packets built (outputs of more than one segment). */
  superPackets: number;
  /** Segments merged into those super-packets. */
  segmentsMerged: number;
  /** Segments dropped because their (complete) checksum did not validate. */
  badChecksum: number;
  /** Packets with a partial checksum written with NEEDS_CSUM (alone or merged). */
  partialCsum: number;
}

/** TcpCoalescer merges TCP segments of a batch into super-packets; reusable, allocation-free. */
export class ReferenceTcpCoalescer {
  /** Cumulative counters. */
  readonly stats: CoalesceStats = {
    packetsIn: 0,
    packetsOut: 0,
    superPackets: 0,
    segmentsMerged: 0,
    badChecksum: 0,
    partialCsum: 0,
  };
  /** After `finish`: input packets carried by the output described from descriptor k (0 on a train's later descriptors). */
  readonly outSegs: Uint16Array;
  /** After `finish`: bytes of the input packets carried by that output (as passed to `add`). */
  readonly outBytes: Float64Array;
  /** After `finish`: packets (TUN writes) described, a gathered super-packet counting once. */
  outputs = 0;
  /** After `finish`: input packets of this batch dropped (bad checksum), and their bytes. */
  dropped = 0;
  droppedBytes = 0;

  // Per output (index = output number in this batch).
  private readonly outLen: Uint32Array; // IP packet length so far
  private readonly srcOff: Uint32Array; // first packet's offset (headers compared against it; `finish` rewrites them when merged)
  private readonly segs: Uint16Array; // segments in this output (1 = plain)
  private readonly gsoSize: Uint16Array; // payload bytes of the first segment
  private readonly hdrLen: Uint16Array; // IP + TCP header length (0 = not a TCP candidate)
  private readonly l4Off: Uint16Array; // IP header length
  private readonly nextSeq: Int32Array; // expected sequence number of the next segment (as an int32)
  private readonly open: Uint8Array; // 1 while segments may still be appended
  private readonly lastFlags: Uint8Array; // TCP flags of the last segment appended
  private readonly firstIn: Uint32Array; // first input packet of the output
  private readonly lastIn: Uint32Array; // last input packet appended to it
  private readonly split: Uint8Array; // 1 when a segment failed validation: written one by one
  private readonly partialSegs: Uint16Array; // merged segments whose checksum was partial
  private readonly inBytes: Float64Array; // bytes of the inputs in this output
  // Per input packet (index = arrival order in this batch).
  private readonly inOff: Uint32Array;
  private readonly inLen: Uint32Array;
  private readonly inNext: Int32Array; // next input of the same output (-1 = last)
  private readonly inBad: Uint8Array;
  private inputs = 0;
  // Per checked segment: its output, its payload's sum plan, and the sum of everything else.
  private readonly checkOut: Uint32Array;
  private readonly checkPre: Float64Array;
  private readonly checkPlan: Uint32Array;
  private readonly checkIn: Uint32Array;
  private checks = 0;

  private readonly copier: CsumCopier;
  private buf: Uint8Array = new Uint8Array(0);
  private n = 0;

  /**
   * TcpCoalescer handles batches of up to `maxPackets` inner packets; `mtu` is the TUN's (a
   * partial-checksum packet longer than it is a sender's unsegmented TSO packet, see
   * writePartialVnetHdr).
   */
  constructor(
    readonly maxPackets: number,
    readonly mtu = 65535,
  ) {
    this.outLen = new Uint32Array(maxPackets);
    this.srcOff = new Uint32Array(maxPackets);
    this.segs = new Uint16Array(maxPackets);
    this.gsoSize = new Uint16Array(maxPackets);
    this.hdrLen = new Uint16Array(maxPackets);
    this.l4Off = new Uint16Array(maxPackets);
    this.nextSeq = new Int32Array(maxPackets);
    this.open = new Uint8Array(maxPackets);
    this.lastFlags = new Uint8Array(maxPackets);
    this.firstIn = new Uint32Array(maxPackets);
    this.lastIn = new Uint32Array(maxPackets);
    this.split = new Uint8Array(maxPackets);
    this.partialSegs = new Uint16Array(maxPackets);
    this.inBytes = new Float64Array(maxPackets);
    this.inOff = new Uint32Array(maxPackets);
    this.inLen = new Uint32Array(maxPackets);
    this.inNext = new Int32Array(maxPackets);
    this.inBad = new Uint8Array(maxPackets);
    this.outSegs = new Uint16Array(maxPackets);
    this.outBytes = new Float64Array(maxPackets);
    this.checkIn = new Uint32Array(maxPackets * 2);
    this.checkOut = new Uint32Array(maxPackets * 2);
    this.checkPre = new Float64Array(maxPackets * 2);
    this.checkPlan = new Uint32Array(maxPackets * 2);
    this.copier = new CsumCopier(maxPackets * 2);
  }

  /** begin starts a batch over `buf`. */
  begin(buf: Uint8Array): void {
    this.buf = buf;
    this.n = 0;
    this.inputs = 0;
    this.checks = 0;
    this.dropped = 0;
    this.droppedBytes = 0;
    this.copier.count = 0;
  }

  /**
   * add takes the inner IP packet buf[off..off+len) (the 10 bytes before `off` must be free to
   * overwrite). Returns false only when the batch already holds `maxPackets` packets.
   */
  add(off: number, len: number): boolean {
    const n = this.n;
    const i = this.inputs;
    if (i >= this.maxPackets) return false;
    this.inputs = i + 1;
    this.inOff[i] = off;
    this.inLen[i] = len;
    this.inNext[i] = -1;
    this.inBad[i] = 0;
    this.stats.packetsIn++;
    const buf = this.buf;
    const hl = this.tcpCandidate(off, len);
    if (hl > 0) {
      const l4 = this.l4OfPacket(off);
      const th = off + l4;
      const payload = len - hl;
      const flags = tcpFlags(buf, th);
      // Sequence numbers as int32: a uint32 above 2^31 would be a heap number, an allocation.
      const seq = readI32(buf, th + TCP_OFF_SEQ);
      const lo = n > SEARCH_DEPTH ? n - SEARCH_DEPTH : 0;
      for (let j = n - 1; j >= lo; j--) {
        if (this.hdrLen[j] === 0 || !this.sameFlow(j, off, l4)) continue;
        if (
          this.open[j] === 1 &&
          this.hdrLen[j] === hl &&
          seq === this.nextSeq[j] &&
          payload <= this.gsoSize[j]! &&
          this.outLen[j]! + payload <= MAX_IP_PACKET &&
          this.sameHeaders(j, off, l4, hl) &&
          this.append(j, i, off, len, hl, payload, flags)
        ) {
          this.inNext[this.lastIn[j]!] = i;
          this.lastIn[j] = i;
          this.inBytes[j] = this.inBytes[j]! + len;
          return true;
        }
        // Same flow, not mergeable: later segments must not overtake this packet.
        this.open[j] = 0;
        break;
      }
    } else if (hl < 0) {
      // A TCP packet that may not be merged (SYN, FIN, pure ACK, ...) closes its flow.
      this.closeFlow(off);
    }
    this.outLen[n] = len;
    this.srcOff[n] = off;
    this.segs[n] = 1;
    this.firstIn[n] = i;
    this.lastIn[n] = i;
    this.split[n] = 0;
    this.partialSegs[n] = 0;
    this.inBytes[n] = len;
    if (hl > 0) {
      const l4 = this.l4OfPacket(off);
      this.hdrLen[n] = hl;
      this.l4Off[n] = l4;
      this.gsoSize[n] = len - hl;
      this.nextSeq[n] = (readI32(buf, off + l4 + TCP_OFF_SEQ) + (len - hl)) | 0;
      this.lastFlags[n] = tcpFlags(buf, off + l4);
      // A packet longer than the TUN MTU is a sender's unsegmented TSO packet (veth): its payload
      // is no segment size, so it goes alone, where writeSingleVnetHdr cuts it at the MTU.
      this.open[n] = (this.lastFlags[n]! & TCP_PSH) === 0 && len <= this.mtu ? 1 : 0;
    } else {
      this.hdrLen[n] = 0;
      this.open[n] = 0;
    }
    this.n = n + 1;
    return true;
  }

  /**
   * finish sums the planned payloads (one native call), completes every output and writes the
   * descriptor table, in output order: a plain output is one descriptor (virtio header + packet,
   * trains[k] = 0), a super-packet is trains[k] descriptors (virtio header + first packet, then
   * each later segment's payload; the later ones have trains = 0), one TUN writev. A segment
   * whose checksum fails is left out and its output's other segments described one by one.
   * Returns the descriptor count; `outputs` says how many packets they make.
   */
  finish(offsets: Uint32Array, lengths: Uint32Array, trains: Uint16Array): number {
    const buf = this.buf;
    this.copier.run(buf, buf);
    const sums = this.copier.sums;
    // Validate merged segments: pre (pseudo + header sums) + payload sum must fold to 0xffff.
    for (let c = 0; c < this.checks; c++) {
      const s = sums[this.checkPlan[c]!]!;
      if (checksumFold(this.checkPre[c]! + s) !== 0xffff) {
        this.inBad[this.checkIn[c]!] = 1;
        this.split[this.checkOut[c]!] = 1;
      }
    }
    let w = 0;
    let outputs = 0;
    const n = this.n;
    for (let k = 0; k < n; k++) {
      const segs = this.segs[k]!;
      const off = this.srcOff[k]!;
      const len = this.outLen[k]!;
      if (this.split[k] === 1) {
        // Nothing was written before the check: the good segments go out alone, untouched.
        for (let i = this.firstIn[k]!; i !== -1; i = this.inNext[i]!) {
          if (this.inBad[i] === 1) {
            this.stats.badChecksum++;
            this.dropped++;
            this.droppedBytes += this.inLen[i]!;
            continue;
          }
          w = this.emitPlain(this.inOff[i]!, this.inLen[i]!, offsets, lengths, w, trains);
          outputs++;
        }
        continue;
      }
      if (segs === 1) {
        w = this.emitPlain(off, len, offsets, lengths, w, trains);
        outputs++;
        continue;
      }
      this.finishMerged(k, off, len);
      this.stats.superPackets++;
      this.stats.segmentsMerged += segs;
      this.stats.partialCsum += this.partialSegs[k]!;
      this.outSegs[w] = segs;
      this.outBytes[w] = this.inBytes[k]!;
      outputs++;
      // First packet in place behind its virtio header, then the payload slices.
      const first = this.firstIn[k]!;
      const hl = this.hdrLen[k]!;
      offsets[w] = off - VIRTIO_NET_HDR_SIZE;
      lengths[w] = this.inLen[first]! + VIRTIO_NET_HDR_SIZE;
      trains[w] = segs;
      w++;
      for (let i = this.inNext[first]!; i !== -1; i = this.inNext[i]!) {
        offsets[w] = this.inOff[i]! + hl;
        lengths[w] = this.inLen[i]! - hl;
        trains[w] = 0;
        this.outSegs[w] = 0;
        this.outBytes[w] = 0;
        w++;
      }
    }
    this.stats.packetsOut += outputs;
    this.outputs = outputs;
    this.n = 0;
    this.inputs = 0;
    return w;
  }

  /**
   * emitPlain writes output `w`: the packet at buf[off..off+len) in place, behind a zero virtio
   * header, or a NEEDS_CSUM one when its checksum is partial. Returns w + 1.
   */
  private emitPlain(
    off: number,
    len: number,
    offsets: Uint32Array,
    lengths: Uint32Array,
    w: number,
    trains: Uint16Array,
  ): number {
    const buf = this.buf;
    const h = off - VIRTIO_NET_HDR_SIZE;
    if (writeSingleVnetHdr(buf, h, off, len, this.mtu)) this.stats.partialCsum++;
    offsets[w] = h;
    lengths[w] = len + VIRTIO_NET_HDR_SIZE;
    trains[w] = 0;
    this.outSegs[w] = 1;
    this.outBytes[w] = len;
    return w + 1;
  }

  /** tcpCandidate: header length when mergeable, -1 for other TCP, 0 for non-TCP. */
  private tcpCandidate(off: number, len: number): number {
    const buf = this.buf;
    const v = ipVersion(buf, off);
    let l4: number;
    // Mergeable: no IPv4 options, no fragment, no padding after the packet.
    if (v === IPV4_VERSION) {
      if (len < IPV4_MIN_HEADER_SIZE + TCP_MIN_HEADER_SIZE || ipv4Protocol(buf, off) !== IP_PROTO_TCP)
        return 0;
      if (ipv4HeaderLength(buf, off) !== IPV4_MIN_HEADER_SIZE || ipv4IsFragment(buf, off)) return -1;
      if (ipv4TotalLength(buf, off) !== len) return -1;
      l4 = IPV4_MIN_HEADER_SIZE;
    } else if (v === IPV6_VERSION) {
      if (len < IPV6_HEADER_SIZE + TCP_MIN_HEADER_SIZE || ipv6NextHeader(buf, off) !== IP_PROTO_TCP) return 0;
      if (ipv6PacketLength(buf, off) !== len) return -1;
      l4 = IPV6_HEADER_SIZE;
    } else {
      return 0;
    }
    const th = off + l4;
    const tl = tcpHeaderLength(buf, th);
    if (tl < TCP_MIN_HEADER_SIZE || l4 + tl >= len) return -1;
    const f = tcpFlags(buf, th);
    if (f !== TCP_ACK && f !== (TCP_ACK | TCP_PSH)) return -1;
    return l4 + tl;
  }

  private l4OfPacket(off: number): number {
    return ipVersion(this.buf, off) === IPV4_VERSION ? IPV4_MIN_HEADER_SIZE : IPV6_HEADER_SIZE;
  }

  /** sameFlow compares addresses and ports of output j's first packet with the packet at `off`. */
  private sameFlow(j: number, off: number, l4: number): boolean {
    const buf = this.buf;
    const s = this.srcOff[j]!;
    if (this.l4Off[j] !== l4 || ipVersion(buf, s) !== ipVersion(buf, off)) return false;
    // Ports (the TCP header up to "Sequence Number") and addresses (from "Source Address" to the
    // end of the IP header: IPv4 without options, IPv6 fixed header).
    for (let i = 0; i < TCP_OFF_SEQ; i++) if (buf[s + l4 + i] !== buf[off + l4 + i]) return false;
    const a0 = l4 === IPV4_MIN_HEADER_SIZE ? IPV4_OFF_SRC : IPV6_OFF_SRC;
    for (let i = a0; i < l4; i++) if (buf[s + i] !== buf[off + i]) return false;
    return true;
  }

  /** sameHeaders checks ToS/TTL/DF (v4) or class/flow/hop limit (v6), ACK number and TCP options. */
  private sameHeaders(j: number, off: number, l4: number, hl: number): boolean {
    const buf = this.buf;
    const s = this.srcOff[j]!;
    if (l4 === IPV4_MIN_HEADER_SIZE) {
      if (
        buf[s + IPV4_OFF_TOS] !== buf[off + IPV4_OFF_TOS] ||
        buf[s + IPV4_OFF_TTL] !== buf[off + IPV4_OFF_TTL] ||
        buf[s + IPV4_OFF_FLAGS_FRAGMENT] !== buf[off + IPV4_OFF_FLAGS_FRAGMENT]
      )
        return false;
    } else {
      // Version, traffic class and flow label: the words before "Payload Length".
      for (let i = 0; i < IPV6_OFF_PAYLOAD_LENGTH; i++) if (buf[s + i] !== buf[off + i]) return false;
      if (buf[s + IPV6_OFF_HOP_LIMIT] !== buf[off + IPV6_OFF_HOP_LIMIT]) return false;
    }
    for (let i = TCP_OFF_ACK; i < TCP_OFF_DATA_OFFSET; i++)
      if (buf[s + l4 + i] !== buf[off + l4 + i]) return false;
    for (let i = l4 + TCP_MIN_HEADER_SIZE; i < hl; i++) if (buf[s + i] !== buf[off + i]) return false;
    return true;
  }

  /** append plans input i's payload, sum-only, as output j's next segment. */
  private append(
    j: number,
    i: number,
    off: number,
    len: number,
    hl: number,
    payload: number,
    flags: number,
  ): boolean {
    const cp = this.copier;
    const l4 = this.l4Off[j]!;
    if (this.segs[j] === 1) {
      if (cp.count + 2 > cp.capacity) return false;
      const s = this.srcOff[j]!;
      this.planFirst(j, cp.add(s + l4, SUM_ONLY, this.outLen[j]! - l4));
    } else if (cp.count + 1 > cp.capacity) {
      return false;
    }
    return this.planNext(j, i, off, len, hl, payload, flags, cp.add(off + hl, SUM_ONLY, payload));
  }

  /**
   * planFirst notes the check of output j's first segment once a merge makes j a super-packet
   * (`p` is the plan of its payload): none when its checksum is partial.
   */
  private planFirst(j: number, p: number): void {
    const s = this.srcOff[j]!;
    const l4 = this.l4Off[j]!;
    const ps = this.pseudo(s, l4, this.outLen[j]! - l4);
    if (this.isPartial(s + l4, ps)) this.partialSegs[j] = this.partialSegs[j]! + 1;
    else this.check(j, p, ps, this.firstIn[j]!);
  }

  /** planNext records input i (payload planned as `p`) as output j's next segment. */
  private planNext(
    j: number,
    i: number,
    off: number,
    len: number,
    hl: number,
    payload: number,
    flags: number,
    p: number,
  ): boolean {
    const l4 = this.l4Off[j]!;
    // Segment checksum = pseudo + TCP header (read in place; it is not moved) + payload.
    const ps = this.pseudo(off, l4, len - l4);
    if (this.isPartial(off + l4, ps)) this.partialSegs[j] = this.partialSegs[j]! + 1;
    else this.check(j, p, checksumAdd(this.buf, off + l4, hl - l4, ps), i);
    this.outLen[j] = this.outLen[j]! + payload;
    this.segs[j] = this.segs[j]! + 1;
    this.nextSeq[j] = (this.nextSeq[j]! + payload) | 0;
    this.lastFlags[j] = flags;
    if ((flags & TCP_PSH) !== 0 || payload < this.gsoSize[j]!) this.open[j] = 0;
    return true;
  }

  private check(j: number, plan: number, pre: number, input: number): void {
    const c = this.checks++;
    this.checkOut[c] = j;
    this.checkPlan[c] = plan;
    this.checkPre[c] = pre;
    this.checkIn[c] = input;
  }

  /** isPartial: the TCP checksum at th holds exactly the folded pseudo-header sum `pseudo`. */
  private isPartial(th: number, pseudo: number): boolean {
    return tcpChecksum(this.buf, th) === checksumFold(pseudo);
  }

  private pseudo(ipOff: number, l4: number, l4Len: number): number {
    return l4 === IPV4_MIN_HEADER_SIZE
      ? pseudoSumIpv4(this.buf, ipOff, IP_PROTO_TCP, l4Len)
      : pseudoSumIpv6(this.buf, ipOff, IP_PROTO_TCP, l4Len);
  }

  /** closeFlow stops appending to any recent output of the TCP flow of the packet at `off`. */
  private closeFlow(off: number): void {
    const buf = this.buf;
    const l4 = ipVersion(buf, off) === IPV4_VERSION ? ipv4HeaderLength(buf, off) : IPV6_HEADER_SIZE;
    const n = this.n;
    const lo = n > SEARCH_DEPTH ? n - SEARCH_DEPTH : 0;
    for (let j = n - 1; j >= lo; j--) {
      if (this.hdrLen[j] !== 0 && this.sameFlow(j, off, l4)) this.open[j] = 0;
    }
  }

  /** finishMerged writes lengths, IP checksum, the pseudo-header seed and the virtio header. */
  private finishMerged(k: number, off: number, len: number): void {
    const buf = this.buf;
    const l4 = this.l4Off[k]!;
    const th = off + l4;
    const v4 = l4 === IPV4_MIN_HEADER_SIZE;
    if (v4) {
      setIpv4TotalLength(buf, off, len);
      setIpv4Checksum(buf, off, 0);
      setIpv4Checksum(buf, off, checksumFinish(checksumAdd(buf, off, IPV4_MIN_HEADER_SIZE, 0)));
    } else {
      setIpv6PayloadLength(buf, off, len - IPV6_HEADER_SIZE);
    }
    setTcpFlags(buf, th, tcpFlags(buf, th) | (this.lastFlags[k]! & TCP_PSH));
    // NEEDS_CSUM: the checksum field carries the folded pseudo-header sum, as the kernel expects.
    setTcpChecksum(buf, th, checksumFold(this.pseudo(off, l4, len - l4)));
    writeVnetHdr(
      buf,
      off - VIRTIO_NET_HDR_SIZE,
      VIRTIO_NET_HDR_F_NEEDS_CSUM,
      v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
      this.hdrLen[k]!,
      this.gsoSize[k]!,
      l4,
      TCP_CSUM_OFFSET,
    );
  }
}
