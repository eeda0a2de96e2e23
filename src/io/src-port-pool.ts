/**
 * src-port-pool: the send side of `--src-port flow` with `--io batch`. A small pool of bound UDP
 * sockets, one per outer source port, so that every flow-hashed datagram still leaves through a
 * UDP socket and keeps UDP GSO (and the kernel's outer IPv4/UDP headers and checksum).
 *
 * RFC 7348 §5 asks for the outer source port to be a hash of the inner flow. A UDP socket sends
 * from the one port it is bound to, so the pool binds `size` sockets to ports spread evenly over
 * the range, and egress tags each descriptor with a lane (`batch.lanes[k]`: the pool socket its
 * inner flow hashes to, egress.ts). The same flow always gets the same lane, hence one port.
 *
 * Design notes:
 * - Port choice: queue k of n (`--workers`) only binds ports p with p mod n = k, so the peer's
 *   reuseport program (src/io/reuseport-bpf.ts, source port mod n) still delivers a flow sent by
 *   queue k to the peer's queue k. Lane i starts at the i-th of `size` evenly spaced candidates
 *   and, when that port is taken (EADDRINUSE: another socket, an ephemeral connection), tries the
 *   following candidates up to the next lane's start. A lane that finds no free port is left out
 *   (the pool is smaller, the hash spreads over the lanes it has); no free port at all is a
 *   ConfigError naming `--src-port-range`.
 * - Sending: descriptors are put in lane order first (a stable counting sort in preallocated
 *   arrays, every per-descriptor array of the batch moved along, so each flow keeps its order and
 *   a GSO train stays whole), then each lane's run goes out through its socket's own
 *   `sendBatchGso` / `sendBatch`: one native call per lane that has traffic in the batch, so a
 *   single TCP stream costs exactly what the fixed port costs. What the sockets count is added to
 *   the pool's `counters` after every call; `gsoState` sums the sockets' on read.
 * - Backpressure: a short send (EAGAIN) returns the first unsent descriptor, and `onceWritable`
 *   waits on the socket that was full.
 * - The sockets never receive: peers send to the VXLAN port. They are bound only to own a port.
 */
import { ConfigError, SystemError } from '../errors';
import { BatchUdpSocket } from './batch-udp-socket';
import { IoCounter, newIoCounters, type IoCounters } from './counters';
import { GsoState, newGsoState } from './gso-state';
import type { PacketBatch } from './packet-batch';
import type { IoMode, PacketIo } from './packet-io';

/** DEFAULT_POOL_SIZE is the number of source ports (sockets) per queue. */
export const DEFAULT_POOL_SIZE = 16;
/** MAX_POOL_SIZE bounds a pool: lanes are bytes. */
export const MAX_POOL_SIZE = 255;

/** SrcPortPoolOptions say where the pool binds. */
export interface SrcPortPoolOptions {
  /** Local IPv4 address (the underlay address). */
  local: string;
  /** Inclusive source port range. */
  min: number;
  max: number;
  /** This queue and the node's queue count: only ports p with p mod queues = queue are used. */
  queue?: number;
  queues?: number;
  /** Sockets wanted (default DEFAULT_POOL_SIZE); fewer when the range has fewer usable ports. */
  size?: number;
  /** SO_SNDBUF of each socket. */
  sendBufferSize?: number;
  /** Called on each socket after binding (e.g. IP_MTU_DISCOVER); a throw closes the pool. */
  configure?: (s: BatchUdpSocket) => void;
}

/**
 * DESCRIPTOR_ARRAYS names the per-descriptor arrays of a PacketBatch that move with a descriptor
 * when the pool puts a batch in lane order. Arrays a batch does not have are skipped, so the
 * permutation follows the batch layout (train and scatter-gather arrays included).
 */
const DESCRIPTOR_ARRAYS = [
  'offsets',
  'lengths',
  'addrs',
  'ports',
  'gsoSizes',
  'lanes',
  'tailOffsets',
  'tailLengths',
  'trains',
] as const;

type DescriptorArray = Uint32Array | Uint16Array | Uint8Array;

/** SrcPortPool sends a batch over the socket each descriptor's lane names; see the module comment. */
export class SrcPortPool implements PacketIo {
  /** The batch implementation family (native sendmmsg). */
  readonly mode: IoMode = 'batch';
  /** Counters of all pool sockets together, indexed by `IoCounter` (kept current by every send). */
  readonly counters: IoCounters = newIoCounters();
  /** The bound source ports, lane i = ports[i]. */
  readonly ports: readonly number[];
  /** Lane count (the pool size). */
  readonly size: number;
  /** Ports of the range skipped because they were taken. */
  readonly skipped: number;

