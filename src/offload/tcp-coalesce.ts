/**
 * tcp-coalesce: the userspace half of "GRO" on the way into a TUN device with IFF_VNET_HDR.
 * Consecutive in-order TCP segments of one flow, received (and decapsulated) in one batch, are
 * merged into one super-packet written with a virtio_net_hdr (gso_type TCPV4/TCPV6, gso_size,
 * NEEDS_CSUM with the pseudo-header sum pre-seeded), so the kernel's TCP stack sees one packet
 * instead of up to ~45. Rules as wireguard-go's tcpGRO (tun/offload_linux.go), which mirror the
 * kernel's tcp_gro_receive:
 *   - IPv4 without options or fragments, or IPv6 with TCP as the next header;
 *   - same addresses and ports, same ToS / traffic class + flow label, TTL / hop limit, DF;
 *   - flags exactly ACK or ACK|PSH; same ACK number; same TCP options bytes;
 *   - sequence-adjacent (append only); nothing after PSH or after a segment shorter than the
 *     first one; no segment bigger than the first; payload > 0; at most 65535 bytes of IP packet;
 *   - every merged segment's checksum must validate (checked by one sum-only pass over the payloads
 *     where they were received). When one does not, the super-packet is not written: its
 *     segments go out one by one, in order, and only the bad one is dropped and counted
 *     (`dropped`), so TCP retransmits one segment, not the whole run;
 *   - a segment whose checksum is partial (only the pseudo-header sum, as a kernel sender leaves it
 *     over veth; src/offload/partial-csum.ts) carries nothing to validate: it is merged unchecked,
 *     and the super-packet's NEEDS_CSUM has the kernel complete the sum. A packet written alone
 *     with a partial checksum gets its own NEEDS_CSUM header (`partialCsum` counts both);
 *   - a TCP packet that may not be merged closes its flow's open super-packet, so packets of one
 *     flow leave in arrival order.
 *
 * Nothing is moved: a super-packet is gathered by the TUN writev from where its segments were
 * received (the first packet with its headers rewritten, then each later segment's payload).
 *
 * Stages per batch:
 *   1. `begin(buf)`: the batch's buffer.
 *   2. `add(off, len)` per inner IP packet, in arrival order: either it starts an output (its
 *      virtio header goes into the 10 bytes in front of it, which the caller guarantees are its
 *      own: the decapsulated VXLAN/Ethernet header) or it is planned (its TCP segment summed,
 *      sum-only) as the next segment of an open output. Decisions read only headers. The common
 *      case, the next full-size in-order segment of the last output, takes a fast path
 *      (`appendToTail`: its header words compared with that output's first packet) that merges
 *      exactly when the general search would; anything else takes the search (`addGeneral`).
 *   3. `finish(offsets, lengths, trains)`: ONE native csumCopy sums every planned TCP segment
 *      (header + payload) in place; merged outputs are validated and their first packet's
 *      headers fixed; the descriptor table is rewritten to the outputs, in order: a plain output
 *      is one descriptor (virtio header + packet), a super-packet a train of them (virtio header
 *      + first packet, then the payload slices; `trains` holds its length on the first).
 *      `outSegs` / `outBytes` say how many input packets (and their bytes) each output carries.
 * No allocation per packet; all state is in typed arrays sized at construction.
 *
 * Per merged segment the work is kept to what differs between segments: multi-byte header
 * ranges that must be equal (ports, addresses, ACK, options) are compared as 32-bit words
 * through a DataView over the batch's buffer (made once per buffer); the addresses' share of the
 * pseudo-header sum is taken once per super-packet (`addrSum`; sameFlow has shown they are
 * equal); and the TCP header is summed with the payload in the native pass, so the check of a
 * segment is its pseudo-header sum plus one planned range. A segment with a partial checksum has
 * nothing to validate and plans no sum.
 */
