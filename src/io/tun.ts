/**
 * tun: a Linux TUN device (layer 3, IFF_TUN | IFF_NO_PI) opened through the addon, read and
 * written in batches.
 *
 * Design notes:
 * - The fd is non-blocking. `readBatch` loops read() until EAGAIN or the batch is full, in one
 *   native call (TUN fds have no recvmmsg); `writeBatch` does one write() per packet, also in
 *   one call. Per-packet failures are counted in `counters`, never thrown.
 * - `vnetHdr` / `multiQueue` and `setOffload` / `setVnetHdrSize` exist for the offload work
 *   (issue 5): with IFF_VNET_HDR every read and write carries a virtio_net_hdr
 *   (`TUN_CONSTANTS.VIRTIO_NET_HDR_LEN` bytes) in front of the packet; the caller accounts for it.
 * - The device lives as long as the fd (not persistent): `close()` removes it, and with it its
 *   addresses and routes.
 * - Addresses, link state and routes are set with iproute2 (src/io/netdev.ts).
 */
import { SystemError } from '../errors';
import { callNative, loadBinding, NativeBinding } from './binding';
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

/** Tun is one open TUN device queue. */
export class Tun {
  /** Counters, indexed by `IoCounter`; updated by readBatch/writeBatch without extra calls. */
  readonly counters: IoCounters = newIoCounters();
  private readonly b: NativeBinding;
  private readonly poller: FdPoller;
  private closed = false;

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
    const n = this.b.tunRead(
      this.fd,
      batch.memory,
      0,
      max < batch.capacity ? max : batch.capacity,
      this.counters,
    );
    batch.count = n;
    return n;
  }

  /**
   * writeBatch writes packets [start, end) of `batch` (default: all `count`), one write() each,
   * and returns how many the kernel took. A refused packet is counted (txEagain / txErrors) and
   * skipped; with `status`, status[i] says whether packet i was taken (1) or not (0). One native call.
   */
  writeBatch(batch: PacketBatch, start = 0, end = batch.count, status?: Uint8Array): number {
    return this.b.tunWrite(this.fd, batch.memory, start, end, this.counters, status);
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
    callNative(() => this.b.closeFd(this.fd));
  }
}
