/**
 * Ingress: batched UDP receive -> source check -> decapsulate in place -> batched TUN write.
 *
 * Stages, per wakeup of the socket fd (functions below appear in this order):
 *   1. receive  `io.recvBatch(batch)`: up to `capacity` datagrams, payload behind HEADROOM, the
 *               sender's IPv4 and port in addrs/ports; one native call (recvmmsg) in batch mode.
 *   2. source   the outer source must be the public IP of a known peer    -> unknownSource
 *               (the kernel's VXLAN accepts anyone with nolearning; we don't: a frame from an
 *               address no lease names is dropped before it is parsed)
 *   3. decap    VXLAN: `vxlanDecap` checks flags, VNI, inner MACs, EtherType, inner IP
 *               (one drop reason each, anomalies counted separately);
 *               flannel-UDP: `flannelUdpDecap` checks the inner IP header
 *   4. describe rewrite descriptor `out` (<= i): offset = inner IP packet, length = rest of frame
 *   5. checksum inner TCP/UDP checksums a kernel sender left partial (src/offload/partial-csum.ts)
 *               are completed: a header comparison per packet, and ONE native sum over the
 *               partial ones only                                     -> partialCsumCompleted
 *               A partial TCP packet longer than the TUN MTU is a sender's TSO packet that
 *               crossed veth unsegmented: it is cut into MTU-sized segments with complete
 *               checksums (TsoSegmenter, one native copy-and-sum), so that the kernel behind
 *               the TUN can forward it                                -> tsoSegmented
 *   6. write    ONE `tun.writeBatch(batch, 0, out)` (plus one per TSO packet cut in stage 5,
 *               in arrival order); refused packets count as tunWriteError and are taken back
 *               out of `packets` / `bytes` (a TSO packet counts once, as the datagram it was).
 * Counting: every datagram the socket hands over is either delivered (`packets`) or dropped under
 * exactly one reason; datagrams the socket itself discarded (too big for a slot: rxTruncated; the
 * dgram queue full: rxDropped) are added as `oversized` / `rxQueueFull` after each receive.
 * Per batch, the batch size is counted in `batchSizes` (src/dataplane/batch-histogram.ts). With
 * `flows` set (`--debug`), stage 4 also counts each accepted packet in its flow (flow-table.ts).
 *
 * flannel's UDP proxy also decrements TTL on receive (so an overlay hop costs two); weft
 * decrements once, on send, which is all the wire format requires.
 *
 * Ownership: `batch` is allocated once and owned by this object; native calls borrow it for one
 * call. No allocation and no await per packet.
 */
import type { Backend } from '../route/peer';
import type { Router } from '../route/router';
import {
  DropReason,
  flannelUdpDecap,
  ipPacketLength,
  vxlanDecap,
  type AnomalyCounters,
  type DropCounters,
  type VxlanConfig,
} from '../encap';
import { IoCounter } from '../io/counters';
import { PacketBatch } from '../io/packet-batch';
import { innerProtocol, partialCsumStart, PartialCsumCompleter } from '../offload/partial-csum';
import { IP_PROTO_TCP } from '../wire/ipv4';
import { tcpHeaderLength } from '../wire/tcp';
import { TsoSegmenter } from '../offload/tso';
import {
  TCP_CSUM_OFFSET,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_SIZE,
  writeVnetHdr,
} from '../wire/virtio-net-hdr';
import { newBatchHistogram, recordBatchSize, type BatchHistogram } from './batch-histogram';
import type { PacketIo } from '../io/packet-io';
import type { TunDevice } from '../io/tun-device';
import type { FlowTable } from './flow-table';
import { MAX_BATCHES_PER_WAKEUP } from './tun-send-loop';

/** IngressConfig is what the ingress path needs to know about this node. */
export interface IngressConfig {
  /** Our encapsulation; decides which decapsulator runs. */
  backend: Backend;
  /** VXLAN settings: the VNI and VTEP MAC frames must carry. */
  vxlan: VxlanConfig;
}

/** IngressOptions size the batch. */
export interface IngressOptions {
  /** Datagrams per batch (default 64). */
  batchSize?: number;
  /** Largest UDP payload expected (larger ones are counted as truncated by the socket). */
  maxPacket: number;
  /** TUN MTU: longer TCP packets with a partial checksum are segmented to it (default: never). */
  mtu?: number;
}