import { checksumAdd, checksumFinish, checksumFold } from '../wire/checksum';
import { ViewCache } from '../wire/view-cache';
import {
  IP_PROTO_TCP,
  IPV4_MIN_HEADER_SIZE,
  IPV4_OFF_DST,
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
} from '../wire/ipv4';
import {
  IPV6_HEADER_SIZE,
  IPV6_OFF_HOP_LIMIT,
  IPV6_OFF_SRC,
  IPV6_VERSION,
  ipv6NextHeader,
  ipv6PacketLength,
  setIpv6PayloadLength,
} from '../wire/ipv6';
import { CsumCopier, SUM_ONLY } from './csum-copy';
import { writeSingleVnetHdr } from './partial-csum';
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
  TCP_OFF_FLAGS,
  TCP_OFF_SEQ,
  TCP_PSH,
} from '../wire/tcp';
import {
  TCP_CSUM_OFFSET,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_SIZE,
  writeVnetHdr,
} from '../wire/virtio-net-hdr';

/** MAX_IP_PACKET is the largest super-packet (16-bit IP length fields). */
const MAX_IP_PACKET = 65535;
/** SEARCH_DEPTH bounds how many recent outputs a packet is compared with (flows per batch are few). */
const SEARCH_DEPTH = 8;

/** CoalesceStats are cumulative counters (plain numbers, read any time). */
export interface CoalesceStats {
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
export class TcpCoalescer {
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
  /** Segments merged by the fast path (`appendToTail`), cumulative; the rest of the merges took the general search. */
  tailAppends = 0;

  // Per output (index = output number in this batch).
  private readonly outLen: Uint32Array; // IP packet length so far
  private readonly srcOff: Uint32Array; // first packet's offset (headers compared against it; `finish` rewrites them when merged)
  private readonly segs: Uint16Array; // segments in this output (1 = plain)
  private readonly gsoSize: Uint16Array; // payload bytes of the first segment
  private readonly hdrLen: Uint16Array; // IP + TCP header length (0 = not a TCP candidate)
  private readonly l4Off: Uint16Array; // IP header length
  private readonly nextSeq: Int32Array; // expected sequence number of the next segment (as an int32)
  private readonly open: Uint8Array; // 1 while segments may still be appended
  private readonly firstIn: Uint32Array; // first input packet of the output
  private readonly lastIn: Uint32Array; // last input packet appended to it
  private readonly split: Uint8Array; // 1 when a segment failed validation: written one by one
  private readonly partialSegs: Uint16Array; // merged segments whose checksum was partial
  private readonly addrSum: Uint32Array; // pseudo-header sum of the addresses (set once merging starts)
  // Per input packet (index = arrival order in this batch).
  private readonly inOff: Uint32Array;
  private readonly inLen: Uint32Array;
  private readonly inNext: Int32Array; // next input of the same output (-1 = last)
  private readonly inBad: Uint8Array; // 1 = failed its check (set and cleared within `finish`)
  private inputs = 0;
  // Per checked segment (check c is the copier's plan entry c): its output, its pseudo-header sum
  // and its input.
  private readonly checkOut: Uint32Array;
  private readonly checkPre: Float64Array;
  private readonly checkIn: Uint32Array;
  private checks = 0;

