/**
 * ChannelTun: an in-memory TUN device behind the dataplane's `TunDevice` interface, for unit tests
 * and in-process benchmarks (after wireguard-go's tun/tuntest ChannelTUN).
 *
 * `inject(packet)` plays the kernel routing a packet into the TUN (the dataplane reads it with
 * readBatch); packets the dataplane writes are copied into `written` (the kernel side receives
 * them) and passed to `onWrite`. Readiness is level-triggered like a real fd: while packets are
 * queued, the readable callback fires again on the next turn of the event loop.
 */
import { IoCounter, newIoCounters, type IoCounters } from '../io/counters';
import type { PacketBatch } from '../io/packet-batch';
import type { TunDevice } from '../io/tun-device';
import { ReadableSignal } from './readable-signal';

/** ChannelTun is an in-memory TunDevice. */
export class ChannelTun implements TunDevice {
  /** Counters indexed by IoCounter, maintained like the native Tun's. */
  readonly counters: IoCounters = newIoCounters();
  /** Packets the dataplane wrote into the device (copies), oldest first. */
  readonly written: Buffer[] = [];
  /** Optional hook called with each written packet (a copy). */
  onWrite: ((packet: Buffer) => void) | null = null;
  /** When > 0, writeBatch refuses this many more packets (counted as txEagain), to test drops. */
  refuseWrites = 0;

  private readonly queue: Buffer[] = [];
  private readonly readable = new ReadableSignal(() => this.queue.length > 0);
  private closed = false;

  /** ChannelTun is named `name` (only for messages). */
  constructor(readonly name = 'chan0') {}

  /** inject queues one packet (copied) as if the kernel routed it into the TUN. */
  inject(packet: Uint8Array): void {
    if (this.closed) return;
    this.queue.push(Buffer.from(packet));
    this.readable.notify();
  }

  /** pending is the number of injected packets not yet read. */
  get pending(): number {
    return this.queue.length;
  }

  /** readBatch copies queued packets into slots behind the headroom (like the addon's tunRead). */
  readBatch(batch: PacketBatch): number {
    let n = 0;
    this.counters[IoCounter.rxSyscalls]++;
    while (n < batch.capacity && this.queue.length > 0) {
      const p = this.queue.shift()!;
      if (p.length > batch.maxPacket) {
        this.counters[IoCounter.rxTruncated]++;
        continue;
      }
      const at = batch.dataOffset(n);
      p.copy(batch.buffer, at);
      batch.offsets[n] = at;
      batch.lengths[n] = p.length;
      this.counters[IoCounter.rxPackets]++;
      this.counters[IoCounter.rxBytes] += p.length;
      n++;
    }
    if (this.queue.length === 0) this.counters[IoCounter.rxEagain]++;
    batch.count = n;
    return n;
  }

  /**
   * writeBatch copies packets [start, end) into `written` (a train of descriptors is one packet,
   * heads and tails gathered, as the addon's writev does); returns how many packets were taken,
   * and `status` marks every descriptor of each.
   */
  writeBatch(batch: PacketBatch, start = 0, end = batch.count, status?: Uint8Array): number {
    let w = 0;
    for (let i = start; i < end;) {
      const first = i;
      const next = batch.packetEnd(first);
      i = next > end ? end : next;
      if (status !== undefined) status.fill(0, first, i);
      if (next > end) {
        // A train cut by `end` is refused whole, as the addon does.
        this.counters[IoCounter.txErrors]++;
        continue;
      }
      this.counters[IoCounter.txSyscalls]++;
      if (this.refuseWrites > 0) {
        this.refuseWrites--;
        this.counters[IoCounter.txEagain]++;
        continue;
      }
      const p = batch.gather(first);
      if (status !== undefined) status.fill(1, first, next);
      this.written.push(p);
      this.counters[IoCounter.txPackets]++;
      this.counters[IoCounter.txBytes] += p.length;
      w++;
      this.onWrite?.(p);
    }
    return w;
  }

  /** onReadable sets the readiness callback (null stops). */
  onReadable(cb: (() => void) | null): void {
    this.readable.set(cb);
  }

  /** close drops queued packets and stops callbacks. */
  close(): void {
    this.closed = true;
    this.readable.set(null);
    this.queue.length = 0;
  }
}