/** Ingress moves packets from the UDP socket to the TUN device; see the stage list above. */
export class Ingress {
  /** Inner packets handed to the TUN. */
  packets = 0;
  /** Inner bytes handed to the TUN. */
  bytes = 0;
  /** Receive batches processed. */
  batches = 0;
  /** Sizes of the receive batches (counted in `drain`, once per batch). */
  readonly batchSizes: BatchHistogram = newBatchHistogram();
  /** Per-flow counters (`--debug`), or null: then stage 4 skips them with one branch. */
  flows: FlowTable | null = null;
  /** Inner packets whose partial TCP/UDP checksum stage 5 completed (TSO packets included). */
  partialCsumCompleted = 0;
  /** Unsegmented TSO packets stage 5 cut into MTU-sized segments. */
  tsoSegmented = 0;

  private readonly batch: PacketBatch;
  private readonly csum: PartialCsumCompleter;
  private readonly written: Uint8Array;
  private truncatedSeen = 0;
  private queueDropsSeen = 0;
  private readonly mtu: number;
  private segmenter: TsoSegmenter | null = null;
  private segBatch: PacketBatch | null = null;
  private readonly onReadable = (): void => this.drain();

  /** Ingress receives on `io`, checks sources against `router`'s current table, writes to `tun`. */
  constructor(
    private readonly tun: TunDevice,
    private readonly io: PacketIo,
    private readonly router: Router,
    private readonly cfg: IngressConfig,
    /** Drop counters of this direction, indexed by DropReason. */
    readonly drops: DropCounters,
    /** Accepted-but-odd frames, indexed by Anomaly. */
    readonly anomalies: AnomalyCounters,
    opts: IngressOptions,
  ) {
    this.batch = PacketBatch.forPacketSize(opts.batchSize ?? 64, opts.maxPacket);
    this.csum = new PartialCsumCompleter(this.batch.capacity);
    this.written = new Uint8Array(this.batch.offsets.length);
    this.mtu = opts.mtu ?? 65535;
  }

  /** start watches the socket; frames flow until `stop`. */
  start(): void {
    this.io.onReadable(this.onReadable);
  }

  /** stop stops watching the socket. */
  stop(): void {
    this.io.onReadable(null);
  }

  /** drain runs stages 1-6 until the socket is empty or MAX_BATCHES_PER_WAKEUP batches. */
  drain(): void {
    for (let round = 0; round < MAX_BATCHES_PER_WAKEUP; round++) {
      const n = this.io.recvBatch(this.batch);
      this.countSocketDrops();
      if (n === 0) return;
      this.batches++;
      recordBatchSize(this.batchSizes, n);
      const out = this.processBatch(this.batch);
      if (out > 0) this.deliver(this.batch, out);
      if (n < this.batch.capacity) return;
    }
  }

  /** countSocketDrops adds what the socket discarded since the last receive as drop reasons. */
  private countSocketDrops(): void {
    const c = this.io.counters;
    const t = c[IoCounter.rxTruncated]!;
    if (t !== this.truncatedSeen) {
      this.drops[DropReason.oversized] += t - this.truncatedSeen;
      this.truncatedSeen = t;
    }
    const q = c[IoCounter.rxDropped]!;
    if (q !== this.queueDropsSeen) {
      this.drops[DropReason.rxQueueFull] += q - this.queueDropsSeen;
      this.queueDropsSeen = q;
    }
  }

  /** deliver runs stages 5-6 on descriptors [0, out). */
  deliver(batch: PacketBatch, out: number): void {
    const buf = batch.buffer;
    const offsets = batch.offsets;
    const lengths = batch.lengths;
    const cs = this.csum;
    let start = 0;
    for (let k = 0; k < out; k++) {
      const off = offsets[k]!;
      const l4 = partialCsumStart(buf, off, lengths[k]!);
      if (l4 === 0) continue;
      if (ipPacketLength(buf, off) > this.mtu && innerProtocol(buf, off) === IP_PROTO_TCP) {
        // Everything before it leaves first, so the flow keeps its order.
        cs.finish(buf);
        this.write(batch, start, k);
        start = k + 1;
        if (this.writeSegmented(batch, k, l4)) continue;
        start = k;
      }
      if (cs.add(buf, off, l4)) this.partialCsumCompleted++;
    }
    cs.finish(buf);
    this.write(batch, start, out);
  }

