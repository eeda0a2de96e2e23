/**
 * live: a typed wrapper around the `cap` npm package (libpcap) for `weft capture`.
 *
 * `cap` has no type definitions, so the few members used are declared here. libpcap hands each
 * packet to a callback with the bytes copied into one reused Buffer (immediate mode, snaplen
 * 65535); the callback must consume the bytes before returning. cap does not expose libpcap's
 * per-packet timestamp, so the time is taken when the packet reaches JS (microseconds, from
 * `performance`), which is close enough for reading a capture by eye.
 */
import { SystemError } from '../errors';
import { LinkType } from './summarize';

interface CapInstance {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): void;
  on(event: 'packet', fn: (nbytes: number, truncated: boolean) => void): void;
}

interface CapModule {
  Cap: { new (): CapInstance; deviceList(): Array<{ name: string }> };
}

/** CAP_LINKTYPES maps cap's link-type names to pcap LINKTYPE_* numbers. */
const CAP_LINKTYPES: Record<string, number> = {
  NULL: LinkType.null,
  ETHERNET: LinkType.ethernet,
  LINKTYPE_LINUX_SLL: LinkType.sll,
  RAW: LinkType.raw,
};

/** LiveCaptureOptions configures `LiveCapture.open`. */
export interface LiveCaptureOptions {
  /** Interface name (`any` for all interfaces). */
  device: string;
  /** BPF filter expression (pcap-filter(7)). */
  filter: string;
  /** libpcap kernel buffer size in bytes. */
  bufferSize?: number;
}

/** failedHandles pins Cap objects whose open failed, so they are never closed or collected. */
const failedHandles: CapInstance[] = [];

/** nowMicros returns the current time in microseconds since the epoch, with sub-millisecond resolution. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** LiveCapture is an open libpcap handle delivering packets to `onPacket`. */
export class LiveCapture {
  /** The pcap LINKTYPE_* number of the device. */
  readonly linkType: number;
  private readonly cap: CapInstance;
  private closed = false;

  private constructor(cap: CapInstance, linkType: number) {
    this.cap = cap;
    this.linkType = linkType;
  }

  /**
   * open starts capturing on `o.device` with `o.filter`; `onPacket` gets a view of the reused
   * buffer (valid only during the call), the capture time and whether snaplen cut the packet.
   * Throws SystemError when libpcap refuses (no such device, no permission, bad filter).
   */
  static open(
    o: LiveCaptureOptions,
    onPacket: (data: Buffer, micros: number, truncated: boolean) => void,
  ): LiveCapture {
    const mod = require('cap') as CapModule;
    const cap = new mod.Cap();
    let name: string;
    const buf = Buffer.alloc(65535);
    try {
      name = cap.open(o.device, o.filter, o.bufferSize ?? 4 * 1024 * 1024, buf);
    } catch (err) {
      // cap's native close (also run by its destructor on GC) stops a uv poll handle that a failed
      // open never initialised, which aborts the process; keep the half-open handle alive instead.
      failedHandles.push(cap);
      throw new SystemError(
        'pcap_open',
        'EPCAP',
        `${o.device} (filter "${o.filter}"): ${(err as Error).message}`,
      );
    }
    const linkType = CAP_LINKTYPES[name];
    if (linkType === undefined) {
      cap.close();
      throw new SystemError('pcap_datalink', 'ENOTSUP', `${o.device}: link type ${name} is not supported`);
    }
    const lc = new LiveCapture(cap, linkType);
    cap.on('packet', (nbytes, truncated) => {
      if (lc.closed) return;
      onPacket(buf.subarray(0, nbytes), nowMicros(), truncated);
    });
    return lc;
  }

  /** close stops the capture; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cap.close();
  }
}
