/**
 * tun: a Linux TUN device (layer 3, IFF_TUN | IFF_NO_PI) opened through the addon, read and
 * written in batches.
 *
 * Design notes:
 * - The fd is non-blocking. `readBatch` loops read() until EAGAIN or the batch is full, in one
 *   native call (TUN fds have no recvmmsg); `writeBatch` does one write() per packet, also in
 *   one call. Per-packet failures are counted in `counters`, never thrown.
 * - `useUring` moves batches to io_uring (native/src/uring.cc): the same reads and writes, many
 *   per io_uring_enter, so small packets stop costing a system call each. Writes of 4 or more
 *   packets and reads after a deep read use the ring; small ones stay on the loop, which is
 *   cheaper there. `ioMode` says which is in use; where the kernel refuses io_uring (seccomp,
 *   kernel.io_uring_disabled) the plain loop stays.
 * - `vnetHdr` / `multiQueue` and `setOffload` / `setVnetHdrSize` exist for the offload work
 *   (issue 5): with IFF_VNET_HDR every read and write carries a virtio_net_hdr
 *   (`TUN_CONSTANTS.VIRTIO_NET_HDR_LEN` bytes) in front of the packet; the caller accounts for it.
 * - The device lives as long as the fd (not persistent): `close()` removes it, and with it its
 *   addresses and routes.
 * - Addresses, link state and routes are set with iproute2 (src/io/netdev.ts).
 */
import { SystemError } from '../errors';
import { callNative, loadBinding, NativeBinding, type NativeUring } from './binding';
import { nonTunDevice } from './tun-conflict';
import { IoCounters, newIoCounters } from './counters';
import { FdPoller } from './fd-poller';
import { PacketBatch } from './packet-batch';

/** TunOptions are the optional TUNSETIFF flags beyond IFF_TUN | IFF_NO_PI. */
export interface TunOptions {
  /** IFF_VNET_HDR: prefix every packet with a virtio_net_hdr (for TSO/GRO offloads). */
  vnetHdr?: boolean;
  /** IFF_MULTI_QUEUE: open one queue of a multi-queue device (open again for more queues). */
  multiQueue?: boolean;
}

/** tunConstants returns the addon's TUN constants (IFF_*, TUNSETOFFLOAD TUN_F_* bits, virtio header size). */
export function tunConstants(): NativeBinding['tunConstants'] {
  return loadBinding().tunConstants;
}

/** TunIoMode is how a Tun moves packets: one read()/write() per packet, or batched in io_uring. */
export type TunIoMode = 'readv' | 'io_uring';

/** TUN_IO_ENV names the environment variable that picks the TUN I/O: `io_uring` (default) or `readv`. */
export const TUN_IO_ENV = 'WEFT_TUN_IO';

/**
 * URING_READ_MIN_DEPTH / URING_WRITE_MIN_BATCH: with io_uring on, a read goes through the ring
 * only after a read that returned at least this many packets, and a write batch only when it has
 * at least this many; below, the read()/write() loop is cheaper (measured by bench/tun-io.ts).
 */
export const URING_READ_MIN_DEPTH = 32;
export const URING_WRITE_MIN_BATCH = 4;

/** Tun is one open TUN device queue. */
export class Tun {
  /** Counters, indexed by `IoCounter`; updated by readBatch/writeBatch without extra calls. */
  readonly counters: IoCounters = newIoCounters();
  private readonly b: NativeBinding;
  private readonly poller: FdPoller;
  private closed = false;
  private ring: NativeUring | null = null;
  /** Packets the previous readBatch returned: how deep the queue was last time. */
  private lastRead = 0;
  /** Batches (reads and writes) that went through the io_uring: how much the ring is used. */
  ringCalls = 0;
  /** Why the last `useUring` could not switch to io_uring (null: never refused). */
  ioRefused: string | null = null;
  /**
   * Whether writes may carry GSO_UDP_L4 super-packets (the kernel took TUN_F_USO4|TUN_F_USO6;
   * set by the opener's probe, src/dataplane/queue-devices.ts), and why not when it refused.
   */
  uso = false;
  usoRefused: string | null = null;

  private constructor(
    /** The device fd (non-blocking). */
    readonly fd: number,
    /** The device name the kernel assigned. */
    readonly name: string,
    /** Whether reads and writes carry a virtio_net_hdr. */
    readonly vnetHdr: boolean,
  ) {
    this.b = loadBinding();
    this.poller = new FdPoller(fd);
  }

  /**
   * open creates (or attaches to) TUN device `name` (at most 15 bytes; a pattern such as
   * `weft%d` lets the kernel pick). Throws SystemError (`open`/`TUNSETIFF`, e.g. EPERM without
   * CAP_NET_ADMIN, ENAMETOOLONG, EBUSY); a name held by a device that is not TUN gets a message
   * saying which kind it is and how to free the name.
   */
  static open(name: string, opts: TunOptions = {}): Tun {
    const b = loadBinding();
    let r;
    try {
      r = callNative(() => b.tunOpen(name, opts.vnetHdr === true, opts.multiQueue === true));
    } catch (err) {
      const kind = err instanceof SystemError && err.errno === 'EINVAL' ? nonTunDevice(name) : undefined;
      if (kind === undefined) throw err;
      throw new SystemError(
        'TUNSETIFF',
        'EINVAL',
        `device ${name} already exists and is a ${kind} device, not TUN: choose another name, ` +
          `or remove it with: ip link del ${name}`,
      );
    }
    return new Tun(r.fd, r.name, opts.vnetHdr === true);
  }

