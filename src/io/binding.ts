/**
 * binding: the only loader of the native addon (native/build/Release/weft_native.node) and the
 * typed declaration of everything it exports. See docs/native-boundary.md for the contract.
 *
 * Design notes:
 * - The addon does system calls, never protocol. JS owns every buffer and passes it on each
 *   call; native code keeps no pointer into JS memory after a call returns.
 * - The addon is loaded lazily so that modules importing src/io (e.g. for types or the dgram
 *   path) still load in a tree where the addon has not been built yet.
 * - Native setup errors carry `code` (errno name), `errno` and `syscall`; `toSystemError`
 *   turns them into `SystemError`. Packet-path calls never throw for per-packet failures.
 */
import { join } from 'node:path';
import { SystemError, ToolMissingError, WeftError } from '../errors';

/** NativeTunOpenResult is what `tunOpen` returns. */
export interface NativeTunOpenResult {
  fd: number;
  /** The name the kernel gave the device (resolves patterns like `tun%d`). */
  name: string;
}

/** NativeUdpOpenResult is what `udpOpen` returns. */
export interface NativeUdpOpenResult {
  fd: number;
  /** Bound address as dotted quad. */
  address: string;
  /** Bound port (the kernel's choice when 0 was asked for). */
  port: number;
  /** SO_RCVBUF as the kernel reports it (twice what was set; see socket(7)). */
  rcvBuf: number;
  /** SO_SNDBUF as the kernel reports it. */
  sndBuf: number;
}

/** NativePollHandle is an opaque libuv poll handle (a napi External). */
export type NativePollHandle = { readonly __brand: 'NativePollHandle' };

/** NativePollCallback receives libuv's status (0 or a negative errno) and POLL_* event bits. */
export type NativePollCallback = (status: number, events: number) => void;

/**
 * NativeBatch is a batch as the addon receives it: `PacketBatch.memory`, one Uint8Array holding
 * the slots, the descriptor arrays and the header that locates them (see packet-batch.ts).
 */
export type NativeBatch = Uint8Array;

/** NativeUring is an io_uring handle from `uringOpen` (opaque to JavaScript). */
export type NativeUring = { readonly __brand: 'NativeUring' };

/**
 * NativeBinding declares every export of weft_native.node.
 *
 * Every batch call has one shape: `(fd, batch, start, end, counters[, extra])`. A send handles
 * descriptors [start, end) and returns the first one not attempted (EAGAIN) or `end`; a receive
 * fills slots [start, end), writes descriptors from `start` and returns how many.
 */
export interface NativeBinding {
  /** Bumped when a signature or a counter layout changes; must equal `NATIVE_ABI_VERSION`. */
  readonly abiVersion: number;
  /** Names of the `IoCounter` slots, in slot order: src/io/counters.ts takes its indices from it. */
  readonly ioCounterNames: readonly string[];
  /** Names of the `GsoState` slots, in slot order: src/io/gso-state.ts takes its indices from it. */
  readonly gsoStateNames: readonly string[];
  /** Limits of the send and receive loops. */
  readonly batchConstants: {
    /** Messages per sendmmsg/recvmmsg call. */
    readonly MMSG_CHUNK: number;
    /** UDP_MAX_SEGMENTS: datagrams per GSO train. */
    readonly MAX_GSO_SEGMENTS: number;
    /** Bytes per GSO train (65535 - IPv4 - UDP headers). */
    readonly MAX_GSO_BYTES: number;
  };
  /** errnoName maps an errno number to its name (`98` -> `EADDRINUSE`). */
  errnoName(errno: number): string;
  /** pcapCompile compiles a pcap-filter(7) expression for a link type (libpcap); throws pcap's message. */
  pcapCompile(linkType: number, snaplen: number, expression: string): Uint8Array;
  /** pcapMatch runs a pcapCompile program over one captured packet (libpcap's bpf_filter). */
  pcapMatch(program: Uint8Array, packet: Uint8Array, wireLength: number): boolean;

