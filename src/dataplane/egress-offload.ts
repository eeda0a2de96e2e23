/**
 * egress-offload: the TUN -> UDP loop with TUN TSO and UDP GSO. Wraps the egress stages
 * (`EgressStages.processBatch`, egress.ts: route, size check, encapsulation, drops, ICMP replies)
 * with the offload steps around them; the algorithms are src/offload's (tso.ts).
 *
 * Stages, per wakeup of the TUN fd:
 *   1. read     `tun.readBatch(batch, readSlots)`: up to `readSlots` packets, each a 10-byte
 *               virtio_net_hdr + IP packet (super-packets up to 64 KiB), one native call.
 *   2. unpack   plain packets: complete a NEEDS_CSUM checksum in place (with `rco`: leave it
 *               partial when the RCO fields can carry it, `rcoCanCarry`); descriptor = the IP packet.
 *               `--src-port flow` (pool lanes): the lane is the inner flow's hash, taken here, ONCE
 *               per super-packet for all its segments (they share the 5-tuple), once per plain
 *               packet; stage 3 keeps it.
 *               (with `rco` every segment's TCP checksum is left partial, and segments are copied.)
 *               super-packets, VXLAN (scatter-gather): `TsoSegmenter.segmentHeaders` writes each
 *               segment's IP + TCP headers into a HDR_SLOT-byte slot of the header region behind
 *               22 free bytes; the payload stays in the super-packet (summed, not copied). One
 *               descriptor per segment: head = the headers, tail = its payload slice (kept in
 *               `tailOff`/`tailLen` by header slot until stage 4, since stage 3 compacts), and
 *               `runs` = segments left in its super-packet, so stage 3 decides once per super-packet.
 *               super-packets, flannel-UDP (copy): `TsoSegmenter.segment` copies whole segments
 *               back to back into the same region (its encap validates the inner IP length
 *               against the descriptor, so the segment must be contiguous)  -> badInnerIp / tooBig
 *               Segments are cut no longer than the path MTU (`setPathMtu`), so a lower underlay
 *               MTU costs smaller segments rather than a fragmented datagram each.
 *   3. encap    `EgressStages.processBatch` on those descriptors: route, size, VXLAN / flannel-UDP header
 *               written in place (for segments: exactly into the prefix), drops by reason. A
 *               scatter-gather super-packet's segments are one run: routed, checked and encapsulated
 *               once, the VXLAN header copied to the others (same counters as one by one).
 *   3b. group   `TrainGroups` (train-groups.ts): descriptors of one peer, port and lane made
 *               adjacent (lanes ascending, a stable counting placement), so flows interleaved packet
 *               by packet still form one train each. This changes the order ACROSS flows, never
 *               within one: a flow has one route and one hash, hence one group, and a group keeps
 *               batch order; per-flow order is all IP promises.
 *   4. trains   `formTrains` (udp-trains.ts): consecutive datagrams to the same peer, port and
 *               pool lane (`--src-port flow`) with equal sizes (the last may be shorter) become one
 *               UDP GSO message (<= 64 datagrams, <= 65507 bytes), whatever they are: plain
 *               packets from separate read slots, scatter-gather segments or copied ones. Members
 *               are `trains[k]` descriptors (head, plus the payload slice of a scatter-gather
 *               segment); heads back to back in memory (copied segments) one descriptor;
 *               `gsoSizes[k]` = datagram size.
 *   5. send     ONE `sendBatchGso` (sendmmsg with UDP_SEGMENT cmsgs; the addon falls back to plain
 *               datagrams by itself if the kernel refuses GSO, and sends a train whose segments
 *               exceed the MTU (EMSGSIZE) as plain datagrams the kernel fragments).
 * The loop around the stages (batch counting: TUN reads per batch, a super-packet counts once;
 * backpressure: a full socket pauses TUN reads until it is writable) is TunSendLoop's
 * (tun-send-loop.ts), shared with PlainEgress (egress-plain.ts).
 *
 * Ownership: the batch (read slots + segment region) and the segmenter are allocated once. No
 * allocation and no await per packet.
 */
