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
 *   5. write    ONE `tun.writeBatch(batch, 0, out)`; refused packets count as tunWriteError.
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
  vxlanDecap,
  type AnomalyCounters,
  type DropCounters,
  type VxlanConfig,
} from '../encap';
import { PacketBatch } from '../io/packet-batch';
import { newBatchHistogram, recordBatchSize, type BatchHistogram } from './batch-histogram';
import type { PacketIo, TunDevice } from './devices';
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

  private readonly batch: PacketBatch;
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
  }

  /** start watches the socket; frames flow until `stop`. */
  start(): void {
    this.io.onReadable(this.onReadable);
  }

  /** stop stops watching the socket. */
  stop(): void {
    this.io.onReadable(null);
  }

  /** drain runs stages 1-5 until the socket is empty or MAX_BATCHES_PER_WAKEUP batches. */
  drain(): void {
    for (let round = 0; round < MAX_BATCHES_PER_WAKEUP; round++) {
      const n = this.io.recvBatch(this.batch);
      if (n === 0) return;
      this.batches++;
      recordBatchSize(this.batchSizes, n);
      const out = this.processBatch(this.batch);
      if (out > 0) {
        const w = this.tun.writeBatch(this.batch, 0, out);
        this.drops[DropReason.tunWriteError] += out - w;
      }
      if (n < this.batch.capacity) return;
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
