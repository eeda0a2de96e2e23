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
 * Memory: everything lives in ONE ArrayBuffer, handed to the addon as `memory` (the batch's one
 * argument to every batch call):
 *
 *   | slots (`buffer`) | offsets | lengths | addrs | tailOffsets | tailLengths | ports | gsoSizes |
 *   | trains | pad | header (64 B) |
 *
 * The header, the last BATCH_HEADER_BYTES, says where each part starts (u32 words, `BatchHeader`);
 * the addon validates it against the memory's length on every call, so one typed-array access
 * gives it the whole batch and a damaged header is an argument error, never a wild access.
 *
 * Ownership: JS owns the batch. Native code borrows `memory` only for the duration of one call.
 */
import { HEADROOM } from '../encap/constants';

export { HEADROOM };

/** DEFAULT_BATCH_SIZE is the slot count of a batch when none is given (wireguard-go uses 128). */
export const DEFAULT_BATCH_SIZE = 64;

/** DEFAULT_SLOT_SIZE fits HEADROOM + a 1500-byte underlay frame with room to spare (2 KiB). */
export const DEFAULT_SLOT_SIZE = 2048;

/** SLOT_ALIGN keeps slots cache-line aligned. */
const SLOT_ALIGN = 64;

/** BATCH_HEADER_BYTES is the size of the layout header at the end of `PacketBatch.memory`. */
export const BATCH_HEADER_BYTES = 64;

/** BATCH_MAGIC marks a batch header ("WFTB" read as a little-endian u32). */
export const BATCH_MAGIC = 0x42544657;

/**
 * BatchHeader is the u32 word index of each header field (native/src/batch.cc reads the same
 * words; the ABI version covers them). Offsets are bytes from the start of `memory`.
 */
export const BatchHeader = {
  magic: 0,
  slotsBytes: 1,
  offsets: 2,
  lengths: 3,
  addrs: 4,
  ports: 5,
  gsoSizes: 6,
  descriptors: 7,
  slotSize: 8,
  headroom: 9,
  tailOffsets: 10,
  tailLengths: 11,
  trains: 12,
} as const;

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/** PacketBatch is a reusable batch of packet slots with its descriptor table. */
export class PacketBatch {
  /** The slots: `capacity * slotSize` bytes at the start of `memory` (byteOffset 0). */
  readonly buffer: Buffer;
  /** The whole batch (slots, descriptor arrays, header) as the addon receives it. */
  readonly memory: Uint8Array;
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
   * Scatter-gather: descriptor k continues with `buffer[tailOffsets[k], +tailLengths[k])` (0 = no
   * tail), so a segment's headers and its payload slice in the TUN super-packet go out as one
   * datagram without being copied together. Reads clear the tails of the descriptors they write.
   */
  readonly tailOffsets: Uint32Array;
  /** See `tailOffsets`. */
  readonly tailLengths: Uint32Array;
  /**
   * On `sendBatchGso`, `trains[k] >= 2` makes descriptors [k, k + trains[k]) one UDP GSO message
   * of `gsoSizes[k]`-byte datagrams, one per descriptor: each exactly `gsoSizes[k]` bytes (head +
   * tail) except the last (1..gsoSizes[k]). 0 or 1: descriptor k stands alone.
   */
  readonly trains: Uint16Array;
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
    const slotsBytes = capacity * size;
    const offsetsAt = slotsBytes;
    const lengthsAt = offsetsAt + 4 * descriptors;
    const addrsAt = lengthsAt + 4 * descriptors;
    const tailOffsetsAt = addrsAt + 4 * descriptors;
    const tailLengthsAt = tailOffsetsAt + 4 * descriptors;
    const portsAt = tailLengthsAt + 4 * descriptors;
    const gsoAt = portsAt + 2 * descriptors;
    const trainsAt = gsoAt + 2 * descriptors;
    const headerAt = align(trainsAt + 2 * descriptors, SLOT_ALIGN);
    // Own ArrayBuffer (not pooled); slots need no zeroing, descriptors and header do.
    const mem = Buffer.allocUnsafeSlow(headerAt + BATCH_HEADER_BYTES);
    mem.fill(0, slotsBytes);
    const ab = mem.buffer;
    this.memory = new Uint8Array(ab, 0, mem.length);
    this.buffer = Buffer.from(ab, 0, slotsBytes);
    this.offsets = new Uint32Array(ab, offsetsAt, descriptors);
    this.lengths = new Uint32Array(ab, lengthsAt, descriptors);
    this.addrs = new Uint32Array(ab, addrsAt, descriptors);
    this.ports = new Uint16Array(ab, portsAt, descriptors);
    this.gsoSizes = new Uint16Array(ab, gsoAt, descriptors);
    this.tailOffsets = new Uint32Array(ab, tailOffsetsAt, descriptors);
    this.tailLengths = new Uint32Array(ab, tailLengthsAt, descriptors);
    this.trains = new Uint16Array(ab, trainsAt, descriptors);
    // JS only (the source-port pool reads it): not part of the memory the addon sees.
    this.lanes = new Uint8Array(descriptors);
    const h = new Uint32Array(ab, headerAt, BATCH_HEADER_BYTES / 4);
    h[BatchHeader.magic] = BATCH_MAGIC;
    h[BatchHeader.slotsBytes] = slotsBytes;
    h[BatchHeader.offsets] = offsetsAt;
    h[BatchHeader.lengths] = lengthsAt;
    h[BatchHeader.addrs] = addrsAt;
    h[BatchHeader.ports] = portsAt;
    h[BatchHeader.gsoSizes] = gsoAt;
    h[BatchHeader.descriptors] = descriptors;
    h[BatchHeader.slotSize] = size;
    h[BatchHeader.headroom] = headroom;
    h[BatchHeader.tailOffsets] = tailOffsetsAt;
    h[BatchHeader.tailLengths] = tailLengthsAt;
    h[BatchHeader.trains] = trainsAt;
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
    this.tailLengths[i] = 0;
    this.trains[i] = 0;
    this.count = i + 1;
    return true;
  }

  /**
   * packetEnd is the descriptor after the TUN packet that starts at descriptor `i`: `i + trains[i]`
   * for a train (a gathered super-packet), else `i + 1`.
   */
  packetEnd(i: number): number {
    const t = this.trains[i]!;
    return t >= 2 ? i + t : i + 1;
  }

  /**
   * gather copies what one write of descriptor `i` sends into a new Buffer: its head and tail, or,
   * with `train` and `trains[i] >= 2`, the heads and tails of the whole train. Allocates: for
   * fakes, tests and control paths, not the batched hot path.
   */
  gather(i: number, train = true): Buffer {
    const end = train ? this.packetEnd(i) : i + 1;
    const parts: Buffer[] = [];
    for (let k = i; k < end; k++) {
      const o = this.offsets[k]!;
      parts.push(this.buffer.subarray(o, o + this.lengths[k]!));
      const tl = this.tailLengths[k]!;
      if (tl > 0) parts.push(this.buffer.subarray(this.tailOffsets[k]!, this.tailOffsets[k]! + tl));
    }
    return Buffer.concat(parts);
  }

  /** packet returns a view (no copy) of packet `i`; allocates a view, so not for the hot path. */
  packet(i: number): Buffer {
    const off = this.offsets[i]!;
    return this.buffer.subarray(off, off + this.lengths[i]!);
  }
}