import { DropReason } from '../encap/drop-reason';
import { HEADROOM, PacketBatch } from '../io/packet-batch';
import type { BatchUdpSocket } from '../io/batch-udp-socket';
import type { SrcPortPool } from '../io/src-port-pool';
import type { Tun } from '../io/tun';
import type { EgressStages } from './egress';
import { TunSendLoop } from './tun-send-loop';
import { TrainGroups } from './train-groups';
import { formTrains, type SegmentTails, type TrainCounts } from './udp-trains';
import { flowSourcePort } from '../encap/flow-hash';
import { SegmentError, TsoSegmenter, finishVnetPacket, isGso } from '../offload/tso';
import {
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_SIZE,
  vnetCsumStart,
  vnetFlags,
} from '../wire/virtio-net-hdr';
import { partialCsumStart } from '../offload/partial-csum';
import { rcoStartFits } from '../offload/vxlan-rco';

/** MAX_TUN_READ is the largest read a TSO TUN produces: virtio header + 64 KiB IP packet. */
export const MAX_TUN_READ = VIRTIO_NET_HDR_SIZE + 65535;

/** HDR_SLOT_SHIFT is log2 of HDR_SLOT: stage 4 finds a head's slot with a shift (`SegmentTails`). */
export const HDR_SLOT_SHIFT = 8;
/**
 * HDR_SLOT (256) is the header-region slot of one scatter-gather segment: the 22-byte VXLAN + Ethernet
 * prefix and the segment's IP + TCP headers (IPv4 at most 60 + 60; IPv6 40 + extension headers
 * + 60). A super-packet whose headers do not fit is dropped as tooBig (counted in `noRoom`).
 */
export const HDR_SLOT = 1 << HDR_SLOT_SHIFT;

/** OffloadEgressOptions size the batch. */
export interface OffloadEgressOptions {
  /** TUN reads per batch (default 32). */
  readSlots?: number;
  /** Bytes the overlay header takes in front of each inner packet: 22 (VXLAN) or 0 (flannel-UDP). */
  prefix: number;
  /** Largest inner packet the underlay carries unfragmented (underlay MTU - overhead); 0: no cap. */
  pathMtu?: number;
  /**
   * VXLAN RCO (`--vxlan-rco`): leave inner TCP/UDP checksums partial where the RCO fields can
   * describe them (EgressStages then sets them), instead of completing them here. Segments are
   * then copied whole (no scatter-gather): the sender's RCO test reads the segment's IP length.
   */
  rco?: boolean;
  /**
   * Stage 3 decides once per scatter-gather super-packet (stage 5r of EgressStages, default true).
   * false: every segment is routed, checked and encapsulated on its own, which must leave the same
   * bytes, descriptors and counters (the equivalence test's reference).
   */
  segmentRuns?: boolean;
}

/** VnetTun is what OffloadEgress uses of a TUN opened with IFF_VNET_HDR (src/io/tun.ts, or a fake). */
export type VnetTun = Pick<Tun, 'readBatch' | 'onReadable'>;

/** GsoSender is what OffloadEgress uses of a UDP GSO socket (BatchUdpSocket, SrcPortPool, or a fake). */
export type GsoSender = Pick<
  BatchUdpSocket | SrcPortPool,
  'sendBatchGso' | 'resetMtuSplit' | 'onceWritable' | 'counters'
>;

/** OffloadEgressStats are cumulative counters (plain numbers). */
export interface OffloadEgressStats {
  /** TUN reads that were TSO super-packets. */
  superPackets: number;
  /** Segments cut from them. */
  segments: number;
  /** UDP GSO messages built (trains of more than one datagram). */
  trains: number;
  /** Super-packets dropped because they did not fit the segment region. */
  noRoom: number;
  /** Super-packets cut into smaller segments than the sender's gso_size, to fit the path MTU. */
  mtuClamped: number;
  /** Batches whose descriptors stage 3b regrouped (flows interleaved, or peers / lanes out of order). */
  regrouped: number;
}

/** OffloadEgress moves packets TUN -> UDP with TSO segmentation and UDP GSO; see the stages above. */
export class OffloadEgress extends TunSendLoop {
  /** Cumulative counters (`stalls`, `batches` and `batchSizes` are TunSendLoop's). */
  readonly stats: OffloadEgressStats = {
    superPackets: 0,
    segments: 0,
    trains: 0,
    noRoom: 0,
    mtuClamped: 0,
    regrouped: 0,
  };