  private readonly copier: CsumCopier;
  private buf: Uint8Array = new Uint8Array(0);
  /** view reads 32-bit header words of `buf` (any alignment); equality only, so little-endian. */
  private view: DataView = new DataView(new ArrayBuffer(0));
  private readonly views = new ViewCache();
  private n = 0;
  // The output `appendToTail` may extend (-1 = none): the last one, opened as a TCP candidate;
  // its first packet's offset, length, IP header length and IP + TCP header length.
  private tail = -1;
  private tailSrc = 0;
  private tailLen = 0;
  private tailL4 = 0;
  private tailHl = 0;
  // While `tail` >= 0, its running fields live here rather than in the per-output arrays (a field
  // is one load or store; an array element also loads the array and checks the index): `flushTail`
  // writes them back before anything else reads the arrays, `loadTail` reads them again after
  // anything else changed them.
  private tailOutLen = 0;
  private tailSegs = 0;
  private tailNextSeq = 0;
  private tailLastIn = 0;

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
    this.firstIn = new Uint32Array(maxPackets);
    this.lastIn = new Uint32Array(maxPackets);
    this.split = new Uint8Array(maxPackets);
    this.partialSegs = new Uint16Array(maxPackets);
    this.addrSum = new Uint32Array(maxPackets);
    this.inOff = new Uint32Array(maxPackets);
    this.inLen = new Uint32Array(maxPackets);
    this.inNext = new Int32Array(maxPackets);
    this.inBad = new Uint8Array(maxPackets);
    this.outSegs = new Uint16Array(maxPackets);
    this.outBytes = new Float64Array(maxPackets);
    this.checkIn = new Uint32Array(maxPackets * 2);
    this.checkOut = new Uint32Array(maxPackets * 2);
    this.checkPre = new Float64Array(maxPackets * 2);
    this.copier = new CsumCopier(maxPackets * 2);
  }

  /** begin starts a batch over `buf`. */
  begin(buf: Uint8Array): void {
    this.buf = buf;
    this.view = this.views.of(buf);
    this.n = 0;
    this.tail = -1;
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
    const i = this.inputs;
    if (i >= this.maxPackets) return false;
    this.inputs = i + 1;
    this.inOff[i] = off;
    this.inLen[i] = len;
    this.inNext[i] = -1;
    this.stats.packetsIn++;
    const t = this.tail;
    if (t >= 0 && t === this.n - 1 && len === this.tailLen && this.appendToTail(i, off, len)) return true;
    this.addGeneral(i, off, len);
    return true;
  }

