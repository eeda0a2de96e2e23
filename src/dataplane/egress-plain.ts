/**
 * egress-plain: the TUN -> UDP loop for a TUN without offloads (and for the in-memory fakes): one
 * IP packet per TUN read, the stages of egress.ts on the whole batch, one send.
 *
 * Per batch (the loop, backpressure and counting are TunSendLoop's, tun-send-loop.ts):
 *   1. read    `tun.readBatch(batch)`: up to `capacity` IP packets behind HEADROOM; one native call
 *   2-6.       `EgressStages.processBatch(batch)` (egress.ts)
 *   7. send    ONE `io.sendBatch(batch)`
 *
 * Ownership: `batch` is allocated once in the constructor and owned by this object; the native
 * calls borrow it for one call.
 */
import { PacketBatch } from '../io/packet-batch';
import type { PacketIo } from '../io/packet-io';
import type { TunDevice } from '../io/tun-device';
import type { EgressStages } from './egress';
import { TunSendLoop } from './tun-send-loop';

/** PlainEgressOptions size the batch. */
export interface PlainEgressOptions {
  /** Packets per batch (default 64). */
  batchSize?: number;
  /** Largest packet the TUN hands us (the TUN MTU). */
  maxPacket: number;
}

/** PlainEgress reads the TUN, runs `stages` and sends on `io`; see the module comment. */
export class PlainEgress extends TunSendLoop {
  private readonly batch: PacketBatch;

  constructor(
    private readonly tun: TunDevice,
    private readonly io: PacketIo,
    private readonly stages: EgressStages,
    opts: PlainEgressOptions,
  ) {
    const batch = PacketBatch.forPacketSize(opts.batchSize ?? 64, opts.maxPacket);
    super(tun, io, stages.drops, batch, batch.capacity);
    this.batch = batch;
  }

  /** readTun is stage 1. */
  protected readTun(): number {
    return this.tun.readBatch(this.batch);
  }

  /** runStages is stages 2-6. */
  protected runStages(): void {
    this.stages.processBatch(this.batch);
  }

  /** sendRaw is stage 7. */
  protected sendRaw(from: number): number {
    return this.io.sendBatch(this.batch, from);
  }
}
