/**
 * batch-udp-socket: the `--io batch` PacketIo. A UDP socket owned by the addon (not libuv's),
 * received with recvmmsg and sent with sendmmsg, one native call per batch.
 *
 * Design notes:
 * - The addon owns the fd so that UDP_SEGMENT (GSO) and UDP_GRO can be added without libuv's
 *   uv_udp_t in the way (issue 5); `setOption`/`getOption` already reach those socket options.
 * - Per-packet send failures (e.g. EINVAL for port 0, ENETUNREACH) are counted in txErrors and
 *   skipped; a partial sendmmsg is retried from the first unsent packet; EAGAIN stops the batch
 *   and is reported through the return value (see PacketIo.sendBatch).
 */
import { callNative, loadBinding, NativeBinding } from './binding';
import { IoCounters, newIoCounters } from './counters';
import { FdPoller } from './fd-poller';
import { PacketBatch } from './packet-batch';
import type { IoMode, PacketIo, UdpBindOptions } from './packet-io';
import { GsoState, newGsoState } from './gso-state';

/** BatchUdpSocket is a bound, non-blocking IPv4 UDP socket with batched I/O. */
export class BatchUdpSocket implements PacketIo {
  /** Always 'batch'. */
  readonly mode: IoMode = 'batch';
  /** Counters indexed by `IoCounter`. */
  readonly counters: IoCounters = newIoCounters();
  /** UDP GSO/GRO state indexed by `GsoState` (native updates it in place; see `offloads`). */
  readonly gsoState: Float64Array = newGsoState();
  private groOn = false;
  private readonly b: NativeBinding;
  private readonly poller: FdPoller;
  private closed = false;

  private constructor(
    /** The socket fd. */
    readonly fd: number,
    /** Bound local address. */
    readonly address: string,
    /** Bound local port. */
    readonly port: number,
    /** SO_RCVBUF as the kernel reported it after binding. */
    readonly recvBufferSize: number,
    /** SO_SNDBUF as the kernel reported it after binding. */
    readonly sendBufferSize: number,
  ) {
    this.b = loadBinding();
    this.poller = new FdPoller(fd);
  }

  /**
   * bindSync creates and binds the socket. Throws SystemError (`bind` EADDRINUSE / EADDRNOTAVAIL,
   * `inet_pton` EINVAL for a bad address, ...).
   */
  static bindSync(opts: UdpBindOptions): BatchUdpSocket {
    const b = loadBinding();
    const r = callNative(() =>
      b.udpOpen(
        opts.address,
        opts.port,
        opts.reuseAddr === true,
        opts.reusePort === true,
        opts.recvBufferSize ?? 0,
        opts.sendBufferSize ?? 0,
      ),
    );
    return new BatchUdpSocket(r.fd, r.address, r.port, r.rcvBuf, r.sndBuf);
  }

  /** bind is `bindSync` behind a Promise, matching DgramUdpSocket.bind. */
  static async bind(opts: UdpBindOptions): Promise<BatchUdpSocket> {
    return BatchUdpSocket.bindSync(opts);
  }

  /**
   * attachReuseportProgram attaches classic BPF `prog` (struct sock_filter[], see
   * src/io/reuseport-bpf.ts) to this socket's SO_REUSEPORT group: it picks the socket, by its
   * order of joining the group, for each datagram. Throws SystemError (`setsockopt`).
   */
  attachReuseportProgram(prog: Uint8Array): void {
    callNative(() => this.b.udpAttachReuseportCbpf(this.fd, prog));
  }

  /** recvBatch: see PacketIo.recvBatch. One recvmmsg per `MMSG_CHUNK` (256) datagrams. */
  recvBatch(batch: PacketBatch): number {
    const n = this.b.udpRecv(this.fd, batch.memory, 0, batch.capacity, this.counters);
    batch.count = n;
    return n;
  }

  /** sendBatch: see PacketIo.sendBatch. One sendmmsg per `MMSG_CHUNK` (256) packets (plus retries). */
  sendBatch(batch: PacketBatch, start = 0): number {
    return this.b.udpSend(this.fd, batch.memory, start, batch.count, this.counters);
  }

