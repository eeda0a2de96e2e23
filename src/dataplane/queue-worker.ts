/**
 * queue-worker: the entry point of one forwarding thread: queues 1..n-1 of `--workers`, and queue
 * 0 too when the node keeps forwarding off the main thread (`NodeConfig.forwardOffMain`, what
 * `weft run` does, so the control plane's allocations and GC pauses never stall a packet). It
 * opens its own TUN queue and sockets (src/dataplane/queue-devices.ts), builds its own Router
 * from the peer list, runs a DataplaneQueue on its own event loop, and talks to the main thread
 * only by messages (src/dataplane/queue-workers.ts holds the other end):
 *
 *   main -> worker   { type: 'peers', peers }        new peer set: rebuild and swap the table
 *   main -> worker   { type: 'peerDiff', remove, upsert }  peer-set difference: apply it to the table
 *                    { type: 'start' }               start forwarding (only with `deferStart`)
 *                    { type: 'stats', id, flowTop }  reply with a QueueSnapshot
 *                    { type: 'stop' }                stop, close every fd, reply 'stopped'
 *   worker -> main   { type: 'ready', fds, vnetHdr, offloadRefused, tid, tunIo, thread }
 *                                                    devices open (forwarding unless `deferStart`);
 *                                                    fds are closed by main if we die; tid is the
 *                                                    thread's Linux id (for top -H, perf, /proc)
 *                    { type: 'error', error }        setup failed (nothing left open)
 *                    { type: 'stats', id, snapshot, flowMeta, tunIo, thread }
 *                                                    counters, the TUN's I/O mode, and the thread's
 *                                                    scheduling (thread-sched.ts: re-decided every
 *                                                    SAMPLE_MS by a timer on this thread)
 *                    { type: 'stopped' }
 *
 * Nothing per packet crosses threads: the hot path is the same code as queue 0's.
 */
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { WeftError, SystemError, ConfigError } from '../errors';
import { RawSendSocket } from '../io/raw-send-socket';
import { SrcPortPool } from '../io/src-port-pool';
import type { Tun } from '../io/tun';
import type { PeerSpec } from '../route/route-table';
import { RouteTable, indexPeers } from '../route/route-table';
import { Router } from '../route/router';
import { openQueueSockets, openTunQueue, type QueueSocketSpec, type QueueSockets } from './queue-devices';
import { loadBinding } from '../io/binding';
import { DataplaneQueue, type QueueParams } from './queue';
import type { FlowTableSnapshot } from './flow-table';
import type { TunIoStats } from './node-stats';
import { SAMPLE_MS, ThreadScheduler, type ForwardingSched, type SchedCalls } from './thread-sched';

/** openTun opens the worker's TUN queue; with `fallback`, a refused offload opens it plain. */
function openTun(d: QueueWorkerData): { tun: Tun; refused: string | null } {
  const multi = d.multiQueue ?? true;
  if (!d.vnetHdr || d.offloadFallback !== true)
    return { tun: openTunQueue(d.dev, d.vnetHdr, multi), refused: null };
  try {
    return { tun: openTunQueue(d.dev, true, multi), refused: null };
  } catch (err) {
    const refused = err instanceof Error ? err.message : String(err);
    return { tun: openTunQueue(d.dev, false, multi), refused };
  }
}

/** QueueWorkerData is the workerData of a queue worker (structured-clonable). */
export interface QueueWorkerData {
  queue: number;
  queues: number;
  /** TUN device name; the device exists (queue 0 holds it open). */
  dev: string;
  /** Open the queue with IFF_VNET_HDR + offloads (must match queue 0). */
  vnetHdr: boolean;
  /**
   * Queue 0 only: if the kernel refuses the offloads, open the queue plain and say why in
   * `ready.offloadRefused` (the other queues then follow `ready.vnetHdr`). Default false: fail.
   */
  offloadFallback?: boolean;
  /** Open the TUN with IFF_MULTI_QUEUE (default true; false for a single queue). */
  multiQueue?: boolean;
  /** Wait for a 'start' message before forwarding (the main thread sets up the device first). */
  deferStart?: boolean;
  sockets: QueueSocketSpec;
  /** `--src-port flow` with `--io dgram`: send on a raw socket of this buffer size. */
  rawBufferSize: number | null;
  params: QueueParams;
  peers: PeerSpec[];
  /** Scheduling policy to ask for (thread-sched.ts); default 'other'. */
  sched?: ForwardingSched;
}

/** WorkerErrorInfo carries a setup error across the thread boundary. */
export interface WorkerErrorInfo {
  message: string;
  code: string | null;
  syscall: string | null;
  errno: string | null;
  field: string | null;
}

/** errorInfo flattens an error for postMessage. */
export function errorInfo(err: unknown): WorkerErrorInfo {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    message: e.message,
    code: err instanceof WeftError ? err.code : null,
    syscall: err instanceof SystemError ? err.syscall : null,
    errno: err instanceof SystemError ? err.errno : null,
    field: err instanceof ConfigError ? err.field : null,
  };
}

/** FlowMeta is the part of a FlowTableSnapshot a QueueSnapshot's flow list lacks. */
export type FlowMeta = Omit<FlowTableSnapshot, 'flows'>;

/** QueueFlowMeta is FlowMeta per direction, sent with each stats reply that asks for flows. */
export interface QueueFlowMeta {
  egress: FlowMeta;
  ingress: FlowMeta;
}

