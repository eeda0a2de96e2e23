/**
 * tun-send-loop: the TUN -> socket loop both egress drivers share (Egress, and OffloadEgress with
 * TSO and UDP GSO); they only supply the three per-batch steps.
 *
 * Per wakeup of the TUN fd, up to MAX_BATCHES_PER_WAKEUP rounds of
 *   `readTun()` (one native read) -> `runStages(n)` -> `sendRaw(0)` (one native send)
 * ending early when a read comes back short (the TUN is empty) or the socket is full; every
 * `cpuYield` budget of packets sent, the thread yields its CPU. Each batch
 * is counted in `batches` and `batchSizes`; descriptors the send counted as `txErrors` are
 * charged to DropReason.sendError.
 *
 * Backpressure: if the socket buffer fills (the send returns early on EAGAIN), TUN reading is
 * paused, the rest of the batch is resent when the socket is writable, then reading resumes. The
 * kernel queues (or drops) on the TUN meanwhile, like any full NIC queue.
 */
import { DropReason, type DropCounters } from '../encap/drop-reason';
import { IoCounter } from '../io/counters';
import type { PacketBatch } from '../io/packet-batch';
import { newBatchHistogram, recordBatchSize, type BatchHistogram } from './batch-histogram';
import type { PacketIo } from '../io/packet-io';
import type { TunDevice } from '../io/tun-device';
import { defaultYieldBudget, type YieldBudget } from './yield-budget';

/** MAX_BATCHES_PER_WAKEUP keeps one busy direction from starving the other on the event loop. */
export const MAX_BATCHES_PER_WAKEUP = 8;

/** TunSendLoop runs read -> stages -> send with backpressure; see the module comment. */
export abstract class TunSendLoop {
  /** TUN read batches processed. */
  batches = 0;
  /** Times the socket buffer was full and TUN reading was paused. */
  stalls = 0;
  /** Sizes of the TUN read batches (counted in `drain`, once per batch). */
  readonly batchSizes: BatchHistogram = newBatchHistogram();
  /** Yields the CPU every budget of packets sent, so their receivers run (yield-budget.ts). */
  cpuYield: YieldBudget = defaultYieldBudget();

  private readonly onReadable = (): void => this.drain();
  private readonly onWritable = (): void => this.resume();
  private pendingFrom = -1;
  private running = false;

  /**
   * TunSendLoop watches `tun`, sends the descriptors of `batch` on `io` and charges send errors
   * to `drops`; a read of fewer than `readSlots` packets means the TUN is empty.
   */
  protected constructor(
    private readonly tunFd: Pick<TunDevice, 'onReadable'>,
    private readonly sendFd: Pick<PacketIo, 'onceWritable' | 'counters'>,
    private readonly sendDrops: DropCounters,
    private readonly sendBatch: PacketBatch,
    protected readonly readSlots: number,
  ) {}

  /** readTun reads up to `readSlots` packets into the batch (one native call); returns the count. */
  protected abstract readTun(): number;
  /** runStages turns the `n` packets read into `batch.count` descriptors to send. */
  protected abstract runStages(n: number): void;
  /** sendRaw sends descriptors [from, count) (one native call); returns the first one not sent. */
  protected abstract sendRaw(from: number): number;

  /** start watches the TUN fd; packets flow until `stop`. */
  start(): void {
    this.running = true;
    this.tunFd.onReadable(this.onReadable);
  }

  /** stop stops watching (any batch waiting for socket space is dropped). */
  stop(): void {
    this.running = false;
    this.tunFd.onReadable(null);
    this.sendFd.onceWritable(null);
  }

  /** drain runs batches until the TUN is empty, the socket is full, or MAX_BATCHES_PER_WAKEUP. */
  drain(): void {
    for (let round = 0; round < MAX_BATCHES_PER_WAKEUP; round++) {
      const n = this.readTun();
      if (n === 0) return;
      this.batches++;
      recordBatchSize(this.batchSizes, n);
      this.runStages(n);
      if (!this.send(0)) return;
      this.cpuYield.spend(n);
      if (n < this.readSlots) return;
    }
  }

  /**
   * send sends descriptors [from, count); returns false when the socket is full, after pausing
   * TUN reads until `resume` has sent the rest.
   */
  private send(from: number): boolean {
    const count = this.sendBatch.count;
    if (from >= count) return true;
    const c = this.sendFd.counters;
    const errorsBefore = c[IoCounter.txErrors]!;
    const next = this.sendRaw(from);
    this.sendDrops[DropReason.sendError] += c[IoCounter.txErrors]! - errorsBefore;
    if (next >= count) return true;
    this.stalls++;
    this.pendingFrom = next;
    this.tunFd.onReadable(null);
    this.sendFd.onceWritable(this.onWritable);
    return false;
  }

  /** resume is the writable callback after a stall: finish the batch, then read the TUN again. */
  private resume(): void {
    if (!this.running || this.pendingFrom < 0) return;
    const from = this.pendingFrom;
    this.pendingFrom = -1;
    if (!this.send(from)) return;
    this.tunFd.onReadable(this.onReadable);
    this.drain();
  }
}