  /**
   * enableGro turns on UDP_GRO (setsockopt SOL_UDP): the kernel may then deliver several
   * same-flow datagrams as one, which `recvBatchGro` splits again. Returns false (and leaves the
   * socket as it was) when the kernel refuses. Receive slots must then hold 65535 bytes.
   */
  enableGro(): boolean {
    const k = udpConstants();
    try {
      this.b.udpSetOpt(this.fd, k.SOL_UDP, k.UDP_GRO, 1);
      this.groOn = true;
    } catch {
      this.groOn = false;
    }
    return this.groOn;
  }

  /**
   * gsoSupported probes UDP_SEGMENT with getsockopt (Linux >= 4.18). A kernel that accepts the
   * option may still refuse a GSO send (EIO without checksum offload); `sendBatchGso` then falls
   * back to plain datagrams by itself and `offloads().gsoRefused` names the errno.
   */
  gsoSupported(): boolean {
    const k = udpConstants();
    try {
      this.b.udpGetOpt(this.fd, k.SOL_UDP, k.UDP_SEGMENT);
      return this.gsoState[GsoState.disabledErrno] === 0;
    } catch {
      return false;
    }
  }

  /**
   * resetMtuSplit lets trains of every segment size try GSO again, after the sender has cut its
   * segments to a new path MTU (a segment the kernel refused with EMSGSIZE set a threshold).
   */
  resetMtuSplit(): void {
    this.gsoState[GsoState.splitFrom] = 0;
  }

  /** offloads reports what this socket uses now: GSO (until the kernel refused it) and GRO. */
  offloads(): { gso: boolean; gro: boolean; gsoRefused: string | null } {
    const e = this.gsoState[GsoState.disabledErrno]!;
    return { gso: e === 0, gro: this.groOn, gsoRefused: e === 0 ? null : this.b.errnoName(e) };
  }

  /**
   * recvBatchGro is `recvBatch` with UDP_GRO trains split: at most `batch.capacity` datagrams are
   * received, and each train becomes one descriptor per segment (no copy; `gsoSizes[d]` = segment
   * size, 0 for plain datagrams), up to `batch.descriptors`. Returns and sets `batch.count`.
   * `slots` (default and upper bound `batch.capacity`) limits reception to the first slots, so the
   * rest of the buffer can hold other data.
   */
  recvBatchGro(batch: PacketBatch, slots = batch.capacity): number {
    const end = slots < batch.capacity ? slots : batch.capacity;
    const n = this.b.udpRecv(this.fd, batch.memory, 0, end, this.counters, this.gsoState);
    batch.count = n;
    return n;
  }

  /**
   * sendBatchGso is `sendBatch` where descriptor k with `gsoSizes[k] > 0` is one UDP_SEGMENT
   * train of `gsoSizes[k]`-byte datagrams (equal sizes, shorter tail last, at most 64, at most
   * 65507 bytes). Falls back to plain datagrams when the kernel refuses (see `offloads`); a
   * train refused with EMSGSIZE (a segment over the MTU) is sent as plain datagrams, which the
   * kernel fragments, and counted in `gsoState[GsoState.mtuSplits]`.
   */
  sendBatchGso(batch: PacketBatch, start = 0): number {
    return this.b.udpSend(this.fd, batch.memory, start, batch.count, this.counters, this.gsoState);
  }

  /** onReadable: see PacketIo.onReadable. */
  onReadable(cb: (() => void) | null): void {
    this.poller.onReadable(cb);
  }

  /** onceWritable: see PacketIo.onceWritable. */
  onceWritable(cb: (() => void) | null): void {
    this.poller.onceWritable(cb);
  }

  /** ref: see PacketIo.ref. */
  ref(on = true): void {
    this.poller.ref(on);
  }

  /** setOption sets an int socket option (e.g. SOL_UDP/UDP_GRO from `udpConstants()`). Throws SystemError. */
  setOption(level: number, name: number, value: number): void {
    callNative(() => this.b.udpSetOpt(this.fd, level, name, value));
  }

  /** getOption reads an int socket option. Throws SystemError. */
  getOption(level: number, name: number): number {
    return callNative(() => this.b.udpGetOpt(this.fd, level, name));
  }

  /** close stops the poll handle, then closes the fd. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller.close();
    callNative(() => this.b.closeFd(this.fd));
  }
}

/** udpConstants returns the addon's socket-option numbers (SOL_UDP, UDP_SEGMENT, UDP_GRO, ...). */
export function udpConstants(): NativeBinding['udpConstants'] {
  return loadBinding().udpConstants;
}