/** revivePeers turns cloned peers (vtepMac became a Uint8Array) back into PeerSpecs. */
export function revivePeers(peers: readonly PeerSpec[]): PeerSpec[] {
  return peers.map((p) => ({ ...p, vtepMac: p.vtepMac === null ? null : Buffer.from(p.vtepMac) }));
}

/** threadTid is the calling thread's Linux thread id (`/proc/thread-self`), or null without /proc. */
export function threadTid(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/** tunIoOf says how a TUN queue moves packets (src/io/tun-io.ts), for the stats. */
export function tunIoOf(tun: Tun): TunIoStats {
  return { mode: tun.ioMode ?? 'readv', refused: tun.ioRefused ?? null, ringCalls: tun.ringCalls ?? 0 };
}

/** schedCalls is the addon's scheduling calls, or none when the addon cannot be loaded. */
function schedCalls(): SchedCalls {
  try {
    return loadBinding();
  } catch {
    return {};
  }
}

function meta(s: FlowTableSnapshot): FlowMeta {
  return { capacity: s.capacity, used: s.used, other: s.other };
}

function main(): void {
  const port = parentPort;
  if (port === null) throw new Error('queue-worker must run as a worker thread');
  const d = workerData as QueueWorkerData;
  const tid = threadTid();
  const sched = new ThreadScheduler(d.queue, tid, d.sched ?? 'other', schedCalls());
  const router = new Router();
  let tun: Tun | null = null;
  let socks: QueueSockets | null = null;
  let raw: RawSendSocket | null = null;
  let queue: DataplaneQueue | null = null;
  let refused: string | null = null;
  let schedTimer: NodeJS.Timeout | null = null;
  const closeAll = (): void => {
    if (schedTimer !== null) clearInterval(schedTimer);
    schedTimer = null;
    queue?.stop();
    tun?.close();
    if (socks !== null && socks.send !== socks.recv) socks.send.close();
    socks?.recv.close();
    raw?.close();
    queue = null;
    tun = null;
    socks = null;
    raw = null;
  };
  try {
    router.swap(RouteTable.build(indexPeers(revivePeers(d.peers))));
    // workerData lives as long as the thread: drop the clone of the start peers (the table has
    // its own), or a 10,000-peer node keeps a second copy of them for good.
    d.peers = [];
    socks = openQueueSockets(d.sockets);
    if (d.rawBufferSize !== null) raw = RawSendSocket.open(d.rawBufferSize);
    const opened = openTun(d);
    tun = opened.tun;
    refused = opened.refused;
    queue = new DataplaneQueue(
      d.queue,
      d.params,
      { tun, offloadTun: tun.vnetHdr ? tun : null, recv: socks.recv, send: socks.send, raw },
      router,
    );
    sched.start();
    if (sched.adaptive) {
      const q = queue;
      schedTimer = setInterval(() => sched.tick(q.egressLoop.batches + q.ingressLoop.batches), SAMPLE_MS);
      schedTimer.unref();
    }
    if (d.deferStart !== true) queue.start();
  } catch (err) {
    closeAll();
    port.postMessage({ type: 'error', error: errorInfo(err) });
    return;
  }
  const fds = [tun.fd, socks.recv.fd];
  if (socks.send instanceof SrcPortPool) fds.push(...socks.send.fds);
  else if (socks.send !== socks.recv) fds.push(socks.send.fd);
  if (raw !== null) fds.push(raw.fd);
  port.on(
    'message',
    (m: {
      type: string;
      id?: number;
      flowTop?: number;
      peers?: PeerSpec[];
      pathMtu?: number;
      remove?: string[];
      upsert?: PeerSpec[];
    }) => {
      if (m.type === 'peers' && m.peers) {
        const peers = m.peers;
        sched.control(() => router.swap(RouteTable.build(indexPeers(revivePeers(peers)))));
      } else if (m.type === 'peerDiff' && m.remove && m.upsert) {
        // Queue 0 applied this difference to the same peers, so it cannot be refused here. This
        // thread is the table's only reader and no batch is running: change it in place.
        const { remove, upsert } = m;
        sched.control(() => router.update(router.table.applyChanges(remove, revivePeers(upsert))));
      } else if (m.type === 'pathMtu' && m.pathMtu !== undefined && queue !== null) {
        queue.setPathMtu(m.pathMtu);
      } else if (m.type === 'start' && queue !== null) {
        queue.start();
      } else if (m.type === 'stats' && queue !== null && tun !== null) {
        const top = m.flowTop ?? 0;
        const e = queue.egress.flows;
        const i = queue.ingress.flows;
        const flowMeta: QueueFlowMeta | null =
          top > 0 && e && i ? { egress: meta(e.snapshot(0)), ingress: meta(i.snapshot(0)) } : null;
        port.postMessage({
          type: 'stats',
          id: m.id,
          snapshot: queue.snapshot(top),
          flowMeta,
          tunIo: tunIoOf(tun),
          thread: sched.stats(),
        });
      } else if (m.type === 'stop') {
        closeAll();
        port.postMessage({ type: 'stopped' });
        port.close();
      }
    },
  );
  port.postMessage({
    type: 'ready',
    fds,
    vnetHdr: tun.vnetHdr,
    offloadRefused: refused,
    tid,
    tunIo: tunIoOf(tun),
    thread: sched.stats(),
  });
}

main();