  tunOpen(name: string, vnetHdr: boolean, multiQueue: boolean): NativeTunOpenResult;
  tunSetOffload(fd: number, flags: number): void;
  tunSetVnetHdrSz(fd: number, size: number): void;
  tunGetFeatures(fd: number): number;
  tunSetQueue(fd: number, attach: boolean): void;
  /** tunRead: one readv() per packet into slots [start, end) until EAGAIN. */
  tunRead(fd: number, batch: NativeBatch, start: number, end: number, counters: Float64Array): number;
  /** tunWrite: one write() per descriptor; `status[i]` = 1 when the kernel took packet i. */
  tunWrite(
    fd: number,
    batch: NativeBatch,
    start: number,
    end: number,
    counters: Float64Array,
    status?: Uint8Array,
  ): number;
  /** io_uring batching of TUN reads/writes (uring.cc); absent in addons built before it. */
  uringOpen?(entries: number): NativeUring;
  uringClose?(ring: NativeUring): void;
  /** 0 when `fd` can be read through the ring without blocking, else the errno (e.g. EOPNOTSUPP). */
  uringProbe?(ring: NativeUring, fd: number): number;
  /** uringTunRead: tunRead's contract, the reads batched into io_uring_enter calls. */
  uringTunRead?(
    ring: NativeUring,
    fd: number,
    batch: NativeBatch,
    start: number,
    end: number,
    counters: Float64Array,
  ): number;
  /** uringTunWrite: tunWrite's contract (trains and tails gathered), batched into io_uring_enter calls. */
  uringTunWrite?(
    ring: NativeUring,
    fd: number,
    batch: NativeBatch,
    start: number,
    end: number,
    counters: Float64Array,
    status?: Uint8Array,
  ): number;
  readonly tunConstants: {
    readonly IFF_TUN: number;
    readonly IFF_NO_PI: number;
    readonly IFF_VNET_HDR: number;
    readonly IFF_MULTI_QUEUE: number;
    readonly TUN_F_CSUM: number;
    readonly TUN_F_TSO4: number;
    readonly TUN_F_TSO6: number;
    readonly TUN_F_TSO_ECN: number;
    readonly TUN_F_UFO: number;
    readonly TUN_F_USO4: number;
    readonly TUN_F_USO6: number;
    readonly VIRTIO_NET_HDR_LEN: number;
    readonly IFNAMSIZ: number;
  };

  udpOpen(
    ip: string,
    port: number,
    reuseAddr: boolean,
    reusePort: boolean,
    rcvBuf: number,
    sndBuf: number,
  ): NativeUdpOpenResult;
  udpSetOpt(fd: number, level: number, name: number, value: number): void;
  udpGetOpt(fd: number, level: number, name: number): number;
  udpAttachReuseportCbpf(fd: number, prog: Uint8Array): void;
  /**
   * udpRecv: recvmmsg into slots [start, end); with `gsoState`, a UDP_GRO train becomes one
   * descriptor per segment (`gsoSizes[d]` = segment size, 0 = plain datagram).
   */
  udpRecv(
    fd: number,
    batch: NativeBatch,
    start: number,
    end: number,
    counters: Float64Array,
    gsoState?: Float64Array,
  ): number;
  /**
   * udpSend: sendmmsg of descriptors [start, end); with `gsoState`, descriptor k with
   * `gsoSizes[k] > 0` is one UDP_SEGMENT train (see docs/native-boundary.md).
   */
  udpSend(
    fd: number,
    batch: NativeBatch,
    start: number,
    end: number,
    counters: Float64Array,
    gsoState?: Float64Array,
  ): number;
  readonly udpConstants: {
    readonly SOL_SOCKET: number;
    readonly SOL_UDP: number;
    readonly SO_RCVBUF: number;
    readonly SO_SNDBUF: number;
    readonly SO_REUSEADDR: number;
    readonly SO_REUSEPORT: number;
    readonly UDP_SEGMENT: number;
    readonly UDP_GRO: number;
  };
  closeFd(fd: number): void;
  /** rawOpen: send-only `socket(AF_INET, SOCK_RAW, IPPROTO_RAW)` (implies IP_HDRINCL), SO_SNDBUF (`--src-port flow`). */
  rawOpen(sndBuf: number): { fd: number; sndBuf: number };
  /** rawSend: sendmmsg of whole IPv4 datagrams to addrs[k]; the loop and semantics of udpSend without GSO. */
  rawSend(fd: number, batch: NativeBatch, start: number, end: number, counters: Float64Array): number;

  /** csumCopy: per plan triple (srcOff, dstOff, len) the folded RFC 1071 sum into sums[k], then memmove (dstOff 0xFFFFFFFF: sum only). */
  csumCopy(src: Uint8Array, dst: Uint8Array, plan: Uint32Array, n: number, sums: Uint32Array): void;
  /** csumCopyVariant: csumCopy with a named loop (`csumVariants().supported`); for tests and bench/csum.ts. */
  csumCopyVariant(
    name: string,
    src: Uint8Array,
    dst: Uint8Array,
    plan: Uint32Array,
    n: number,
    sums: Uint32Array,
  ): void;
  /** csumVariants: the sum loops this build and CPU run, and the one csumCopy uses. */
  csumVariants(): { active: string; supported: string[] };