  /**
   * appendToTail is the fast path for the common case, the next full-size in-order segment of the
   * output being built: it merges input i into the last output when the general rules would, and
   * returns false (changing nothing) whenever it cannot tell, leaving the packet to `addGeneral`.
   * Caller: `len` equals the tail's first packet's length. Every header byte a rule reads is then
   * either compared whole with that first packet, which passed `tcpCandidate`, or checked here:
   *   IPv4: word 0 (version 4, IHL 5, ToS, total length = len), bytes 6-7 (DF; no fragment),
   *         8-9 (TTL, protocol TCP), the addresses;
   *   IPv6: the whole fixed header (class, flow label, payload length = len - 40, next header
   *         TCP, hop limit, addresses);
   *   TCP:  ports, ACK number, data offset (so the same header length, below len), options;
   *         flags ACK or ACK|PSH and the expected sequence number checked here.
   * So `tcpCandidate` would return the tail's header length, the search would stop at the tail
   * (same flow), and every merge condition holds with payload = gso_size; what is left to check
   * is the 64 KiB limit and the plan's capacity, as `append` does.
   */
  private appendToTail(i: number, off: number, len: number): boolean {
    const j = this.tail;
    if (this.open[j] !== 1) return false;
    const v = this.view;
    const s = this.tailSrc;
    const l4 = this.tailL4;
    if (l4 === IPV4_MIN_HEADER_SIZE) {
      if (
        v.getInt32(s, true) !== v.getInt32(off, true) ||
        v.getInt32(s + IPV4_OFF_SRC, true) !== v.getInt32(off + IPV4_OFF_SRC, true) ||
        v.getInt32(s + IPV4_OFF_DST, true) !== v.getInt32(off + IPV4_OFF_DST, true) ||
        v.getUint16(s + IPV4_OFF_FLAGS_FRAGMENT, true) !== v.getUint16(off + IPV4_OFF_FLAGS_FRAGMENT, true) ||
        v.getUint16(s + IPV4_OFF_TTL, true) !== v.getUint16(off + IPV4_OFF_TTL, true)
      )
        return false;
    } else {
      for (let k = 0; k < IPV6_HEADER_SIZE; k += 4)
        if (v.getInt32(s + k, true) !== v.getInt32(off + k, true)) return false;
    }
    const st = s + l4;
    const th = off + l4;
    const flags = this.buf[th + TCP_OFF_FLAGS]!;
    if (
      (flags !== TCP_ACK && flags !== (TCP_ACK | TCP_PSH)) ||
      v.getInt32(th + TCP_OFF_SEQ, false) !== this.tailNextSeq ||
      v.getInt32(st, true) !== v.getInt32(th, true) ||
      v.getInt32(st + TCP_OFF_ACK, true) !== v.getInt32(th + TCP_OFF_ACK, true) ||
      this.buf[st + TCP_OFF_DATA_OFFSET] !== this.buf[th + TCP_OFF_DATA_OFFSET]
    )
      return false;
    const hl = this.tailHl;
    for (let k = l4 + TCP_MIN_HEADER_SIZE; k < hl; k += 4)
      if (v.getInt32(s + k, true) !== v.getInt32(off + k, true)) return false;
    const payload = len - hl;
    if (this.tailOutLen + payload > MAX_IP_PACKET) return false;
    // `append` and `planNext` for the tail, on its fields here: same plan, same checks.
    const cp = this.copier;
    if (this.tailSegs === 1) {
      if (cp.count + 2 > cp.capacity) return false;
      this.planFirst(j);
    } else if (cp.count + 1 > cp.capacity) {
      return false;
    }
    const l4Len = len - l4;
    const ps = this.addrSum[j]! + IP_PROTO_TCP + l4Len;
    if (this.isPartial(th, ps)) this.partialSegs[j] = this.partialSegs[j]! + 1;
    else this.check(j, th, l4Len, ps, i);
    this.tailOutLen += payload;
    this.tailSegs++;
    this.tailNextSeq = (this.tailNextSeq + payload) | 0;
    // Every segment the fast path takes has the tail's length, so its payload is gso_size: only
    // PSH closes the output here.
    if ((flags & TCP_PSH) !== 0) this.open[j] = 0;
    this.inNext[this.tailLastIn] = i;
    this.tailLastIn = i;
    this.tailAppends++;
    return true;
  }

  /** flushTail writes the tail's running fields back to the per-output arrays. */
  private flushTail(): void {
    const t = this.tail;
    if (t < 0) return;
    this.outLen[t] = this.tailOutLen;
    this.segs[t] = this.tailSegs;
    this.nextSeq[t] = this.tailNextSeq;
    this.lastIn[t] = this.tailLastIn;
  }

  /** loadTail reads the tail's running fields from the per-output arrays. */
  private loadTail(): void {
    const t = this.tail;
    if (t < 0) return;
    this.tailOutLen = this.outLen[t]!;
    this.tailSegs = this.segs[t]!;
    this.tailNextSeq = this.nextSeq[t]!;
    this.tailLastIn = this.lastIn[t]!;
  }

  /** addGeneral places input i by the rules in the file header: merged into a recent output or a new one. */
  private addGeneral(i: number, off: number, len: number): void {
    this.flushTail();
    const n = this.n;
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
          this.append(j, i, off, len, payload, flags)
        ) {
          this.inNext[this.lastIn[j]!] = i;
          this.lastIn[j] = i;
          // The tail (j or another output) stays the tail: its fields as the arrays now hold them.
          this.loadTail();
          return;
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
    this.tail = -1;
    if (hl > 0) {
      const l4 = this.l4OfPacket(off);
      this.hdrLen[n] = hl;
      this.l4Off[n] = l4;
      this.gsoSize[n] = len - hl;
      this.nextSeq[n] = (readI32(buf, off + l4 + TCP_OFF_SEQ) + (len - hl)) | 0;
      // A packet longer than the TUN MTU is a sender's unsegmented TSO packet (veth): its payload
      // is no segment size, so it goes alone, where writeSingleVnetHdr cuts it at the MTU.
      this.open[n] = (tcpFlags(buf, off + l4) & TCP_PSH) === 0 && len <= this.mtu ? 1 : 0;
      if (this.open[n] === 1) {
        this.tail = n;
        this.tailSrc = off;
        this.tailLen = len;
        this.tailL4 = l4;
        this.tailHl = hl;
        this.tailOutLen = len;
        this.tailSegs = 1;
        this.tailNextSeq = this.nextSeq[n]!;
        this.tailLastIn = i;
      }
    } else {
      this.hdrLen[n] = 0;
      this.open[n] = 0;
    }
    this.n = n + 1;
  }

