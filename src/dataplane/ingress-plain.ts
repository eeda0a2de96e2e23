/**
 * ingress-plain: the UDP -> TUN loop for a TUN without offloads (and for the in-memory fakes): the
 * stages of ingress.ts on each received batch, then plain IP packets into the TUN.
 *
 * Per batch (the loop and socket-drop counting are SocketRecvLoop's, socket-recv-loop.ts):
 *   1. receive  `io.recvBatch(batch)`: up to `capacity` datagrams; one native call (recvmmsg)
 *   2-4.        `IngressStages.processBatch(batch)` (ingress.ts)
 *   5. checksum inner TCP/UDP checksums a kernel sender left partial (src/offload/partial-csum.ts)
 *               are completed: a header comparison per packet, and ONE native sum over the
 *               partial ones only                                     -> partialCsumCompleted
 *               A partial TCP packet longer than the TUN MTU is a sender's TSO packet that
 *               crossed veth unsegmented: it is cut into MTU-sized segments with complete
 *               checksums (TsoSegmenter, one native copy-and-sum), so that the kernel behind
 *               the TUN can forward it                                -> tsoSegmented
 *   6. write    ONE `tun.writeBatch(batch, 0, out)` (plus one per TSO packet cut in stage 5,
 *               in arrival order); refused packets count as tunWriteError and are taken back
 *               out of the stages' `packets` / `bytes` (a TSO packet counts once, as the datagram
 *               it was).
 *
 * Ownership: `batch` is allocated once and owned by this object; native calls borrow it for one
 * call. No allocation and no await per packet.
 */
import { DropReason } from '../encap/drop-reason';
import { PacketBatch } from '../io/packet-batch';
import type { PacketIo } from '../io/packet-io';
import type { TunDevice } from '../io/tun-device';
import { partialCsumStart, PartialCsumCompleter } from '../offload/partial-csum';
import { TsoSegmenter } from '../offload/tso';
import { ipPacketLength, ipProtocol } from '../wire/ip';
import { IP_PROTO_TCP, IPV4_VERSION, ipVersion } from '../wire/ipv4';
import { tcpHeaderLength } from '../wire/tcp';
import {
  TCP_CSUM_OFFSET,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_SIZE,
  writeVnetHdr,
} from '../wire/virtio-net-hdr';
import type { IngressStages } from './ingress';
import { SocketRecvLoop } from './socket-recv-loop';

/** PlainIngressOptions size the batch. */
export interface PlainIngressOptions {
  /** Datagrams per batch (default 64). */
  batchSize?: number;
  /** Largest UDP payload expected (larger ones are counted as truncated by the socket). */
  maxPacket: number;
  /** TUN MTU: longer TCP packets with a partial checksum are segmented to it (default: never). */
  mtu?: number;
}

/** PlainIngress receives on `io`, runs `stages` and writes to `tun`; see the module comment. */
export class PlainIngress extends SocketRecvLoop {
  /** Inner packets whose partial TCP/UDP checksum stage 5 completed (TSO packets included). */
  partialCsumCompleted = 0;
  /** Unsegmented TSO packets stage 5 cut into MTU-sized segments. */
  tsoSegmented = 0;

  private readonly batch: PacketBatch;
  private readonly csum: PartialCsumCompleter;
  private readonly written: Uint8Array;
  private readonly mtu: number;
  private segmenter: TsoSegmenter | null = null;
  private segBatch: PacketBatch | null = null;

  constructor(
    private readonly tun: TunDevice,
    private readonly io: PacketIo,
    private readonly stages: IngressStages,
    opts: PlainIngressOptions,
  ) {
    const batch = PacketBatch.forPacketSize(opts.batchSize ?? 64, opts.maxPacket);
    super(io, stages.drops, batch.capacity);
    this.batch = batch;
    this.csum = new PartialCsumCompleter(batch.capacity);
    this.written = new Uint8Array(batch.offsets.length);
    this.mtu = opts.mtu ?? 65535;
  }

  /** receive is stage 1. */
  protected receive(): number {
    return this.io.recvBatch(this.batch);
  }

  /** deliver runs stages 2-4 (IngressStages), then 5-6 on what they kept; returns how many. */
  protected deliver(): number {
    const out = this.stages.processBatch(this.batch);
    if (out > 0) this.deliverInner(this.batch, out);
    return out;
  }

  /** deliverInner runs stages 5-6 on descriptors [0, out). */
  deliverInner(batch: PacketBatch, out: number): void {
    const buf = batch.buffer;
    const offsets = batch.offsets;
    const lengths = batch.lengths;
    const cs = this.csum;
    let start = 0;
    for (let k = 0; k < out; k++) {
      const off = offsets[k]!;
      const l4 = partialCsumStart(buf, off, lengths[k]!);
      if (l4 === 0) continue;
      if (ipPacketLength(buf, off) > this.mtu && ipProtocol(buf, off) === IP_PROTO_TCP) {
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
    const v4 = ipVersion(buf, off) === IPV4_VERSION;
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
      const st = this.stages;
      st.packets--;
      st.bytes -= batch.lengths[k]!;
      st.drops[DropReason.tunWriteError]++;
    }
    return true;
  }

  /** uncountRefused moves the packets the TUN refused from `packets` / `bytes` to tunWriteError. */
  private uncountRefused(batch: PacketBatch, start: number, end: number): void {
    const written = this.written;
    const st = this.stages;
    const lengths = batch.lengths;
    for (let k = start; k < end; k++) {
      if (written[k] === 1) continue;
      st.packets--;
      st.bytes -= lengths[k]!;
      st.drops[DropReason.tunWriteError]++;
    }
  }
}