  /** write writes descriptors [start, end) and accounts for refusals. */
  private write(batch: PacketBatch, start: number, end: number): void {
    if (end <= start) return;
    const w = this.tun.writeBatch(batch, start, end, this.written);
    if (w < end - start) this.uncountRefused(batch, start, end);
  }

  /**
   * writeSegmented cuts the TSO packet of descriptor k into MTU-sized segments with complete
   * checksums and writes them; returns false (nothing written) when it cannot be cut, and the
   * caller then completes and writes it whole.
   */
  private writeSegmented(batch: PacketBatch, k: number, l4: number): boolean {
    const buf = batch.buffer;
    const off = batch.offsets[k]!;
    const len = ipPacketLength(buf, off);
    const hdrLen = l4 + tcpHeaderLength(buf, off + l4);
    if (this.mtu <= hdrLen || off < VIRTIO_NET_HDR_SIZE) return false;
    const seg =
      this.segmenter ?? (this.segmenter = new TsoSegmenter(Math.ceil(65535 / (this.mtu - hdrLen)) + 1));
    const sb =
      this.segBatch ??
      (this.segBatch = new PacketBatch(1, 65535 + seg.maxSegments * 128, 0, seg.maxSegments));
    // The segmenter reads its instructions from a virtio header; the 10 bytes in front of the
    // packet are the overlay header's (VXLAN) or headroom (flannel-UDP), no longer needed.
    const v4 = buf[off]! >>> 4 === 4;
    writeVnetHdr(
      buf,
      off - VIRTIO_NET_HDR_SIZE,
      VIRTIO_NET_HDR_F_NEEDS_CSUM,
      v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
      hdrLen,
      this.mtu - hdrLen,
      l4,
      TCP_CSUM_OFFSET,
    );
    const n = seg.segment(buf, off - VIRTIO_NET_HDR_SIZE, off, len, sb.buffer, 0, sb.buffer.length, 0);
    if (n <= 0) return false;
    for (let i = 0; i < n; i++) {
      sb.offsets[i] = i * seg.stride;
      sb.lengths[i] = i === n - 1 ? seg.lastLen : seg.stride;
    }
    sb.count = n;
    this.partialCsumCompleted++;
    this.tsoSegmented++;
    if (this.tun.writeBatch(sb, 0, n) < n) {
      // The datagram counts once: as refused, even if some of its segments went through.
      this.packets--;
      this.bytes -= batch.lengths[k]!;
      this.drops[DropReason.tunWriteError]++;
    }
    return true;
  }

  /** uncountRefused moves the packets the TUN refused from `packets` / `bytes` to tunWriteError. */
  private uncountRefused(batch: PacketBatch, start: number, end: number): void {
    const st = this.written;
    const lengths = batch.lengths;
    for (let k = start; k < end; k++) {
      if (st[k] === 1) continue;
      this.packets--;
      this.bytes -= lengths[k]!;
      this.drops[DropReason.tunWriteError]++;
    }
  }

  /**
   * processBatch runs stages 2-4 on `batch` in place: afterwards descriptors [0, count) describe
   * inner IP packets ready for the TUN. Returns the count.
   */
  processBatch(batch: PacketBatch): number {
    const buf = batch.buffer;
    const offsets = batch.offsets;
    const lengths = batch.lengths;
    const addrs = batch.addrs;
    const n = batch.count;
    const drops = this.drops;
    const anomalies = this.anomalies;
    const table = this.router.table;
    const isVxlan = this.cfg.backend === 'vxlan';
    const vx = this.cfg.vxlan;
    const flows = this.flows;
    let out = 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      // Stage 2: only known VTEPs.
      const from = addrs[i]!;
      if (table.findPeerBySource(from) === undefined) {
        drops[DropReason.unknownSource]++;
        continue;
      }
      // Stage 3: decapsulate in place.
      const inner = isVxlan
        ? vxlanDecap(buf, off, len, vx, drops, anomalies)
        : flannelUdpDecap(buf, off, len, drops);
      if (inner < 0) continue;
      // Stage 4.
      const innerLen = len - (inner - off);
      offsets[out] = inner;
      lengths[out] = innerLen;
      out++;
      bytes += innerLen;
      if (flows !== null) flows.record(buf, inner, innerLen, from);
    }
    batch.count = out;
    this.packets += out;
    this.bytes += bytes;
    return out;
  }
}