  private readonly batch: PacketBatch;
  private readonly segStart: number;
  private readonly segEnd: number;
  private readonly inOff: Uint32Array;
  private readonly inLen: Uint32Array;
  private readonly seg = new TsoSegmenter(512);
  private readonly prefix: number;
  private readonly sg: boolean;
  private readonly rco: boolean;
  private readonly tailOff: Uint32Array;
  private readonly tailLen: Uint32Array;
  private readonly tails: SegmentTails | null;
  private readonly trainCounts: TrainCounts = { trains: 0, tailBytes: 0 };
  private readonly groups: TrainGroups;
  private readonly runs: Uint16Array;
  /** `runs`, or null without `segmentRuns` (stage 2 fills `runs` either way). */
  private readonly runsUsed: Uint16Array | null;
  private pathMtu: number;

  /**
   * OffloadEgress reads `tun` (opened with vnetHdr and TSO offloads), runs `stages.processBatch`
   * and sends on `sock`. Drops go to the stages' `drops`.
   */
  constructor(
    private readonly tun: VnetTun,
    private readonly sock: GsoSender,
    private readonly stages: EgressStages,
    opts: OffloadEgressOptions,
  ) {
    const r = opts.readSlots ?? 32;
    // Read slots, then a segment region of 1.5x their size (segments add prefix + headers each).
    const slots = r + Math.ceil(r * 1.5);
    const batch = new PacketBatch(slots, HEADROOM + MAX_TUN_READ, HEADROOM, r * 160);
    super(tun, sock, stages.drops, batch, r);
    this.batch = batch;
    this.prefix = opts.prefix;
    this.pathMtu = opts.pathMtu ?? 0;
    this.segStart = r * batch.slotSize;
    this.segEnd = batch.buffer.length;
    this.inOff = new Uint32Array(r);
    this.inLen = new Uint32Array(r);
    this.rco = opts.rco === true;
    this.seg.partialChecksums = this.rco;
    this.sg = opts.prefix > 0 && !this.rco;
    const hdrSlots = this.sg ? Math.floor((this.segEnd - this.segStart) / HDR_SLOT) : 0;
    this.tailOff = new Uint32Array(hdrSlots);
    this.tailLen = new Uint32Array(hdrSlots);
    this.tails = this.sg
      ? { start: this.segStart, slotShift: HDR_SLOT_SHIFT, off: this.tailOff, len: this.tailLen }
      : null;
    this.groups = new TrainGroups(batch.descriptors);
    this.runs = new Uint16Array(batch.descriptors);
    this.runsUsed = opts.segmentRuns === false ? null : this.runs;
  }

  /**
   * setPathMtu caps segments at `pathMtu` bytes from the next batch on and lets the socket try
   * GSO for every segment size again (control path: the underlay MTU changed).
   */
  setPathMtu(pathMtu: number): void {
    this.pathMtu = pathMtu;
    this.sock.resetMtuSplit();
  }

  /** readTun is stage 1. */
  protected readTun(): number {
    return this.tun.readBatch(this.batch, this.readSlots);
  }

  /** runStages is stages 2-4. */
  protected runStages(n: number): void {
    this.processBatch(n);
  }

  /** sendRaw is stage 5. */
  protected sendRaw(from: number): number {
    return this.sock.sendBatchGso(this.batch, from);
  }