  pollStart(fd: number, events: number, cb: NativePollCallback): NativePollHandle;
  pollUpdate(handle: NativePollHandle, events: number): void;
  pollRef(handle: NativePollHandle, ref: boolean): void;
  pollClose(handle: NativePollHandle): void;
  readonly POLL_READABLE: number;
  readonly POLL_WRITABLE: number;

  ifGetMtu(name: string): number;
  ifSetMtu(name: string, mtu: number): void;

  /**
   * threadSetScheduler: the calling thread to SCHED_RR at `priority` (with SCHED_RESET_ON_FORK)
   * or, `rr` false, SCHED_OTHER; null on success, else the errno name. Absent from older builds.
   */
  threadSetScheduler?(rr: boolean, priority: number): string | null;
  /** threadCpuNs: the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), ns. Absent from older builds. */
  threadCpuNs?(): number;
  /** threadYield: sched_yield() for the calling thread. Absent from older builds. */
  threadYield?(): void;
}

/** NATIVE_ABI_VERSION is the addon ABI this TypeScript was written against. */
export const NATIVE_ABI_VERSION = 5;

/** NATIVE_ADDON_PATH is where node-gyp puts the addon (this file runs from dist/src/io). */
export const NATIVE_ADDON_PATH = join(
  __dirname,
  '..',
  '..',
  '..',
  'native',
  'build',
  'Release',
  'weft_native.node',
);

let cached: NativeBinding | undefined;

/**
 * loadBinding returns the addon, loading it on first use. Throws ToolMissingError
 * (`WEFT_ERR_TOOL_MISSING`, naming `npm run build:native`) when it is not built or was built for
 * another ABI version.
 */
export function loadBinding(): NativeBinding {
  if (cached !== undefined) return cached;
  let b: NativeBinding;
  try {
    b = require(NATIVE_ADDON_PATH) as NativeBinding;
  } catch (err) {
    const e = new ToolMissingError(`native addon ${NATIVE_ADDON_PATH}`, 'npm run build:native');
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
  if (b.abiVersion !== NATIVE_ABI_VERSION) {
    throw new ToolMissingError(
      `native addon ABI ${NATIVE_ABI_VERSION} (found ${b.abiVersion} at ${NATIVE_ADDON_PATH})`,
      'npm run build:native',
    );
  }
  cached = b;
  return b;
}

/**
 * slotLayout maps the slot names a TS module declares (`declared`, its type) to the slot indices
 * the addon uses (`nativeNames(binding)`, in slot order), so a Float64Array the addon writes is
 * never indexed by a hand-copied number. Without a built addon no native code writes the slots,
 * and the declared order is used. Throws when the addon's names and the declared ones differ.
 */
export function slotLayout<N extends string>(
  declared: readonly N[],
  nativeNames: (b: NativeBinding) => readonly string[],
): Readonly<Record<N, number>> {
  let names: readonly string[] = declared;
  try {
    names = nativeNames(loadBinding());
  } catch {
    // No addon (or one of another ABI): loadBinding throws again where native I/O is opened.
  }
  const layout = {} as Record<N, number>;
  for (const name of declared) {
    const i = names.indexOf(name);
    if (i < 0 || names.length !== declared.length) {
      throw new Error(`native slot layout [${names.join(', ')}] does not match [${declared.join(', ')}]`);
    }
    layout[name] = i;
  }
  return Object.freeze(layout);
}

/**
 * toSystemError converts an error thrown by the addon (with `code` and `syscall`) into a
 * SystemError; anything else is returned unchanged.
 */
export function toSystemError(err: unknown): unknown {
  if (err instanceof Error && !(err instanceof WeftError)) {
    const e = err as Error & { code?: unknown; syscall?: unknown };
    if (typeof e.code === 'string' && typeof e.syscall === 'string') {
      const detail = e.message.replace(/^\S+ \S+: /, '');
      const se = new SystemError(e.syscall, e.code, detail);
      (se as { cause?: unknown }).cause = err;
      return se;
    }
  }
  return err;
}

/** callNative runs a control-path native call and rethrows its errno errors as SystemError. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toSystemError(err);
  }
}