  private readonly gso: Float64Array = newGsoState();
  private readonly before: IoCounters = newIoCounters();
  private stalled: BatchUdpSocket | null = null;
  private closed = false;
  // Lane-order scratch, grown to the largest batch seen (not per packet).
  private readonly start = new Uint32Array(MAX_POOL_SIZE + 1);
  private dest = new Uint32Array(0);
  private tmp = new Float64Array(0);

  private constructor(
    private readonly sockets: BatchUdpSocket[],
    skipped: number,
    /** Local address the sockets are bound to. */
    readonly address: string,
  ) {
    this.size = sockets.length;
    this.ports = sockets.map((s) => s.port);
    this.skipped = skipped;
  }

  /** fds are the sockets' descriptors, lane order. */
  get fds(): number[] {
    return this.sockets.map((s) => s.fd);
  }

  /** port is lane 0's port (PacketIo wants one). */
  get port(): number {
    return this.ports[0]!;
  }

  /**
   * gsoState is the UDP GSO state of the pool (control path: summed over the sockets on each
   * read; the first refusal names the errno, and the pool splits from the lowest threshold).
   */
  get gsoState(): Float64Array {
    const g = this.gso;
    g.fill(0);
    for (const s of this.sockets) {
      const x = s.gsoState;
      for (let k = 0; k < g.length && k < x.length; k++) {
        if (k === GsoState.disabledErrno || k === GsoState.splitFrom) {
          if (g[k] === 0 || (x[k]! !== 0 && x[k]! < g[k]!)) g[k] = x[k]!;
        } else g[k]! += x[k]!;
      }
    }
    return g;
  }

  /**
   * open binds the pool (see the module comment for the port choice). Throws ConfigError
   * (`--src-port-range`) when no port of the range is free, SystemError for other bind errors.
   */
  static open(o: SrcPortPoolOptions): SrcPortPool {
    const n = o.queues ?? 1;
    const k = o.queue ?? 0;
    const want = Math.min(o.size ?? DEFAULT_POOL_SIZE, MAX_POOL_SIZE);
    // Candidates: the ports p in [min, max] with p mod n = k, as first + j * n.
    const first = o.min + ((((k - o.min) % n) + n) % n);
    const count = first > o.max ? 0 : Math.floor((o.max - first) / n) + 1;
    const lanes = Math.min(want, count);
    const sockets: BatchUdpSocket[] = [];
    let skipped = 0;
    try {
      for (let i = 0; i < lanes; i++) {
        const from = Math.floor((i * count) / lanes);
        const to = Math.floor(((i + 1) * count) / lanes);
        for (let j = from; j < to; j++) {
          const s = tryBind(o.local, first + j * n, o.sendBufferSize ?? 0);
          if (s === null) {
            skipped++;
            continue;
          }
          sockets.push(s);
          o.configure?.(s);
          break;
        }
      }
    } catch (err) {
      for (const s of sockets) s.close();
      throw err;
    }
    if (sockets.length === 0) {
      const which = n > 1 ? ` with p mod ${n} = ${k}` : '';
      throw new ConfigError(
        '--src-port-range',
        `no free UDP port${which} on ${o.local}`,
        `${o.min}-${o.max}`,
      );
    }
    return new SrcPortPool(sockets, skipped, o.local);
  }

  /** recvBatch always returns 0: pool sockets only send. */
  recvBatch(batch: PacketBatch): number {
    batch.count = 0;
    return 0;
  }

  /** sendBatch sends plain datagrams [start, count) on their lanes' sockets; see PacketIo.sendBatch. */
  sendBatch(batch: PacketBatch, start = 0): number {
    return this.send(batch, start, false);
  }

  /** sendBatchGso is BatchUdpSocket.sendBatchGso over the lanes' sockets. */
  sendBatchGso(batch: PacketBatch, start = 0): number {
    return this.send(batch, start, true);
  }

  /** resetMtuSplit: see BatchUdpSocket.resetMtuSplit (every socket). */
  resetMtuSplit(): void {
    for (const s of this.sockets) s.resetMtuSplit();
  }

