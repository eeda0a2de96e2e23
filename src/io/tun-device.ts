/**
 * tun-device: the TUN side of the dataplane as an interface, so the same egress/ingress code runs
 * over the native addon (Tun, src/io/tun.ts) and over the in-memory fake in src/testing
 * (ChannelTun) in unit tests. The UDP side's interface is PacketIo (packet-io.ts).
 */
import type { IoCounters } from './counters';
import type { PacketBatch } from './packet-batch';
import type { TunIoMode } from './tun';

/**
 * TunDevice is the subset of `src/io/tun.ts`'s `Tun` the dataplane uses: batched reads into and
 * writes from a PacketBatch, level-triggered readiness, counters readable without a call.
 */
export interface TunDevice {
  /** Device name (e.g. `weft0`). */
  readonly name: string;
  /** Counters indexed by `IoCounter` (rxPackets, txEagain, ...). */
  readonly counters: IoCounters;
  /** readBatch reads up to `batch.capacity` packets behind each slot's headroom; returns and sets `batch.count`. */
  readBatch(batch: PacketBatch): number;
  /**
   * writeBatch writes packets [start, end) (default all `count`); returns how many the kernel took.
   * With `status`, status[i] is set to 1 for each packet taken and 0 for each refused.
   */
  writeBatch(batch: PacketBatch, start?: number, end?: number, status?: Uint8Array): number;
  /** onReadable runs `cb` whenever packets are waiting (null stops). */
  onReadable(cb: (() => void) | null): void;
  /** How reads and writes reach the kernel (the native Tun only; fakes leave it out). */
  readonly ioMode?: TunIoMode;
  /** Why io_uring was refused, when it was (the native Tun only). */
  readonly ioRefused?: string | null;
  /** Read and write batches that went through the io_uring (the native Tun only). */
  readonly ringCalls?: number;
  /** close stops watching and releases the device. Idempotent. */
  close(): void;
}
