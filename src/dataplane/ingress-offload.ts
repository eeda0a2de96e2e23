/**
 * ingress-offload: the ingress direction with UDP GRO and TCP coalescing into a TUN opened with
 * IFF_VNET_HDR. Wraps the plain ingress stages (`Ingress.processBatch`: source check, VXLAN /
 * flannel-UDP decapsulation, drops) with the offload stages around them.
 *
 * Stages, per wakeup of the socket fd:
 *   1. receive   `recvBatchGro(batch, slots)`: recvmmsg with UDP_GRO; a coalesced train is split
 *                into one descriptor per datagram by the addon (no copy), one native call.
 *                (Without GRO, e.g. flannel-UDP: plain `recvBatch`.)
 *   2. decap     `Ingress.processBatch`: descriptors become inner IP packets, drops by reason.
 *   3. coalesce  `TcpCoalescer` (VXLAN: the 22 bytes of VXLAN + inner Ethernet in front of each
 *                inner packet are its own, so plain packets get their virtio header in place);
 *                consecutive in-order TCP segments of a flow become one super-packet in the arena
 *                region of the same buffer; ONE native csumCopy per batch.
 *                Without coalescing: a zero virtio header in front of each packet.
 *                Either way, a packet whose inner TCP/UDP checksum is partial (a kernel sender
 *                over veth, src/offload/partial-csum.ts) gets a NEEDS_CSUM header instead, so the
 *                kernel completes it: no pass over the payload here.
 *   4. write     ONE `tun.writeBatch` (a write() per output); every packet of a refused output
 *                -> tunWriteError, a segment with a wrong checksum -> badInnerChecksum.
 * Per batch, the datagram count is counted in `batchSizes`.
 *
 * Counting: every datagram the socket hands over is delivered (the Ingress's `packets`) or
 * dropped under exactly one reason. Packets dropped after decapsulation (stage 3 or 4) are taken
 * back out of the Ingress's `packets` / `bytes`; datagrams the socket discarded (too big for a
 * slot, rxTruncated) are added as `oversized`.
 *
 * Ownership: batch, arena and coalescer are allocated once. No allocation and no await per packet.
 */
import { DropReason, type DropCounters } from '../encap';
import { IoCounter } from '../io/counters';
import { HEADROOM, PacketBatch } from '../io/packet-batch';
import type { BatchUdpSocket } from '../io/batch-udp-socket';
import type { Tun } from '../io/tun';
import { newBatchHistogram, recordBatchSize, type BatchHistogram } from './batch-histogram';
import { MAX_BATCHES_PER_WAKEUP } from './tun-send-loop';
import type { BatchProcessor } from './egress-offload';
import { partialCsumStart, writePartialVnetHdr } from '../offload/partial-csum';
import { TcpCoalescer } from '../offload/tcp-coalesce';
import { VIRTIO_NET_HDR_SIZE, zeroVnetHdr } from '../wire/virtio-net-hdr';

/** DeliveryCounts is the part of the Ingress whose delivered totals the later stages correct. */
export interface DeliveryCounts {
  /** Inner packets delivered. */
  packets: number;
  /** Inner bytes delivered. */
  bytes: number;
}

/** OffloadIngressOptions choose GRO / coalescing and size the batch. */
export interface OffloadIngressOptions {
  /** UDP_GRO receive (the socket must have it enabled); slots then hold 64 KiB each. */
  gro: boolean;
  /** Coalesce TCP segments (needs `gro`, and the 10 bytes before each inner packet to be its own: VXLAN). */
  coalesce: boolean;
  /** Receive slots per batch (default 32 with GRO, 64 without). */
  slots?: number;
  /** Largest datagram without GRO (the underlay MTU minus IP/UDP headers is enough). */
  maxDatagram: number;
  /** TUN MTU: longer TCP packets with a partial checksum are handed over as GSO (default 65535). */
  mtu?: number;
}

/** OffloadIngress moves packets UDP -> TUN with GRO and coalescing; see the stages above. */
export class OffloadIngress {
  /** Receive batches processed. */
  batches = 0;
  /** Sizes of the receive batches (datagrams per batch, GRO trains split). */
  readonly batchSizes: BatchHistogram = newBatchHistogram();
  /** Outputs written to the TUN (super-packets count once). */
  writes = 0;
  /** Packets with a partial checksum written without coalescing (NEEDS_CSUM header). */
  partialCsum = 0;

  private readonly batch: PacketBatch;
  private readonly slots: number;
  private readonly arenaStart: number;
  private readonly coalescer: TcpCoalescer | null;
  private readonly onReadable = (): void => this.drain();
  private readonly written: Uint8Array;
  private truncatedSeen = 0;

  constructor(
    private readonly tun: Tun,
    private readonly sock: BatchUdpSocket,
    private readonly ingress: BatchProcessor & DeliveryCounts,
    private readonly drops: DropCounters,
    private readonly opts: OffloadIngressOptions,
  ) {
    if (opts.coalesce && !opts.gro) throw new RangeError('OffloadIngress: coalescing needs GRO-sized slots');
    const slots = opts.slots ?? (opts.gro ? 32 : 64);
    this.slots = slots;
    const slotSize = opts.gro || opts.coalesce ? HEADROOM + 65535 : HEADROOM + opts.maxDatagram;
    // Coalescing needs one arena slot (virtio header + 64 KiB) per super-packet it may build.
    const arena = opts.coalesce ? slots : 0;
    const descriptors = opts.gro ? slots * 64 : slots;
    this.batch = new PacketBatch(slots + arena, slotSize, HEADROOM, Math.max(descriptors, slots + arena));
    this.arenaStart = slots * this.batch.slotSize;
    this.coalescer = opts.coalesce ? new TcpCoalescer(this.batch.descriptors, opts.mtu) : null;
    this.written = new Uint8Array(this.batch.offsets.length);
  }