  /** offloads: see BatchUdpSocket.offloads (GSO while no socket was refused; never GRO). */
  offloads(): { gso: boolean; gro: boolean; gsoRefused: string | null } {
    for (const s of this.sockets) {
      const o = s.offloads();
      if (!o.gso) return { gso: false, gro: false, gsoRefused: o.gsoRefused };
    }
    return { gso: true, gro: false, gsoRefused: null };
  }

  /** onReadable is ignored (nothing is received). */
  onReadable(_cb: (() => void) | null): void {}

  /** onceWritable waits on the socket the last short send stopped at. */
  onceWritable(cb: (() => void) | null): void {
    if (cb === null) {
      for (const x of this.sockets) x.onceWritable(null);
      return;
    }
    (this.stalled ?? this.sockets[0]!).onceWritable(cb);
  }

  /** ref: see PacketIo.ref. */
  ref(on = true): void {
    for (const s of this.sockets) s.ref(on);
  }

  /** close closes every socket. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.close();
  }

  /**
   * send puts [0, count) in lane order when starting a batch, then sends each lane's run from
   * `start` on with one call on its socket (`batch.count` bounded to the run meanwhile); returns
   * the first descriptor not sent (a socket was full) or `count`.
   */
  private send(batch: PacketBatch, start: number, gso: boolean): number {
    const count = batch.count;
    const size = this.size;
    if (start === 0 && size > 1) this.sortByLane(batch);
    const lanes = batch.lanes;
    let i = start;
    try {
      while (i < count) {
        const lane = lanes[i]! < size ? lanes[i]! : 0;
        let j = i + 1;
        while (j < count && (lanes[j]! < size ? lanes[j]! : 0) === lane) j++;
        const s = this.sockets[lane]!;
        this.before.set(s.counters);
        batch.count = j;
        const next = gso ? s.sendBatchGso(batch, i) : s.sendBatch(batch, i);
        batch.count = count;
        this.addCounters(s.counters);
        if (next < j) {
          this.stalled = s;
          return next;
        }
        i = j;
      }
    } finally {
      batch.count = count;
    }
    return count;
  }

  /** addCounters adds what the last call counted on one socket to the pool's counters. */
  private addCounters(c: IoCounters): void {
    const out = this.counters;
    const b = this.before;
    for (let k = 0; k < out.length; k++) {
      if (k === IoCounter.lastErrno) {
        if (c[k] !== b[k]) out[k] = c[k]!;
      } else out[k]! += c[k]! - b[k]!;
    }
  }

  /**
   * sortByLane reorders descriptors [0, count) by lane, keeping their order within a lane (so a
   * GSO train, which never spans lanes, stays contiguous), moving every per-descriptor array.
   */
  private sortByLane(batch: PacketBatch): void {
    const n = batch.count;
    const lanes = batch.lanes;
    const size = this.size;
    const start = this.start;
    start.fill(0, 0, size + 1);
    let sorted = true;
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const l = lanes[i]! < size ? lanes[i]! : 0;
      if (l < prev) sorted = false;
      prev = l;
      start[l + 1]!++;
    }
    if (sorted) return;
    for (let l = 0; l < size; l++) start[l + 1]! += start[l]!;
    if (this.dest.length < n) {
      this.dest = new Uint32Array(batch.lanes.length);
      this.tmp = new Float64Array(batch.lanes.length);
    }
    const dest = this.dest;
    for (let i = 0; i < n; i++) dest[i] = start[lanes[i]! < size ? lanes[i]! : 0]!++;
    const fields = batch as unknown as Record<string, DescriptorArray | undefined>;
    const tmp = this.tmp;
    for (const name of DESCRIPTOR_ARRAYS) {
      const a = fields[name];
      if (a === undefined) continue;
      for (let i = 0; i < n; i++) tmp[dest[i]!] = a[i]!;
      for (let i = 0; i < n; i++) a[i] = tmp[i]!;
    }
  }
}

/** tryBind binds local:port, or returns null when the port is taken (EADDRINUSE / EACCES). */
function tryBind(local: string, port: number, sendBufferSize: number): BatchUdpSocket | null {
  try {
    return BatchUdpSocket.bindSync({ address: local, port, sendBufferSize, recvBufferSize: 0 });
  } catch (err) {
    if (err instanceof SystemError && (err.errno === 'EADDRINUSE' || err.errno === 'EACCES')) return null;
    throw err;
  }
}
