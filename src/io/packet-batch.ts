/**
 * packet-batch: the unit of packet I/O. One preallocated Buffer of `capacity` slots of
 * `slotSize` bytes plus a descriptor table in typed arrays, reused for every batch.
 *
 * Layout (slot i starts at i * slotSize):
 *
 *   | headroom (HEADROOM = 128) | packet, up to slotSize - headroom bytes |
 *
 * Reads (readBatch/recvBatch) place packet k at `k * slotSize + headroom` and set
 * `offsets[k]`, `lengths[k]` (and for UDP `addrs[k]`, `ports[k]`), then `count`. Encapsulation
 * writes headers into the headroom and moves `offsets[k]` back; writes (writeBatch/sendBatch)
 * send `buffer[offsets[k] .. offsets[k] + lengths[k])` to `addrs[k]:ports[k]` for k < count.
 * Descriptors may be rewritten freely (compacted, reordered) as long as they stay inside
 * `buffer`; a descriptor outside it is counted as a send error, never a crash.
 *
 * Ownership: JS owns the batch. Native code borrows `buffer` and the typed arrays only for the
 * duration of one call.
 */
import { HEADROOM } from '../encap/constants';

export { HEADROOM };

/** DEFAULT_BATCH_SIZE is the slot count of a batch when none is given (wireguard-go uses 128). */
export const DEFAULT_BATCH_SIZE = 64;

/** DEFAULT_SLOT_SIZE fits HEADROOM + a 1500-byte underlay frame with room to spare (2 KiB). */
export const DEFAULT_SLOT_SIZE = 2048;

/** SLOT_ALIGN keeps slots cache-line aligned. */
const SLOT_ALIGN = 64;

/** PacketBatch is a reusable batch of packet slots with its descriptor table. */
export class PacketBatch {
  /** Backing memory: `capacity * slotSize` bytes, not pooled (own ArrayBuffer). */
  readonly buffer: Buffer;
  /** Number of slots. */
  readonly capacity: number;
  /** Bytes per slot, including headroom. */
  readonly slotSize: number;
  /** Bytes reserved in front of each packet read into a slot. */
  readonly headroom: number;
  /** Byte offset of packet k in `buffer`. */
  readonly offsets: Uint32Array;
  /** Length of packet k in bytes. */
  readonly lengths: Uint32Array;
  /** Peer IPv4 address of packet k (source on receive, destination on send), host-order u32. */
  readonly addrs: Uint32Array;
  /** Peer UDP port of packet k (source on receive, destination on send). */
  readonly ports: Uint16Array;
  /**
   * UDP GSO/GRO segment size of descriptor k (issue 5): on `sendBatchGso`, > 0 makes message k a
   * train of datagrams of this size (short tail last); on `recvBatchGro`, the segment size of the
   * GRO train descriptor k was split from (0 = a plain datagram).
   */
  readonly gsoSizes: Uint16Array;
  /**
   * Send lane of descriptor k: which socket of a source-port pool sends it (`--src-port flow`,
   * src/io/src-port-pool.ts; egress writes it from the inner flow's hash). Ignored elsewhere.
   */
  readonly lanes: Uint8Array;
  /** Length of the descriptor arrays: `capacity` unless more were asked for (GRO splits slots). */
  readonly descriptors: number;
  /** Number of valid descriptors. */
  count = 0;

  /**
   * PacketBatch allocates `capacity` slots of `slotSize` bytes (rounded up to 64) with
   * `headroom` bytes in front of each packet, and `descriptors` (>= capacity) descriptor slots: a
   * GRO receive describes each segment of a coalesced datagram separately, so it needs more
   * descriptors than slots.
   */
  constructor(
    capacity = DEFAULT_BATCH_SIZE,
    slotSize = DEFAULT_SLOT_SIZE,
    headroom = HEADROOM,
    descriptors = capacity,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`PacketBatch capacity ${capacity}`);
    const size = Math.ceil(slotSize / SLOT_ALIGN) * SLOT_ALIGN;
    if (!Number.isInteger(headroom) || headroom < 0 || headroom >= size) {
      throw new RangeError(`PacketBatch headroom ${headroom} must be in [0, slotSize ${size})`);
    }
    if (!Number.isInteger(descriptors) || descriptors < capacity) {
      throw new RangeError(`PacketBatch descriptors ${descriptors} must be >= capacity ${capacity}`);
    }
    this.capacity = capacity;
    this.descriptors = descriptors;
    this.slotSize = size;
    this.headroom = headroom;
    this.buffer = Buffer.allocUnsafeSlow(capacity * size);
    this.offsets = new Uint32Array(descriptors);
    this.lengths = new Uint32Array(descriptors);
    this.addrs = new Uint32Array(descriptors);
    this.ports = new Uint16Array(descriptors);
    this.gsoSizes = new Uint16Array(descriptors);
    this.lanes = new Uint8Array(descriptors);
  }

  /**
   * forPacketSize returns a batch whose slots hold packets of up to `maxPacket` bytes behind
   * `headroom` (e.g. the TUN MTU, or the underlay MTU on the receive side).
   */
  static forPacketSize(capacity: number, maxPacket: number, headroom = HEADROOM): PacketBatch {
    return new PacketBatch(capacity, headroom + maxPacket, headroom);
  }

  /** maxPacket is the largest packet a slot holds behind the headroom. */
  get maxPacket(): number {
    return this.slotSize - this.headroom;
  }

  /** dataOffset is where a read places the packet of slot `i`: i * slotSize + headroom. */
  dataOffset(i: number): number {
    return i * this.slotSize + this.headroom;
  }

  /** reset sets `count` to 0 (descriptors are overwritten by the next read). */
  reset(): void {
    this.count = 0;
  }

  /**
   * push copies `len` bytes of `src` at `off` into the next free slot behind the headroom and
   * appends its descriptor; returns false when the batch is full or the packet does not fit.
   * Copies: for tests, the dgram path and control-path senders, not the batched hot path.
   */
  push(src: Uint8Array, off: number, len: number, addr = 0, port = 0): boolean {
    const i = this.count;
    if (i >= this.capacity || len > this.maxPacket) return false;
    const at = this.dataOffset(i);
    this.buffer.set(src.subarray(off, off + len), at);
    this.offsets[i] = at;
    this.lengths[i] = len;
    this.addrs[i] = addr;
    this.ports[i] = port;
    this.count = i + 1;
    return true;
  }

  /** packet returns a view (no copy) of packet `i`; allocates a view, so not for the hot path. */
  packet(i: number): Buffer {
    const off = this.offsets[i]!;
    return this.buffer.subarray(off, off + this.lengths[i]!);
  }
}