  /** mtu reads the device MTU (SIOCGIFMTU). Control path. */
  get mtu(): number {
    return callNative(() => this.b.ifGetMtu(this.name));
  }

  /** setMtu sets the device MTU (SIOCSIFMTU). Control path; netdev.setMtu does the same via iproute2. */
  setMtu(mtu: number): void {
    callNative(() => this.b.ifSetMtu(this.name, mtu));
  }

  /**
   * readBatch reads up to `batch.capacity` packets, each into its slot behind the headroom,
   * sets `batch.count` and returns it (0 when nothing is queued). One native call. `max` (default
   * and upper bound `batch.capacity`) limits the read to the first `max` slots, so the rest of the
   * buffer can hold other data (the offload path's segment region).
   */
  readBatch(batch: PacketBatch, max = batch.capacity): number {
    const m = max < batch.capacity ? max : batch.capacity;
    const ring = this.ring;
    // The ring only pays on a deep queue: it has to guess how many reads to submit, and at a
    // depth of a few packets the guess costs more than the system calls it saves (bench/tun-io.ts).
    const viaRing = ring !== null && this.lastRead >= URING_READ_MIN_DEPTH;
    if (viaRing) this.ringCalls++;
    const n = viaRing
      ? this.b.uringTunRead!(ring, this.fd, batch.memory, 0, m, this.counters)
      : this.b.tunRead(this.fd, batch.memory, 0, m, this.counters);
    this.lastRead = n;
    batch.count = n;
    return n;
  }

  /**
   * writeBatch writes packets [start, end) of `batch` (default: all `count`), one write() each
   * (submitted through the ring in one io_uring_enter when io_uring is on and the batch has at
   * least URING_WRITE_MIN_BATCH packets), and returns how many the kernel took. A refused packet is counted (txEagain / txErrors) and
   * skipped; with `status`, status[i] says whether packet i was taken (1) or not (0). One native call.
   */
  writeBatch(batch: PacketBatch, start = 0, end = batch.count, status?: Uint8Array): number {
    const ring = this.ring;
    const viaRing = ring !== null && end - start >= URING_WRITE_MIN_BATCH;
    if (viaRing) this.ringCalls++;
    return viaRing
      ? this.b.uringTunWrite!(ring, this.fd, batch.memory, start, end, this.counters, status)
      : this.b.tunWrite(this.fd, batch.memory, start, end, this.counters, status);
  }

  /** ioMode is how reads and writes reach the kernel now. */
  get ioMode(): TunIoMode {
    return this.ring !== null ? 'io_uring' : 'readv';
  }

  /**
   * useUring moves reads and writes onto an io_uring of `entries` entries (one per packet in
   * flight; a batch larger than the ring takes several io_uring_enter calls). Returns null when
   * it is in use, or why not (an addon without it, or the kernel's errno): the plain loop stays.
   */
  useUring(entries = 256): string | null {
    if (this.ring !== null) return null;
    const b = this.b;
    if (
      b.uringOpen === undefined ||
      b.uringProbe === undefined ||
      b.uringTunRead === undefined ||
      b.uringTunWrite === undefined
    ) {
      return (this.ioRefused =
        'the native addon was built without io_uring (rebuild with liburing-dev installed)');
    }
    let ring: NativeUring;
    try {
      ring = callNative(() => b.uringOpen!(entries));
    } catch (err) {
      return (this.ioRefused = err instanceof Error ? err.message : String(err));
    }
    const errno = b.uringProbe(ring, this.fd);
    if (errno !== 0) {
      b.uringClose?.(ring);
      return (this.ioRefused = `non-blocking reads through io_uring refused: ${b.errnoName(errno)}`);
    }
    this.ring = ring;
    return null;
  }

  /** onReadable runs `cb` whenever packets are waiting (null stops watching); drain with readBatch. */
  onReadable(cb: (() => void) | null): void {
    this.poller.onReadable(cb);
  }

  /** ref/unref: whether watching this device keeps the process alive. */
  ref(on = true): void {
    this.poller.ref(on);
  }

  /** setOffload sets TUNSETOFFLOAD flags (TUN_F_*); needs `vnetHdr`. Throws SystemError. */
  setOffload(flags: number): void {
    callNative(() => this.b.tunSetOffload(this.fd, flags));
  }

  /** setVnetHdrSize sets TUNSETVNETHDRSZ (10, or 12 for the mergeable-buffers header). */
  setVnetHdrSize(size: number): void {
    callNative(() => this.b.tunSetVnetHdrSz(this.fd, size));
  }

  /** features returns the IFF_* flags the driver supports (TUNGETFEATURES). */
  features(): number {
    return callNative(() => this.b.tunGetFeatures(this.fd));
  }

  /** setQueueAttached attaches or detaches this queue of a multi-queue device (TUNSETQUEUE). */
  setQueueAttached(attach: boolean): void {
    callNative(() => this.b.tunSetQueue(this.fd, attach));
  }

  /** close stops the poll handle, then closes the fd (removing a non-persistent device). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller.close();
    if (this.ring !== null) this.b.uringClose?.(this.ring);
    this.ring = null;
    callNative(() => this.b.closeFd(this.fd));
  }
}
