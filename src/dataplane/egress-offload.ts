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
 *               super-packets: `TsoSegmenter.segment` cuts them into the segment region of the
 *               same buffer, `prefix` bytes (22 VXLAN / 0 flannel-UDP) in front of each segment,
 *               back to back; one descriptor per segment                 -> badInnerIp / tooBig
 *               (with `rco` every segment's TCP checksum is left partial: the folded pseudo sum.)
 *               Segments are cut no longer than the path MTU (`setPathMtu`), so a lower underlay
 *               MTU costs smaller segments rather than a fragmented datagram each.
 *   3. encap    `EgressStages.processBatch` on those descriptors: route, size, VXLAN / flannel-UDP header
 *               written in place (for segments: exactly into the prefix), drops by reason.
 *   4. trains   consecutive descriptors that are adjacent in memory, go to the same peer (and pool
 *               lane, `--src-port flow`) and have equal lengths (the last may be shorter) become one UDP GSO message
 *               (`gsoSizes[k]` = segment size; <= 64 segments, <= 65507 bytes).
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
import {
  MAX_GSO_BYTES,
  SegmentError,
  TsoSegmenter,
  finishVnetPacket,
  isGso,
  segmentsPerTrain,
} from '../offload/tso';
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
   * describe them (EgressStages then sets them), instead of completing them here.
   */
  rco?: boolean;
}

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
}

/** OffloadEgress moves packets TUN -> UDP with TSO segmentation and UDP GSO; see the stages above. */
export class OffloadEgress extends TunSendLoop {
  /** Cumulative counters (`stalls`, `batches` and `batchSizes` are TunSendLoop's). */
  readonly stats: OffloadEgressStats = { superPackets: 0, segments: 0, trains: 0, noRoom: 0, mtuClamped: 0 };

  private readonly batch: PacketBatch;
  private readonly segStart: number;
  private readonly segEnd: number;
  private readonly inOff: Uint32Array;
  private readonly inLen: Uint32Array;
  private readonly seg = new TsoSegmenter(512);
  private readonly prefix: number;
  private pathMtu: number;
  private readonly rco: boolean;

  /**
   * OffloadEgress reads `tun` (opened with vnetHdr and TSO offloads), runs `stages.processBatch`
   * and sends on `sock`. Drops go to the stages' `drops`.
   */
  constructor(
    private readonly tun: Tun,
    private readonly sock: BatchUdpSocket | SrcPortPool,
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
    this.rco = opts.rco === true;
    this.seg.partialChecksums = this.rco;
    this.segStart = r * batch.slotSize;
    this.segEnd = batch.buffer.length;
    this.inOff = new Uint32Array(r);
    this.inLen = new Uint32Array(r);
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

  /** processBatch runs stages 2-4 on the `n` packets just read; leaves GSO messages in the batch. */
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
        m++;
        continue;
      }
      const segs = seg.segment(buf, v, pkt, plen, buf, pos, this.segEnd, prefix, this.pathMtu);
      if (segs < 0 || m + segs > maxDesc) {
        const noRoom = segs === SegmentError.noRoom || segs > 0;
        if (noRoom) this.stats.noRoom++;
        drops[noRoom ? DropReason.tooBig : DropReason.badInnerIp]++;
        continue;
      }
      this.stats.superPackets++;
      this.stats.segments += segs;
      this.stats.mtuClamped = seg.clamped;
      const stride = seg.stride;
      for (let i = 0; i < segs; i++) {
        offsets[m] = pos + i * stride + prefix;
        lengths[m] = i === segs - 1 ? seg.lastLen : stride - prefix;
        m++;
      }
      // Keep the next super-packet's segments 8-byte aligned.
      pos += ((segs - 1) * stride + prefix + seg.lastLen + 7) & ~7;
    }
    b.count = m;
    // Stage 3.
    const c = m === 0 ? 0 : this.stages.processBatch(b);
    // Stage 4: merge adjacent same-destination equal-size datagrams into GSO trains.
    const addrs = b.addrs;
    const ports = b.ports;
    const lanes = b.lanes;
    const gso = b.gsoSizes;
    let w = 0;
    let i = 0;
    while (i < c) {
      const start = offsets[i]!;
      const size = lengths[i]!;
      const addr = addrs[i]!;
      const port = ports[i]!;
      const lane = lanes[i]!;
      const max = segmentsPerTrain(size);
      let total = size;
      let count = 1;
      let j = i + 1;
      while (j < c && count < max) {
        const l = lengths[j]!;
        if (offsets[j] !== start + total || addrs[j] !== addr || ports[j] !== port || l > size) break;
        if (lanes[j] !== lane) break;
        if (total + l > MAX_GSO_BYTES) break;
        total += l;
        count++;
        j++;
        if (l < size) break;
      }
      offsets[w] = start;
      lengths[w] = total;
      addrs[w] = addr;
      ports[w] = port;
      lanes[w] = lane;
      gso[w] = count > 1 ? size : 0;
      if (count > 1) this.stats.trains++;
      w++;
      i = j;
    }
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
