/**
 * ingress-offload: the UDP -> TUN loop with UDP GRO and TCP and UDP coalescing into a TUN opened with
 * IFF_VNET_HDR. Wraps the ingress stages (`IngressStages.processBatch`, ingress.ts: source check, VXLAN /
 * flannel-UDP decapsulation, drops) with the offload stages around them.
 *
 * Stages, per wakeup of the socket fd:
 *   1. receive   `recvBatchGro(batch, slots)`: recvmmsg with UDP_GRO; a coalesced train is split
 *                into one descriptor per datagram by the addon (no copy), one native call.
 *                (Without GRO, e.g. flannel-UDP: plain `recvBatch`.)
 *   2. decap     `IngressStages.processBatch`: descriptors become inner IP packets, drops by reason.
 *   3. coalesce  `TcpCoalescer` (VXLAN: the 22 bytes of VXLAN + inner Ethernet in front of each
 *                inner packet are its own, so plain packets get their virtio header in place);
 *                consecutive in-order TCP segments of a flow become one super-packet, gathered:
 *                the first segment in place behind its virtio header, then the later segments'
 *                payload slices where they were received (a train of descriptors); ONE native
 *                sum-only pass per batch validates every merged segment's checksum.
 *                UDP (with `uso`: the TUN takes GSO_UDP_L4) goes to `UdpCoalescer` instead:
 *                consecutive datagrams of a flow become one USO super-packet, gathered the same
 *                way, checked by its own sum-only pass (one native call, only when a run formed).
 *                TCP outputs are written first, then UDP ones: order holds within each flow.
 *                Without coalescing: a zero virtio header in front of each packet.
 *                Either way, a packet whose inner TCP/UDP checksum is partial (a kernel sender
 *                over veth, src/offload/partial-csum.ts) gets a NEEDS_CSUM header instead, so the
 *                kernel completes it: no pass over the payload here.
 *   4. write     ONE `tun.writeBatch` (a writev() per output); every packet of a refused output
 *                -> tunWriteError, a segment with a wrong checksum -> badInnerChecksum.
 * Per batch, the datagram count is counted in `batchSizes`.
 *
 * Counting: every datagram the socket hands over is delivered (the stages' `packets`) or
 * dropped under exactly one reason. Packets dropped after decapsulation (stage 3 or 4) are taken
 * back out of the stages' `packets` / `bytes`; datagrams the socket discarded (too big for a
 * slot, rxTruncated) are added as `oversized`.
 *
 * Ownership: batch and coalescer are allocated once. No allocation and no await per packet.
 */
import { DropReason } from '../encap/drop-reason';
import { HEADROOM, PacketBatch } from '../io/packet-batch';
import type { BatchUdpSocket } from '../io/batch-udp-socket';
import type { Tun } from '../io/tun';
import { writeSingleVnetHdr } from '../offload/partial-csum';
import { TcpCoalescer } from '../offload/tcp-coalesce';
import { isUdpPacket, UdpCoalescer, type UdpCoalesceStats } from '../offload/udp-coalesce';
import { VIRTIO_NET_HDR_SIZE } from '../wire/virtio-net-hdr';
import type { IngressStages } from './ingress';
import { SocketRecvLoop } from './socket-recv-loop';

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
  /** Coalesce UDP datagrams too (needs `coalesce`, and a kernel that takes GSO_UDP_L4 writes). */
  uso?: boolean;
}

/** OffloadIngress moves packets UDP -> TUN with GRO and coalescing; see the stages above. */
export class OffloadIngress extends SocketRecvLoop {
  /** Outputs written to the TUN (super-packets count once). */
  writes = 0;
  /** Packets with a partial checksum written without coalescing (NEEDS_CSUM header). */
  partialCsum = 0;

  private readonly batch: PacketBatch;
  private readonly slots: number;
  private readonly coalescer: TcpCoalescer | null;
  private readonly udp: UdpCoalescer | null;
  /** Descriptors the TCP coalescer wrote in the last batch (the UDP ones follow). */
  private tcpOut = 0;
  /** UDP datagrams the last processBatch gave the UDP coalescer. */
  private udpIn = 0;
  private readonly written: Uint8Array;

  constructor(
    private readonly tun: Tun,
    private readonly sock: BatchUdpSocket,
    private readonly stages: IngressStages,
    private readonly opts: OffloadIngressOptions,
  ) {
    // A GRO receive counts datagrams, not slots, so only an empty receive says the socket is empty.
    super(sock, stages.drops, 0);
    if (opts.coalesce && !opts.gro) throw new RangeError('OffloadIngress: coalescing needs GRO-sized slots');
    const slots = opts.slots ?? (opts.gro ? 32 : 64);
    this.slots = slots;
    const slotSize = opts.gro || opts.coalesce ? HEADROOM + 65535 : HEADROOM + opts.maxDatagram;
    // Coalescing gathers super-packets from where their segments were received: no arena.
    const descriptors = opts.gro ? slots * 64 : slots;
    this.batch = new PacketBatch(slots, slotSize, HEADROOM, descriptors);
    this.coalescer = opts.coalesce ? new TcpCoalescer(this.batch.descriptors, opts.mtu) : null;
    const d = this.batch.descriptors;
    this.udp = opts.coalesce && opts.uso === true ? new UdpCoalescer(d, d, undefined, opts.mtu) : null;
    this.written = new Uint8Array(this.batch.offsets.length);
  }