  /** processBatch runs stages 2-4 (and 3b) on the `n` packets just read; leaves GSO messages in the batch. */
  processBatch(n: number): number {
    const b = this.batch;
    const buf = b.buffer;
    const offsets = b.offsets;
    const lengths = b.lengths;
    const drops = this.stages.drops;
    const inOff = this.inOff;
    const inLen = this.inLen;
    for (let k = 0; k < n; k++) {
      inOff[k] = offsets[k]!;
      inLen[k] = lengths[k]!;
    }
    // Stage 2.
    const seg = this.seg;
    const prefix = this.prefix;
    const maxDesc = b.descriptors;
    const sg = this.sg;
    const segStart = this.segStart;
    const tailOff = this.tailOff;
    const tailLen = this.tailLen;
    const lanes = b.lanes;
    const laneMax = this.stages.laneMax;
    const runs = this.runs;
    let m = 0;
    let pos = this.segStart;
    for (let k = 0; k < n; k++) {
      const v = inOff[k]!;
      const len = inLen[k]!;
      if (len <= VIRTIO_NET_HDR_SIZE) {
        drops[DropReason.tooShort]++;
        continue;
      }
      const pkt = v + VIRTIO_NET_HDR_SIZE;
      const plen = len - VIRTIO_NET_HDR_SIZE;
      if (!isGso(buf, v)) {
        const keep = this.rco && rcoCanCarry(buf, v, pkt, plen);
        if ((!keep && !finishVnetPacket(buf, v, pkt, plen)) || m >= maxDesc) {
          drops[DropReason.badInnerIp]++;
          continue;
        }
        offsets[m] = pkt;
        lengths[m] = plen;
        if (laneMax > 0) lanes[m] = flowSourcePort(buf, pkt, plen, 0, laneMax);
        runs[m] = 0;
        m++;
        continue;
      }
      // Every segment carries the super-packet's addresses, protocol and ports: one hash for all.
      const lane = laneMax > 0 ? flowSourcePort(buf, pkt, plen, 0, laneMax) : 0;
      const segs = sg
        ? seg.segmentHeaders(buf, v, pkt, plen, buf, pos, HDR_SLOT, this.segEnd, prefix, this.pathMtu)
        : seg.segment(buf, v, pkt, plen, buf, pos, this.segEnd, prefix, this.pathMtu);
      if (segs < 0 || m + segs > maxDesc) {
        const noRoom = segs === SegmentError.noRoom || segs > 0;
        if (noRoom) this.stats.noRoom++;
        drops[noRoom ? DropReason.tooBig : DropReason.badInnerIp]++;
        continue;
      }
      this.stats.superPackets++;
      this.stats.segments += segs;
      this.stats.mtuClamped = seg.clamped;
      if (sg) {
        const slot0 = (pos - segStart) / HDR_SLOT;
        const hdrLen = seg.headerLen;
        const gso = seg.gsoSize;
        let at = pos + prefix;
        let payload = seg.payloadOffset(0);
        for (let i = 0; i < segs; i++) {
          offsets[m] = at;
          lengths[m] = hdrLen;
          tailOff[slot0 + i] = payload;
          tailLen[slot0 + i] = gso;
          lanes[m] = lane;
          runs[m] = segs - i;
          at += HDR_SLOT;
          payload += gso;
          m++;
        }
        tailLen[slot0 + segs - 1] = seg.payloadLength(segs - 1);
        pos += segs * HDR_SLOT;
        continue;
      }
      const stride = seg.stride;
      for (let i = 0; i < segs; i++) {
        offsets[m] = pos + i * stride + prefix;
        lengths[m] = i === segs - 1 ? seg.lastLen : stride - prefix;
        lanes[m] = lane;
        runs[m] = 0;
        m++;
      }
      // Keep the next super-packet's segments 8-byte aligned.
      pos += ((segs - 1) * stride + prefix + seg.lastLen + 7) & ~7;
    }
    b.count = m;
    // Stage 3.
    const c = m === 0 ? 0 : this.stages.processBatch(b, true, this.runsUsed);
    // Stage 3b.
    if (this.groups.apply(b, c)) this.stats.regrouped++;
    // Stage 4.
    const counts = this.trainCounts;
    counts.tailBytes = 0;
    const w = formTrains(b, c, this.tails, counts);
    this.stats.trains = counts.trains;
    // Stage 3 counted the segments' headers; their payload slices leave with them.
    this.stages.bytes += counts.tailBytes;
    b.count = w;
    return w;
  }
}

/**
 * rcoCanCarry reports whether the NEEDS_CSUM packet at buf[pkt..pkt+len) (virtio header at `v`)
 * can go out with its checksum partial under VXLAN RCO: the field holds the pseudo-header sum at
 * the packet's own L4 header (the same test EgressStages applies when it sets the RCO fields, so
 * the two always agree) and that start fits the RCO encoding.
 */
function rcoCanCarry(buf: Uint8Array, v: number, pkt: number, len: number): boolean {
  if ((vnetFlags(buf, v) & VIRTIO_NET_HDR_F_NEEDS_CSUM) === 0) return false;
  const l4 = partialCsumStart(buf, pkt, len);
  return l4 !== 0 && l4 === vnetCsumStart(buf, v) && rcoStartFits(l4);
}