  /** partialCsumCount is every packet written with NEEDS_CSUM for a partial checksum. */
  get partialCsumCount(): number {
    return this.partialCsum + (this.coalescer?.stats.partialCsum ?? 0);
  }

  /** coalesceStats are the coalescer's counters (null without coalescing). */
  get coalesceStats(): TcpCoalescer['stats'] | null {
    return this.coalescer === null ? null : this.coalescer.stats;
  }

  /** start watches the socket. */
  start(): void {
    this.sock.onReadable(this.onReadable);
  }

  /** stop stops watching. */
  stop(): void {
    this.sock.onReadable(null);
  }

  /** drain runs the stages until the socket is empty or MAX_BATCHES_PER_WAKEUP batches. */
  drain(): void {
    for (let round = 0; round < MAX_BATCHES_PER_WAKEUP; round++) {
      const b = this.batch;
      // Without GRO there is no arena (coalescing needs GRO), so recvBatch's capacity is `slots`.
      const n = this.opts.gro ? this.sock.recvBatchGro(b, this.slots) : this.sock.recvBatch(b);
      const t = this.sock.counters[IoCounter.rxTruncated]!;
      if (t !== this.truncatedSeen) {
        this.drops[DropReason.oversized] += t - this.truncatedSeen;
        this.truncatedSeen = t;
      }
      if (n === 0) return;
      this.batches++;
      recordBatchSize(this.batchSizes, n);
      const out = this.processBatch();
      if (out > 0) {
        const w = this.tun.writeBatch(b, 0, out, this.written);
        this.writes += w;
        if (w < out) this.uncountRefused(out);
      }
    }
  }

  /** uncountRefused moves every packet of each output the TUN refused to tunWriteError. */
  private uncountRefused(out: number): void {
    const st = this.written;
    const co = this.coalescer;
    const lengths = this.batch.lengths;
    const ing = this.ingress;
    for (let k = 0; k < out; k++) {
      if (st[k] === 1) continue;
      const segs = co === null ? 1 : co.outSegs[k]!;
      ing.packets -= segs;
      ing.bytes -= co === null ? lengths[k]! - VIRTIO_NET_HDR_SIZE : co.outBytes[k]!;
      this.drops[DropReason.tunWriteError] += segs;
    }
  }

  /** processBatch runs stages 2-3 on the received batch; returns the number of TUN writes. */
  processBatch(): number {
    const b = this.batch;
    const c = b.count === 0 ? 0 : this.ingress.processBatch(b);
    const offsets = b.offsets;
    const lengths = b.lengths;
    const co = this.coalescer;
    if (co === null) {
      const buf = b.buffer;
      for (let k = 0; k < c; k++) {
        const off = offsets[k]!;
        const len = lengths[k]!;
        const h = off - VIRTIO_NET_HDR_SIZE;
        const l4 = partialCsumStart(buf, off, len);
        if (l4 > 0) {
          writePartialVnetHdr(buf, h, off, l4, this.opts.mtu);
          this.partialCsum++;
        } else {
          zeroVnetHdr(buf, h);
        }
        offsets[k] = h;
        lengths[k] = len + VIRTIO_NET_HDR_SIZE;
      }
      return c;
    }
    co.begin(b.buffer, this.arenaStart, b.buffer.length);
    for (let k = 0; k < c; k++) co.add(offsets[k]!, lengths[k]!);
    const m = co.finish(offsets, lengths);
    if (co.dropped > 0) {
      this.drops[DropReason.badInnerChecksum] += co.dropped;
      this.ingress.packets -= co.dropped;
      this.ingress.bytes -= co.droppedBytes;
    }
    return m;
  }
}

/**
 * VnetTunWriter adapts a TUN opened with IFF_VNET_HDR for code that writes plain IP packets (the
 * Egress's ICMP replies): every write gets a zero virtio header in the 10 bytes in front of the
 * packet (inside the batch's headroom). Reads and readiness are not offered: the offload drivers
 * read the TUN themselves.
 */
export class VnetTunWriter {
  constructor(private readonly tun: Tun) {}

  /** name of the device. */
  get name(): string {
    return this.tun.name;
  }

  /** counters of the device. */
  get counters(): Tun['counters'] {
    return this.tun.counters;
  }

  /** readBatch is never used on this adapter; it reads nothing. */
  readBatch(batch: PacketBatch): number {
    batch.count = 0;
    return 0;
  }

  /** writeBatch prepends zero virtio headers to [start, end), writes, and restores the descriptors. */
  writeBatch(batch: PacketBatch, start = 0, end = batch.count, status?: Uint8Array): number {
    const buf = batch.buffer;
    for (let k = start; k < end; k++) {
      const h = batch.offsets[k]! - VIRTIO_NET_HDR_SIZE;
      zeroVnetHdr(buf, h);
      batch.offsets[k] = h;
      batch.lengths[k] = batch.lengths[k]! + VIRTIO_NET_HDR_SIZE;
    }
    const w = this.tun.writeBatch(batch, start, end, status);
    for (let k = start; k < end; k++) {
      batch.offsets[k] = batch.offsets[k]! + VIRTIO_NET_HDR_SIZE;
      batch.lengths[k] = batch.lengths[k]! - VIRTIO_NET_HDR_SIZE;
    }
    return w;
  }

  /** onReadable is a no-op: the offload egress driver watches the TUN itself. */
  onReadable(cb: (() => void) | null): void {
    void cb;
  }

  /** close closes the device. */
  close(): void {
    this.tun.close();
  }
}
