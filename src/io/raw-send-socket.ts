/**
 * raw-send-socket: the send side of `--src-port flow` with `--io dgram` (with `--io batch` it is
 * src-port-pool.ts, which keeps UDP GSO). A send-only raw IPv4 socket
 * (`socket(AF_INET, SOCK_RAW, IPPROTO_RAW)`, which implies IP_HDRINCL): each descriptor is a whole
 * IPv4 datagram whose outer IPv4 + UDP header egress wrote itself (src/encap/outer.ts), so the UDP
 * source port can be a hash of the inner flow (RFC 7348 §5) instead of the bound socket's port.
 *
 * Design notes:
 * - Such a socket never receives (raw(7)); ingress stays on the bound UDP socket. `recvBatch`
 *   returns 0 and `onReadable` is ignored.
 * - One `sendmmsg` per batch (one native call), per-packet destination from `batch.addrs`;
 *   `batch.ports` is ignored (the port is in the header). Counters and EAGAIN/backpressure exactly
 *   as BatchUdpSocket.sendBatch (see PacketIo.sendBatch).
 * - Needs CAP_NET_RAW: `open` throws SystemError(`socket`, EPERM) without it.
 */
import { callNative, loadBinding, type NativeBinding } from './binding';
import { newIoCounters, type IoCounters } from './counters';
import { FdPoller } from './fd-poller';
import type { PacketBatch } from './packet-batch';
import type { IoMode, PacketIo } from './packet-io';

/** RawSendSocket is a non-blocking, send-only raw IPv4 socket with batched sends; see the module comment. */
export class RawSendSocket implements PacketIo {
  /** The batch implementation family (native sendmmsg). */
  readonly mode: IoMode = 'batch';
  /** Counters indexed by `IoCounter` (only the tx slots move). */
  readonly counters: IoCounters = newIoCounters();
  /** Raw sockets are not bound: '0.0.0.0'. */
  readonly address = '0.0.0.0';
  /** Raw sockets have no port: 0. */
  readonly port = 0;
  private readonly b: NativeBinding;
  private readonly poller: FdPoller;
  private closed = false;

  private constructor(
    /** The socket fd. */
    readonly fd: number,
    /** SO_SNDBUF as the kernel reported it. */
    readonly sendBufferSize: number,
  ) {
    this.b = loadBinding();
    this.poller = new FdPoller(fd);
  }

  /** open creates the socket; throws SystemError (`socket` EPERM without CAP_NET_RAW). */
  static open(sendBufferSize = 0): RawSendSocket {
    const b = loadBinding();
    const r = callNative(() => b.rawOpen(sendBufferSize));
    return new RawSendSocket(r.fd, r.sndBuf);
  }

  /** recvBatch always returns 0: a raw IPPROTO_RAW socket never receives. */
  recvBatch(batch: PacketBatch): number {
    batch.count = 0;
    return 0;
  }

  /** sendBatch sends whole IPv4 datagrams [start, count) to `addrs[k]`; see PacketIo.sendBatch. */
  sendBatch(batch: PacketBatch, start = 0): number {
    return this.b.rawSend(this.fd, batch.memory, start, batch.count, this.counters);
  }

  /** onReadable is ignored (nothing is ever received). */
  onReadable(_cb: (() => void) | null): void {}

  /** onceWritable: see PacketIo.onceWritable. */
  onceWritable(cb: (() => void) | null): void {
    this.poller.onceWritable(cb);
  }

  /** ref: see PacketIo.ref. */
  ref(on = true): void {
    this.poller.ref(on);
  }

  /** close stops the poll handle, then closes the fd. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller.close();
    callNative(() => this.b.closeFd(this.fd));
  }
}