  /**
   * finish sums the planned TCP segments (one native call), completes every output and writes the
   * descriptor table, in output order: a plain output is one descriptor (virtio header + packet,
   * trains[k] = 0), a super-packet is trains[k] descriptors (virtio header + first packet, then
   * each later segment's payload; the later ones have trains = 0), one TUN writev. A segment
   * whose checksum fails is left out and its output's other segments described one by one.
   * Returns the descriptor count; `outputs` says how many packets they make.
   */
  finish(offsets: Uint32Array, lengths: Uint32Array, trains: Uint16Array): number {
    this.flushTail();
    this.tail = -1;
    const buf = this.buf;
    this.copier.run(buf, buf);
    const sums = this.copier.sums;
    // Validate merged segments: pseudo-header sum + TCP segment sum must fold to 0xffff.
    for (let c = 0; c < this.checks; c++) {
      const s = sums[c]!;
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
            this.inBad[i] = 0;
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
      outputs++;
      // First packet in place behind its virtio header, then the payload slices.
      const first = this.firstIn[k]!;
      const hl = this.hdrLen[k]!;
      const head = w;
      let bytes = this.inLen[first]!;
      offsets[w] = off - VIRTIO_NET_HDR_SIZE;
      lengths[w] = bytes + VIRTIO_NET_HDR_SIZE;
      trains[w] = segs;
      w++;
      for (let i = this.inNext[first]!; i !== -1; i = this.inNext[i]!) {
        const l = this.inLen[i]!;
        bytes += l;
        offsets[w] = this.inOff[i]! + hl;
        lengths[w] = l - hl;
        trains[w] = 0;
        this.outSegs[w] = 0;
        this.outBytes[w] = 0;
        w++;
      }
      this.outBytes[head] = bytes;
    }
    this.stats.packetsOut += outputs;
    this.outputs = outputs;
    this.n = 0;
    this.tail = -1;
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
    const v = this.view;
    const s = this.srcOff[j]!;
    // l4 is then 20 or 40, and every word read below lies inside both packets.
    if (this.l4Off[j] !== l4 || ipVersion(buf, s) !== ipVersion(buf, off)) return false;
    // Ports (the TCP header up to "Sequence Number", one word) and addresses (from "Source
    // Address" to the end of the IP header: IPv4 without options, IPv6 fixed header; whole words).
    if (v.getInt32(s + l4, true) !== v.getInt32(off + l4, true)) return false;
    const a0 = l4 === IPV4_MIN_HEADER_SIZE ? IPV4_OFF_SRC : IPV6_OFF_SRC;
    for (let i = a0; i < l4; i += 4) if (v.getInt32(s + i, true) !== v.getInt32(off + i, true)) return false;
    return true;
  }