  /** partialCsumCount is every packet written with NEEDS_CSUM for a partial checksum. */
  get partialCsumCount(): number {
    return this.partialCsum + (this.coalescer?.stats.partialCsum ?? 0) + (this.udp?.stats.partialCsum ?? 0);
  }

  /** udpCoalesceStats are the UDP coalescer's counters (null without USO). */
  get udpCoalesceStats(): UdpCoalesceStats | null {
    return this.udp === null ? null : this.udp.stats;
  }

  /** coalesceStats are the coalescer's counters (null without coalescing). */
  get coalesceStats(): TcpCoalescer['stats'] | null {
    return this.coalescer === null ? null : this.coalescer.stats;
  }

  /** receive is stage 1. */
  protected receive(): number {
    return this.opts.gro ? this.sock.recvBatchGro(this.batch, this.slots) : this.sock.recvBatch(this.batch);
  }

  /**
   * deliver runs stages 2-3, then writes (stage 4); returns the packets the TUN's readers get:
   * each TCP (or other non-UDP) output once, each UDP datagram once (a USO super-packet is cut
   * back into its datagrams before the reader's socket).
   */
  protected deliver(): number {
    const out = this.processBatch();
    if (out > 0) {
      const w = this.tun.writeBatch(this.batch, 0, out, this.written);
      this.writes += w;
      const packets =
        this.coalescer === null ? out : this.coalescer.outputs + (this.udp === null ? 0 : this.udp.outputs);
      if (w < packets) this.uncountRefused(out);
    }
    return this.coalescer === null ? out : this.coalescer.outputs + this.udpIn;
  }

  /** uncountRefused moves every packet of each output the TUN refused to tunWriteError. */
  private uncountRefused(out: number): void {
    const written = this.written;
    const co = this.coalescer;
    const udp = this.udp;
    const tcpOut = this.tcpOut;
    const lengths = this.batch.lengths;
    const st = this.stages;
    for (let k = 0; k < out; k++) {
      if (written[k] === 1) continue;
      const from = co === null ? null : udp !== null && k >= tcpOut ? udp : co;
      const segs = from === null ? 1 : from.outSegs[k]!;
      st.packets -= segs;
      st.bytes -= from === null ? lengths[k]! - VIRTIO_NET_HDR_SIZE : from.outBytes[k]!;
      st.drops[DropReason.tunWriteError] += segs;
    }
  }

  /** processBatch runs stages 2-3 on the received batch; returns the number of TUN writes. */
  processBatch(): number {
    const b = this.batch;
    const c = b.count === 0 ? 0 : this.stages.processBatch(b);
    const offsets = b.offsets;
    const lengths = b.lengths;
    const co = this.coalescer;
    if (co === null) {
      const buf = b.buffer;
      for (let k = 0; k < c; k++) {
        const off = offsets[k]!;
        const len = lengths[k]!;
        const h = off - VIRTIO_NET_HDR_SIZE;
        if (writeSingleVnetHdr(buf, h, off, len, this.opts.mtu)) this.partialCsum++;
        offsets[k] = h;
        lengths[k] = len + VIRTIO_NET_HDR_SIZE;
      }
      return c;
    }
    const buf = b.buffer;
    const udp = this.udp;
    co.begin(buf);
    let udpIn = 0;
    if (udp === null) {
      for (let k = 0; k < c; k++) co.add(offsets[k]!, lengths[k]!);
    } else {
      udp.begin(buf);
      for (let k = 0; k < c; k++) {
        const off = offsets[k]!;
        const len = lengths[k]!;
        if (isUdpPacket(buf, off, len)) {
          udp.add(off, len);
          udpIn++;
        } else co.add(off, len);
      }
    }
    this.udpIn = udpIn;
    // Both coalescers copied every descriptor in `add`; each now writes its outputs in turn.
    let m = co.finish(offsets, lengths, b.trains);
    this.tcpOut = m;
    this.uncountDropped(co.dropped, co.droppedBytes);
    if (udp !== null) {
      m = udp.finish(offsets, lengths, b.trains, m);
      this.uncountDropped(udp.dropped, udp.droppedBytes);
    }
    return m;
  }

  /** uncountDropped moves packets a coalescer dropped (bad checksum) from delivered to dropped. */
  private uncountDropped(dropped: number, bytes: number): void {
    if (dropped === 0) return;
    const st = this.stages;
    st.drops[DropReason.badInnerChecksum] += dropped;
    st.packets -= dropped;
    st.bytes -= bytes;
  }
}
