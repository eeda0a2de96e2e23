/**
 * replay-devices: a TUN device and a UDP socket that hand the dataplane the same packets again
 * and again without allocating, so a benchmark or a test can push millions of packets through
 * Egress / Ingress and measure what the dataplane itself allocates per packet.
 *
 * Each `arm()` makes one wakeup's worth of packets readable: the next read copies them into the
 * batch's slots (a real copy, as the kernel's read() does, but with TypedArray.set from
 * preallocated sources: no allocation), and the read after that reports empty. Writes and sends
 * take everything and count it. The ChannelTun / ChannelSocketPair fakes copy each packet into a
 * new Buffer, which is what makes them useful in functional tests and useless here.
 */
import { IoCounter, newIoCounters, type IoCounters } from '../io/counters';
import type { PacketBatch } from '../io/packet-batch';
import type { TunDevice } from '../io/tun-device';
import type { PacketIo } from '../io/packet-io';

/** fill copies `count` (at most the capacity) of `packets`, round robin, into `batch`; returns the count. */
function fill(
  batch: PacketBatch,
  packets: readonly Uint8Array[],
  count: number,
  addr: number,
  port: number,
): number {
  const n = Math.min(count, batch.capacity);
  const buf = batch.buffer;
  for (let i = 0; i < n; i++) {
    const p = packets[i % packets.length]!;
    const at = batch.dataOffset(i);
    buf.set(p, at);
    batch.offsets[i] = at;
    batch.lengths[i] = p.length;
    batch.addrs[i] = addr;
    batch.ports[i] = port;
  }
  batch.count = n;
  return n;
}

/** ReplayTun is a TunDevice whose reads replay `packets`, `perWakeup` per `arm()`. */
export class ReplayTun implements TunDevice {
  readonly counters: IoCounters = newIoCounters();
  /** Packets written into the device (by the ingress path, or ICMP replies). */
  written = 0;
  private armed = 0;

  constructor(
    private readonly packets: readonly Uint8Array[],
    private readonly perWakeup: number,
    readonly name = 'replay0',
  ) {
    if (packets.length === 0) throw new RangeError('ReplayTun needs at least one packet');
  }

  /** arm makes `perWakeup` packets readable (the next readBatch returns them). */
  arm(): void {
    this.armed = this.perWakeup;
  }

  readBatch(batch: PacketBatch): number {
    this.counters[IoCounter.rxSyscalls]++;
    const n = this.armed === 0 ? (batch.count = 0) : fill(batch, this.packets, this.armed, 0, 0);
    this.armed -= n;
    this.counters[IoCounter.rxPackets] += n;
    return n;
  }

  writeBatch(batch: PacketBatch, start = 0, end = batch.count, status?: Uint8Array): number {
    if (status !== undefined) for (let i = start; i < end; i++) status[i] = 1;
    const n = Math.max(0, end - start);
    this.written += n;
    this.counters[IoCounter.txPackets] += n;
    return n;
  }

  /** Readiness is the caller's: it calls `arm()` and then the dataplane's `drain()` itself. */
  onReadable(): void {}

  close(): void {}
}

/** ReplaySocket is a PacketIo whose receives replay `frames` from `addr`, `perWakeup` per `arm()`. */
export class ReplaySocket implements PacketIo {
  readonly mode = 'batch' as const;
  readonly address = '0.0.0.0';
  readonly port = 8472;
  readonly counters: IoCounters = newIoCounters();
  /** Datagrams sent (the egress path's output). */
  sent = 0;
  private armed = 0;

  constructor(
    private readonly frames: readonly Uint8Array[],
    private readonly perWakeup: number,
    /** Sender's IPv4 (host order) every replayed datagram carries. */
    private readonly addr = 0,
  ) {}

  /** arm makes `perWakeup` datagrams readable. */
  arm(): void {
    this.armed = this.perWakeup;
  }

  recvBatch(batch: PacketBatch): number {
    this.counters[IoCounter.rxSyscalls]++;
    if (this.frames.length === 0 || this.armed === 0) {
      batch.count = 0;
      return 0;
    }
    const n = fill(batch, this.frames, this.armed, this.addr, this.port);
    this.armed -= n;
    this.counters[IoCounter.rxPackets] += n;
    return n;
  }

  sendBatch(batch: PacketBatch, start = 0): number {
    const n = Math.max(0, batch.count - start);
    this.sent += n;
    this.counters[IoCounter.txPackets] += n;
    return batch.count;
  }

  onReadable(): void {}
  onceWritable(): void {}
  ref(): void {}
  close(): void {}
}