  /** sameHeaders checks ToS/TTL/DF (v4) or class/flow/hop limit (v6), ACK number and TCP options. */
  private sameHeaders(j: number, off: number, l4: number, hl: number): boolean {
    const buf = this.buf;
    const v = this.view;
    const s = this.srcOff[j]!;
    if (l4 === IPV4_MIN_HEADER_SIZE) {
      if (
        buf[s + IPV4_OFF_TOS] !== buf[off + IPV4_OFF_TOS] ||
        buf[s + IPV4_OFF_TTL] !== buf[off + IPV4_OFF_TTL] ||
        buf[s + IPV4_OFF_FLAGS_FRAGMENT] !== buf[off + IPV4_OFF_FLAGS_FRAGMENT]
      )
        return false;
    } else {
      // Version, traffic class and flow label: the word before "Payload Length".
      if (v.getInt32(s, true) !== v.getInt32(off, true)) return false;
      if (buf[s + IPV6_OFF_HOP_LIMIT] !== buf[off + IPV6_OFF_HOP_LIMIT]) return false;
    }
    // "Acknowledgment Number" (one word), then the options: whole words (data offset x 4).
    if (v.getInt32(s + l4 + TCP_OFF_ACK, true) !== v.getInt32(off + l4 + TCP_OFF_ACK, true)) return false;
    for (let i = l4 + TCP_MIN_HEADER_SIZE; i < hl; i += 4)
      if (v.getInt32(s + i, true) !== v.getInt32(off + i, true)) return false;
    return true;
  }

  /** append plans input i (its TCP segment summed, sum-only) as output j's next segment. */
  private append(j: number, i: number, off: number, len: number, payload: number, flags: number): boolean {
    const cp = this.copier;
    if (this.segs[j] === 1) {
      if (cp.count + 2 > cp.capacity) return false;
      this.planFirst(j);
    } else if (cp.count + 1 > cp.capacity) {
      return false;
    }
    return this.planNext(j, i, off, len, payload, flags);
  }

  /**
   * planFirst notes the check of output j's first segment once a merge makes j a super-packet:
   * its whole TCP segment summed in the native pass, none when its checksum is partial. It also
   * takes the addresses' pseudo-header sum every later segment of j shares.
   */
  private planFirst(j: number): void {
    const s = this.srcOff[j]!;
    const l4 = this.l4Off[j]!;
    const a = this.pseudo(s, l4, 0) - IP_PROTO_TCP;
    this.addrSum[j] = a;
    const l4Len = this.outLen[j]! - l4;
    const ps = a + IP_PROTO_TCP + l4Len;
    if (this.isPartial(s + l4, ps)) this.partialSegs[j] = this.partialSegs[j]! + 1;
    else this.check(j, s + l4, l4Len, ps, this.firstIn[j]!);
  }

  /** planNext records input i as output j's next segment (its TCP segment's sum planned, unless partial). */
  private planNext(j: number, i: number, off: number, len: number, payload: number, flags: number): boolean {
    const l4 = this.l4Off[j]!;
    // Segment checksum = pseudo (same addresses as j's first packet) + TCP header + payload; the
    // header (a whole number of 32-bit words) is summed with the payload, in place.
    const l4Len = len - l4;
    const ps = this.addrSum[j]! + IP_PROTO_TCP + l4Len;
    if (this.isPartial(off + l4, ps)) this.partialSegs[j] = this.partialSegs[j]! + 1;
    else this.check(j, off + l4, l4Len, ps, i);
    this.outLen[j] = this.outLen[j]! + payload;
    this.segs[j] = this.segs[j]! + 1;
    this.nextSeq[j] = (this.nextSeq[j]! + payload) | 0;
    if ((flags & TCP_PSH) !== 0 || payload < this.gsoSize[j]!) this.open[j] = 0;
    return true;
  }

  /**
   * check plans the sum of the TCP segment at buf[th..th+l4Len) and notes its check. The copier's
   * plan holds nothing else, so check c is plan entry c (`finish` reads sums[c]).
   */
  private check(j: number, th: number, l4Len: number, pre: number, input: number): void {
    this.copier.add(th, SUM_ONLY, l4Len);
    const c = this.checks++;
    this.checkOut[c] = j;
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
    // PSH of the last segment (its bytes untouched until now).
    const lastFlags = tcpFlags(buf, this.inOff[this.lastIn[k]!]! + l4);
    setTcpFlags(buf, th, tcpFlags(buf, th) | (lastFlags & TCP_PSH));
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
