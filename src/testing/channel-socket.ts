/**
 * ChannelUdpNetwork / ChannelSocketPair: in-memory UDP sockets behind the `PacketIo` interface,
 * for unit tests and in-process benchmarks (after wireguard-go's conn/bindtest).
 *
 * A network delivers a datagram sent to `addr:port` to the socket bound there (copying it, as
 * the kernel would), or drops it silently when nothing is bound (UDP). `inject` delivers a
 * datagram from any source address, to test what a node does with frames from strangers.
 * `blockSends(n)` makes the next sendBatch take n packets and then report EAGAIN until
 * `unblock()`, to exercise backpressure.
 */
import { u32ToIpv4, ipv4ToU32 } from '../net/addr';
import { IoCounter, newIoCounters, type IoCounters } from '../io/counters';
import type { PacketBatch } from '../io/packet-batch';
import type { IoMode, PacketIo } from '../io/packet-io';
import { ReadableSignal } from './readable-signal';

interface Datagram {
  data: Buffer;
  from: number;
  port: number;
}

/** ChannelUdpNetwork is a set of in-memory sockets keyed by bound address and port. */
export class ChannelUdpNetwork {
  private readonly sockets = new Map<string, ChannelUdpSocket>();

  /** bind creates a socket bound to `address:port`; throws if taken. */
  bind(address: string, port: number): ChannelUdpSocket {
    const key = `${ipv4ToU32(address)}:${port}`;
    if (this.sockets.has(key)) throw new Error(`ChannelUdpNetwork: ${address}:${port} already bound`);
    const s = new ChannelUdpSocket(this, address, port);
    this.sockets.set(key, s);
    return s;
  }

  /** deliver hands a datagram to the socket bound at dst:port; false when none is (dropped). */
  deliver(dstU32: number, dstPort: number, data: Uint8Array, fromU32: number, fromPort: number): boolean {
    const s = this.sockets.get(`${dstU32 >>> 0}:${dstPort}`);
    if (s === undefined) return false;
    s.enqueue({ data: Buffer.from(data), from: fromU32 >>> 0, port: fromPort });
    return true;
  }

  /** inject delivers `data` to `dst:dstPort` as if sent from `from:fromPort` (any address). */
  inject(from: string, fromPort: number, dst: string, dstPort: number, data: Uint8Array): boolean {
    return this.deliver(ipv4ToU32(dst), dstPort, data, ipv4ToU32(from), fromPort);
  }

  /** unbind forgets a closed socket. */
  unbind(s: ChannelUdpSocket): void {
    this.sockets.delete(`${ipv4ToU32(s.address)}:${s.port}`);
  }
}

/** ChannelUdpSocket is one in-memory PacketIo endpoint of a ChannelUdpNetwork. */
export class ChannelUdpSocket implements PacketIo {
  /** Reported as 'batch': it moves whole batches per call. */
  readonly mode: IoMode = 'batch';
  /** Counters indexed by IoCounter. */
  readonly counters: IoCounters = newIoCounters();
  /** Every datagram this socket sent: payload copy, destination u32 and port. */
  readonly sent: Array<{ data: Buffer; addr: number; port: number }> = [];

  private readonly queue: Datagram[] = [];
  private readonly addrU32: number;
  private readonly readable = new ReadableSignal(() => this.queue.length > 0);
  private writableCb: (() => void) | null = null;
  private closed = false;
  private sendBudget = -1;

  /** Use ChannelUdpNetwork.bind. */
  constructor(
    private readonly net: ChannelUdpNetwork,
    readonly address: string,
    readonly port: number,
  ) {
    this.addrU32 = ipv4ToU32(address);
  }

  /** enqueue is the network's delivery hook. */
  enqueue(d: Datagram): void {
    if (this.closed) return;
    this.queue.push(d);
    this.readable.notify();
  }

  /** recvBatch copies queued datagrams into slots behind the headroom, with source addr/port. */
  recvBatch(batch: PacketBatch): number {
    let n = 0;
    this.counters[IoCounter.rxSyscalls]++;
    while (n < batch.capacity && this.queue.length > 0) {
      const d = this.queue.shift()!;
      if (d.data.length > batch.maxPacket) {
        this.counters[IoCounter.rxTruncated]++;
        continue;
      }
      const at = batch.dataOffset(n);
      d.data.copy(batch.buffer, at);
      batch.offsets[n] = at;
      batch.lengths[n] = d.data.length;
      batch.addrs[n] = d.from;
      batch.ports[n] = d.port;
      this.counters[IoCounter.rxPackets]++;
      this.counters[IoCounter.rxBytes] += d.data.length;
      n++;
    }
    if (this.queue.length === 0) this.counters[IoCounter.rxEagain]++;
    batch.count = n;
    return n;
  }

  /** sendBatch delivers [start, count); stops early (EAGAIN) while blocked, per PacketIo. */
  sendBatch(batch: PacketBatch, start = 0): number {
    this.counters[IoCounter.txSyscalls]++;
    for (let i = start; i < batch.count; i++) {
      if (this.sendBudget === 0) {
        this.counters[IoCounter.txEagain]++;
        return i;
      }
      if (this.sendBudget > 0) this.sendBudget--;
      const off = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      const port = batch.ports[i]!;
      if (port === 0 || off + len > batch.buffer.length) {
        this.counters[IoCounter.txErrors]++;
        continue;
      }
      // Head and tail, gathered as the addon's sendmmsg iovecs do (no trains: plain sends).
      const data = batch.gather(i, false);
      this.sent.push({ data, addr: batch.addrs[i]!, port });
      this.net.deliver(batch.addrs[i]!, port, data, this.addrU32, this.port);
      this.counters[IoCounter.txPackets]++;
      this.counters[IoCounter.txBytes] += data.length;
    }
    return batch.count;
  }

  /** blockSends lets the next `n` packets through, then reports EAGAIN until `unblock`. */
  blockSends(n: number): void {
    this.sendBudget = n;
  }

  /** unblock lifts `blockSends` and fires a pending onceWritable callback. */
  unblock(): void {
    this.sendBudget = -1;
    const cb = this.writableCb;
    this.writableCb = null;
    if (cb !== null) setImmediate(cb);
  }

  /** onReadable: see PacketIo. Level-triggered while datagrams are queued. */
  onReadable(cb: (() => void) | null): void {
    this.readable.set(cb);
  }

  /** onceWritable: fires on the next turn unless sends are blocked (then on `unblock`). */
  onceWritable(cb: (() => void) | null): void {
    this.writableCb = cb;
    if (cb !== null && this.sendBudget !== 0) {
      this.writableCb = null;
      setImmediate(cb);
    }
  }

  /** ref: no-op (nothing native keeps the loop alive). */
  ref(): void {}

  /** close stops callbacks and unbinds. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readable.set(null);
    this.writableCb = null;
    this.queue.length = 0;
    this.net.unbind(this);
  }

  /** toString names the socket (for messages). */
  toString(): string {
    return `chan-udp ${u32ToIpv4(this.addrU32)}:${this.port}`;
  }
}

/** ChannelSocketPair returns two sockets on one fresh network, bound to `a:port` and `b:port`. */
export function ChannelSocketPair(
  a = '192.0.2.1',
  b = '192.0.2.2',
  port = 8472,
): {
  net: ChannelUdpNetwork;
  a: ChannelUdpSocket;
  b: ChannelUdpSocket;
} {
  const net = new ChannelUdpNetwork();
  return { net, a: net.bind(a, port), b: net.bind(b, port) };
}
