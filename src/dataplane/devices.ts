/**
 * devices: the two I/O seams the dataplane runs on, as interfaces, so the same egress/ingress code
 * runs over the native addon (src/io: Tun, BatchUdpSocket, DgramUdpSocket) and over the in-memory
 * fakes in src/testing (ChannelTun, ChannelSocketPair) in unit tests.
 */
import type { IoCounters } from '../io/counters';
import type { PacketBatch } from '../io/packet-batch';
import type { PacketIo } from '../io/packet-io';
import type { TunIoMode } from '../io/tun';

export type { PacketIo };

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
  /** close stops watching and releases the device. Idempotent. */
  close(): void;
}
