/**
 * socket-recv-loop: the UDP -> TUN loop both ingress drivers share (PlainIngress, and
 * OffloadIngress with UDP GRO and TCP coalescing); they only supply the two per-batch steps.
 *
 * Per wakeup of the socket fd, up to MAX_BATCHES_PER_WAKEUP rounds of
 *   `receive()` (one native receive) -> `deliver(n)` (stages, then the TUN write)
 * ending early when the socket is empty (a receive of 0, or of fewer than `shortRead` packets);
 * every `cpuYield` budget of packets handed to the TUN's readers, the thread yields its CPU (a
 * coalesced TCP super-packet counts once: TCP's window, not a burst, bounds what its reader queues).
 * Each batch is counted in `batches` and `batchSizes`. Datagrams the socket itself discarded since
 * the last receive (too big for a slot: rxTruncated; the dgram queue full: rxDropped) are charged
 * to DropReason.oversized / rxQueueFull, so that every datagram is delivered or dropped by reason.
 */
import { DropReason, type DropCounters } from '../encap/drop-reason';
import { IoCounter } from '../io/counters';
import type { PacketIo } from '../io/packet-io';
import { newBatchHistogram, recordBatchSize, type BatchHistogram } from './batch-histogram';
import { MAX_BATCHES_PER_WAKEUP } from './tun-send-loop';
import { defaultYieldBudget, type YieldBudget } from './yield-budget';

/** SocketRecvLoop runs receive -> deliver per wakeup; see the module comment. */
export abstract class SocketRecvLoop {
  /** Receive batches processed. */
  batches = 0;
  /** Sizes of the receive batches (counted in `drain`, once per batch). */
  readonly batchSizes: BatchHistogram = newBatchHistogram();
  /** Yields the CPU every budget of packets delivered, so their readers run (yield-budget.ts). */
  cpuYield: YieldBudget = defaultYieldBudget();

  private readonly onReadable = (): void => this.drain();
  private truncatedSeen = 0;
  private queueDropsSeen = 0;

  /**
   * SocketRecvLoop watches `recvFd` and charges what it discarded to `recvDrops`; a receive of
   * fewer than `shortRead` packets means the socket is empty (0: only an empty receive does).
   */
  protected constructor(
    private readonly recvFd: Pick<PacketIo, 'onReadable' | 'counters'>,
    private readonly recvDrops: DropCounters,
    private readonly shortRead: number,
  ) {}

  /** receive fills the batch (one native call); returns the number of datagrams. */
  protected abstract receive(): number;
  /**
   * deliver runs the stages on the `n` datagrams received and writes the result to the TUN;
   * returns how many packets that hands to the readers behind the TUN (each datagram once, a
   * coalesced TCP super-packet once), which is what the yield budget is charged.
   */
  protected abstract deliver(n: number): number;

  /** start watches the socket; frames flow until `stop`. */
  start(): void {
    this.recvFd.onReadable(this.onReadable);
  }

  /** stop stops watching the socket. */
  stop(): void {
    this.recvFd.onReadable(null);
  }

  /** drain runs batches until the socket is empty or MAX_BATCHES_PER_WAKEUP batches. */
  drain(): void {
    for (let round = 0; round < MAX_BATCHES_PER_WAKEUP; round++) {
      const n = this.receive();
      this.countSocketDrops();
      if (n === 0) return;
      this.batches++;
      recordBatchSize(this.batchSizes, n);
      this.cpuYield.spend(this.deliver(n));
      if (n < this.shortRead) return;
    }
  }

  /** countSocketDrops adds what the socket discarded since the last receive as drop reasons. */
  private countSocketDrops(): void {
    const c = this.recvFd.counters;
    const t = c[IoCounter.rxTruncated]!;
    if (t !== this.truncatedSeen) {
      this.recvDrops[DropReason.oversized] += t - this.truncatedSeen;
      this.truncatedSeen = t;
    }
    const q = c[IoCounter.rxDropped]!;
    if (q !== this.queueDropsSeen) {
      this.recvDrops[DropReason.rxQueueFull] += q - this.queueDropsSeen;
      this.queueDropsSeen = q;
    }
  }
}
