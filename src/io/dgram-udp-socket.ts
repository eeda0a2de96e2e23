/**
 * dgram-udp-socket: the `--io dgram` PacketIo, built on Node's `dgram`: one send() per packet,
 * one 'message' event per datagram. The simple path for debugging and teaching, and the
 * baseline the batched path is measured against. TUN I/O still goes through the addon.
 *
 * Design notes:
 * - Receive: each 'message' (a fresh Buffer + rinfo, Node's per-packet cost) is queued in a
 *   bounded ring; readiness is signalled once per event-loop turn (setImmediate), and
 *   recvBatch copies queued datagrams into the batch's slots. A full ring drops (rxDropped).
 * - Send: dgram may queue a datagram inside libuv after send() returns, so each packet is copied
 *   out of the batch first (the batch is reused immediately). Errors arrive synchronously (bad
 *   port) or in the send callback; both are counted in txErrors, never thrown.
 * - Counters keep the batch path's meaning where it exists: rxSyscalls/txSyscalls count
 *   'message' events and send() calls; txEagain stays 0 (dgram queues instead).
 */
import dgram from 'node:dgram';
import { SystemError } from '../errors';
import { tryIpv4ToU32, u32ToIpv4 } from '../net/addr';
import { IoCounter, IoCounters, newIoCounters } from './counters';
import { PacketBatch } from './packet-batch';
import type { IoMode, PacketIo, UdpBindOptions } from './packet-io';

/** DGRAM_QUEUE_LIMIT bounds datagrams received but not yet taken by recvBatch. */
export const DGRAM_QUEUE_LIMIT = 4096;

/** DgramUdpSocket is a PacketIo over node:dgram. */
export class DgramUdpSocket implements PacketIo {
  /** Always 'dgram'. */
  readonly mode: IoMode = 'dgram';
  /** Counters indexed by `IoCounter`. */
  readonly counters: IoCounters = newIoCounters();
  private readonly qBufs: (Buffer | null)[] = new Array<Buffer | null>(DGRAM_QUEUE_LIMIT).fill(null);
  private readonly qAddrs = new Uint32Array(DGRAM_QUEUE_LIMIT);
  private readonly qPorts = new Uint16Array(DGRAM_QUEUE_LIMIT);
  private qHead = 0;
  private qLen = 0;
  private readableCb: (() => void) | null = null;
  private scheduled: NodeJS.Immediate | null = null;
  private closed = false;
  private readonly onSendDone = (err: Error | null, bytes: number): void => {
    if (err) {
      this.counters[IoCounter.txErrors]++;
      const errno = (err as NodeJS.ErrnoException).errno;
      if (typeof errno === 'number') this.counters[IoCounter.lastErrno] = Math.abs(errno);
    } else {
      this.counters[IoCounter.txPackets]++;
      this.counters[IoCounter.txBytes] += bytes;
    }
  };

  private constructor(
    private readonly socket: dgram.Socket,
    /** Bound local address. */
    readonly address: string,
    /** Bound local port. */
    readonly port: number,
  ) {
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    // After binding, socket errors are per packet (e.g. ICMP-reported); never crash on them.
    socket.on('error', () => {
      this.counters[IoCounter.rxErrors]++;
    });
  }

  /**
   * bind creates and binds a udp4 socket. Rejects with SystemError (`bind` EADDRINUSE, ...).
   * `reusePort` is not supported by node:dgram on Node 20 and is ignored.
   */
  static bind(opts: UdpBindOptions): Promise<DgramUdpSocket> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({
        type: 'udp4',
        reuseAddr: opts.reuseAddr === true,
        ...(opts.recvBufferSize ? { recvBufferSize: opts.recvBufferSize } : {}),
        ...(opts.sendBufferSize ? { sendBufferSize: opts.sendBufferSize } : {}),
      });
      const onError = (err: NodeJS.ErrnoException): void => {
        socket.close();
        reject(new SystemError(err.syscall ?? 'bind', err.code ?? 'UNKNOWN', `${opts.address}:${opts.port}`));
      };
      socket.once('error', onError);
      socket.bind({ address: opts.address, port: opts.port, exclusive: true }, () => {
        socket.removeListener('error', onError);
        const a = socket.address();
        resolve(new DgramUdpSocket(socket, a.address, a.port));
      });
    });
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.counters[IoCounter.rxSyscalls]++;
    if (this.qLen === DGRAM_QUEUE_LIMIT) {
      this.counters[IoCounter.rxDropped]++;
      return;
    }
    const at = (this.qHead + this.qLen) % DGRAM_QUEUE_LIMIT;
    this.qBufs[at] = msg;
    this.qAddrs[at] = tryIpv4ToU32(rinfo.address) >>> 0;
    this.qPorts[at] = rinfo.port;
    this.qLen++;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled !== null || this.readableCb === null || this.qLen === 0) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = null;
      const cb = this.readableCb;
      if (cb !== null && this.qLen > 0) cb();
      this.schedule(); // level-triggered, like the poll handle: fire again while data is queued
    });
  }

  /** recvBatch: see PacketIo.recvBatch. Copies each queued datagram into its slot. */
  recvBatch(batch: PacketBatch): number {
    const c = this.counters;
    const max = batch.maxPacket;
    let n = 0;
    while (n < batch.capacity && this.qLen > 0) {
      const at = this.qHead;
      const msg = this.qBufs[at]!;
      this.qBufs[at] = null;
      this.qHead = (at + 1) % DGRAM_QUEUE_LIMIT;
      this.qLen--;
      if (msg.length > max) {
        c[IoCounter.rxTruncated]++;
        continue;
      }
      const off = batch.dataOffset(n);
      msg.copy(batch.buffer, off);
      batch.offsets[n] = off;
      batch.lengths[n] = msg.length;
      batch.addrs[n] = this.qAddrs[at]!;
      batch.ports[n] = this.qPorts[at]!;
      c[IoCounter.rxPackets]++;
      c[IoCounter.rxBytes] += msg.length;
      n++;
    }
    batch.count = n;
    return n;
  }

  /** sendBatch: see PacketIo.sendBatch. One copy and one send() per packet; always returns batch.count. */
  sendBatch(batch: PacketBatch, start = 0): number {
    const c = this.counters;
    const buf = batch.buffer;
    for (let i = start; i < batch.count; i++) {
      const off = batch.offsets[i]!;
      const len = batch.lengths[i]!;
      if (off + len > buf.length) {
        c[IoCounter.txErrors]++;
        continue;
      }
      const copy = Buffer.from(buf.subarray(off, off + len));
      c[IoCounter.txSyscalls]++;
      try {
        this.socket.send(copy, batch.ports[i]!, u32ToIpv4(batch.addrs[i]!), this.onSendDone);
      } catch {
        // Synchronous refusals: bad port (0), socket closed.
        c[IoCounter.txErrors]++;
      }
    }
    return batch.count;
  }

  /** onReadable: see PacketIo.onReadable. */
  onReadable(cb: (() => void) | null): void {
    this.readableCb = cb;
    this.schedule();
  }

  /** onceWritable: dgram queues instead of refusing, so this fires on the next loop turn. */
  onceWritable(cb: (() => void) | null): void {
    if (cb !== null) setImmediate(cb);
  }

  /** ref: see PacketIo.ref. */
  ref(on = true): void {
    if (on) this.socket.ref();
    else this.socket.unref();
  }

  /** close closes the socket and forgets queued datagrams. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readableCb = null;
    if (this.scheduled !== null) clearImmediate(this.scheduled);
    this.scheduled = null;
    this.qBufs.fill(null);
    this.qLen = 0;
    this.socket.close();
  }
}
