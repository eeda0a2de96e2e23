/**
 * packet-io: the UDP side of the dataplane as one interface, so `--io batch` (BatchUdpSocket,
 * recvmmsg/sendmmsg through the addon) and `--io dgram` (DgramUdpSocket, Node's dgram, one
 * packet per call) are interchangeable and pass the same tests.
 */
import type { IoCounters } from './counters';
import type { PacketBatch } from './packet-batch';

/** IoMode names a PacketIo implementation (the `--io` flag). */
export type IoMode = 'batch' | 'dgram';

/** IO_MODES lists the valid `--io` values. */
export const IO_MODES: readonly IoMode[] = ['batch', 'dgram'];

/** UdpBindOptions configure a PacketIo socket. */
export interface UdpBindOptions {
  /** Local IPv4 address to bind (e.g. the underlay address, or 0.0.0.0). */
  address: string;
  /** Local UDP port; 0 lets the kernel choose (see `port` after binding). */
  port: number;
  /** SO_REUSEADDR (default false, so a second weft on the same port fails with EADDRINUSE). */
  reuseAddr?: boolean;
  /** SO_REUSEPORT, for one socket per worker (batch mode only). */
  reusePort?: boolean;
  /** SO_RCVBUF in bytes (SO_RCVBUFFORCE when the sysctl cap is lower and we are root). */
  recvBufferSize?: number;
  /** SO_SNDBUF in bytes (SO_SNDBUFFORCE likewise). */
  sendBufferSize?: number;
}

/**
 * PacketIo is a bound UDP socket moving packets in PacketBatch batches.
 *
 * Receive: `onReadable(cb)`; in `cb` call `recvBatch(batch)` until it returns 0 (or less than
 * `batch.capacity`). Send: fill descriptors (offsets, lengths, addrs, ports, count) and call
 * `sendBatch(batch)`. Neither throws for a per-packet failure; see `counters`.
 */
export interface PacketIo {
  /** Which implementation this is. */
  readonly mode: IoMode;
  /** Bound local address. */
  readonly address: string;
  /** Bound local port. */
  readonly port: number;
  /** Counters indexed by `IoCounter`, readable at any time without a call. */
  readonly counters: IoCounters;
  /**
   * recvBatch fills `batch` with received datagrams (payload at each slot's headroom, source
   * address/port in addrs/ports), sets `batch.count` and returns it; 0 when none are waiting.
   */
  recvBatch(batch: PacketBatch): number;
  /**
   * sendBatch sends packets [start, batch.count) and returns the index of the first packet it
   * did not attempt: `batch.count` when all were sent or counted as failed, less when the
   * socket buffer is full (EAGAIN, counted in txEagain). The caller then either drops the rest
   * or calls `onceWritable` and resumes from the returned index.
   */
  sendBatch(batch: PacketBatch, start?: number): number;
  /** onReadable runs `cb` whenever datagrams are waiting (null stops). */
  onReadable(cb: (() => void) | null): void;
  /** onceWritable runs `cb` once when the socket can take more (after a short sendBatch). */
  onceWritable(cb: (() => void) | null): void;
  /** ref/unref: whether the socket keeps the process alive while watched. */
  ref(on?: boolean): void;
  /** close stops watching and closes the socket. Idempotent. */
  close(): void;
}

/**
 * openPacketIo binds a PacketIo of the given mode: 'batch' (BatchUdpSocket, the default fast
 * path) or 'dgram' (DgramUdpSocket, the reference path). Rejects with SystemError.
 */
export async function openPacketIo(mode: IoMode, opts: UdpBindOptions): Promise<PacketIo> {
  // Required lazily so that this interface module stays free of runtime cycles.
  if (mode === 'batch') {
    const { BatchUdpSocket } = await import('./batch-udp-socket');
    return BatchUdpSocket.bind(opts);
  }
  const { DgramUdpSocket } = await import('./dgram-udp-socket');
  return DgramUdpSocket.bind(opts);
}
