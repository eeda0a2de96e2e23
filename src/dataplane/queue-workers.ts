/**
 * queue-workers: the main thread's side of the forwarding threads: starts the worker threads of
 * queues 1..n-1 of `--workers` (src/dataplane/queue-worker.ts), and of queue 0 too when the node
 * forwards off the main thread, one after another because their sockets must join the reuseport
 * group in queue order; forwards peer changes; collects counter snapshots; stops them.
 *
 * Counters: a worker's counters live in its own thread. `refresh()` asks every worker for a
 * QueueSnapshot and waits for the replies (at most REFRESH_TIMEOUT_MS); while running, a timer
 * also refreshes every REFRESH_INTERVAL_MS, so `latest()` is never older than that. The hot path
 * is not involved: snapshots are copied on the worker's event loop between batches.
 *
 * A worker that dies (an exception in its thread) is counted in `exits` and logged through
 * `onExit`; main then closes the fds it reported, which detaches its TUN queue and leaves the
 * reuseport group, so the kernel steers its flows to the queues that are left instead of into a
 * queue nobody reads.
 */
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConfigError, SystemError, WeftError } from '../errors';
import type { PeerSpec } from '../route/route-table';
import type { PeerDiff } from '../route/peer-diff';
import type { QueueSnapshot } from './queue';
import type { QueueFlowMeta, QueueWorkerData, WorkerErrorInfo } from './queue-worker';
import { reapplyYoungGenerationCap } from './young-generation';
import type { TunIoStats } from './node-stats';
import type { ThreadSchedStats } from './thread-sched';

/** REFRESH_INTERVAL_MS is how often running workers report their counters unasked. */
export const REFRESH_INTERVAL_MS = 1000;
/** REFRESH_TIMEOUT_MS bounds how long `refresh` waits for a busy or dead worker. */
export const REFRESH_TIMEOUT_MS = 1000;
const STOP_TIMEOUT_MS = 2000;

/**
 * WORKER_RESOURCE_LIMITS caps a forwarding thread's young generation. V8 sizes a new isolate's
 * nursery for an allocating application (semi-spaces of up to 16 MiB, kept once grown), but a
 * forwarding thread allocates nothing per packet, only when it applies a peer-set message: with the
 * default, each thread kept tens of MiB of nursery it did not need (a 10,000-peer node's RSS went
 * from about 136 to 175 MiB when queue 0 moved off the main thread). The old generation is left
 * unlimited: a limit would kill the thread (ERR_WORKER_OUT_OF_MEMORY) instead of slowing it.
 */
export const WORKER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 4 } as const;

interface Handle {
  queue: number;
  worker: Worker;
  fds: number[];
  /** The thread's Linux thread id (null when /proc is not mounted). */
  tid: number | null;
  latest: QueueSnapshot | null;
  /** Flow-table sizes that came with `latest` (when flows were asked for). */
  flowMeta: QueueFlowMeta | null;
  /** How the worker's TUN queue moves packets, as of its last report. */
  tunIo: TunIoStats | null;
  /** The thread's scheduling, as of its last report. */
  thread: ThreadSchedStats | null;
  alive: boolean;
  stopping: boolean;
  /** The worker said 'stopped': it closed its fds itself, and their numbers may be reused. */
  closed: boolean;
  waiting: Map<number, () => void>;
}

/** toError rebuilds a worker's setup error as the typed error it was. */
function toError(queue: number, e: WorkerErrorInfo): Error {
  const where = `worker ${queue}`;
  if (e.syscall !== null && e.errno !== null) return new SystemError(e.syscall, e.errno, where);
  if (e.field !== null) return new ConfigError(e.field, `${e.message} (${where})`);
  if (e.code !== null) return new WeftError(e.code, `${where}: ${e.message}`);
  return new Error(`${where}: ${e.message}`);
}

/** WorkerReady is what a worker reports once its devices are open. */
export interface WorkerReady {
  /** The TUN queue was opened with IFF_VNET_HDR (offloads on). */
  vnetHdr: boolean;
  /** Why the offloads were refused (`offloadFallback`), or null. */
  offloadRefused: string | null;
}

/** QueueWorkersOptions: what to do when a worker dies, and how many flows the timer asks for. */
export interface QueueWorkersOptions {
  /** A worker died: its queue, its thread id (null if unknown) and why. */
  onExit?: (queue: number, why: string, tid: number | null) => void;
  /** Top flows per direction in the periodic snapshots (0: none; see DataplaneNode.flows). */
  flowTop?: number;
  /** The worker script (default queue-worker.js next to this file); tests pass stand-ins. */
  script?: string;
}

/** QueueWorkers owns the worker threads of one DataplaneNode; see the module comment. */
export class QueueWorkers {
  /** Workers that exited without being asked to. */
  exits = 0;
  private readonly handles: Handle[] = [];
  private nextId = 1;
  private timer: NodeJS.Timeout | null = null;
  private stopped: Promise<void> | null = null;

  private constructor(
    private readonly onExit: (queue: number, why: string, tid: number | null) => void,
    private readonly flowTop: number,
    private readonly script: string,
  ) {}

  /**
   * start starts one worker per `data` entry, in order, each after the previous one is
   * forwarding. On a failure it stops those already started and throws the worker's error.
   */
  static async start(
    data: readonly QueueWorkerData[],
    opts: QueueWorkersOptions = {},
  ): Promise<QueueWorkers> {
    const pool = QueueWorkers.create(opts);
    try {
      for (const d of data) await pool.add(d);
    } catch (err) {
      await pool.stop();
      throw err;
    }
    pool.startRefreshing();
    return pool;
  }

  /**
   * create makes an empty pool; `add` starts its workers one at a time (the caller may set up
   * the device between two), `startRefreshing` starts the periodic counter refresh. On a failed
   * `add` the caller must `stop` the pool.
   */
  static create(opts: QueueWorkersOptions = {}): QueueWorkers {
    return new QueueWorkers(
      opts.onExit ?? (() => undefined),
      opts.flowTop ?? 0,
      opts.script ?? join(__dirname, 'queue-worker.js'),
    );
  }

  /** startRefreshing refreshes every worker's counters every REFRESH_INTERVAL_MS from now on. */
  startRefreshing(): void {
    if (this.timer !== null || this.stopped !== null) return;
    this.timer = setInterval(() => void this.refresh(this.flowTop), REFRESH_INTERVAL_MS);
    this.timer.unref();
  }

  /** startQueues tells workers started with `deferStart` to start forwarding. */
  startQueues(): void {
    for (const h of this.handles) if (h.alive) h.worker.postMessage({ type: 'start' });
  }

  /** add starts one worker and resolves once its devices are open; rejects with its error. */
  add(d: QueueWorkerData): Promise<WorkerReady> {
    const worker = new Worker(this.script, { workerData: d, resourceLimits: WORKER_RESOURCE_LIMITS });
    const h: Handle = {
      queue: d.queue,
      worker,
      fds: [],
      tid: null,
      latest: null,
      flowMeta: null,
      tunIo: null,
      thread: null,
      alive: true,
      stopping: false,
      closed: false,
      waiting: new Map(),
    };
    return new Promise((resolve, reject) => {
      let started = false;
      worker.on(
        'message',
        (m: {
          type: string;
          fds?: number[];
          error?: WorkerErrorInfo;
          id?: number;
          snapshot?: QueueSnapshot;
          flowMeta?: QueueFlowMeta | null;
          vnetHdr?: boolean;
          offloadRefused?: string | null;
          tid?: number | null;
          tunIo?: TunIoStats;
          thread?: ThreadSchedStats;
        }) => {
          if (m.tunIo !== undefined) h.tunIo = m.tunIo;
          if (m.thread !== undefined) h.thread = m.thread;
          if (m.type === 'ready') {
            started = true;
            h.fds = m.fds ?? [];
            h.tid = m.tid ?? null;
            this.handles.push(h);
            resolve({ vnetHdr: m.vnetHdr ?? d.vnetHdr, offloadRefused: m.offloadRefused ?? null });
          } else if (m.type === 'error' && m.error) {
            reject(toError(d.queue, m.error));
          } else if (m.type === 'stats' && m.snapshot && m.id !== undefined) {
            h.latest = m.snapshot;
            h.flowMeta = m.flowMeta ?? null;
            h.waiting.get(m.id)?.();
            h.waiting.delete(m.id);
          } else if (m.type === 'stopped') {
            h.stopping = true;
            h.closed = true;
          }
        },
      );
      // A new thread resets V8's flags (young-generation.ts).
      worker.once('online', reapplyYoungGenerationCap);
      worker.on('error', (err) => {
        if (!started) reject(err);
        else this.died(h, err.message);
      });
      worker.on('exit', (code) => {
        if (!started) reject(new Error(`worker ${d.queue} exited with code ${code} before it was ready`));
        else if (!h.stopping) this.died(h, `exited with code ${code}`);
        h.alive = false;
        for (const w of h.waiting.values()) w();
        h.waiting.clear();
      });
    });
  }

  private died(h: Handle, why: string): void {
    if (!h.alive || h.stopping) return;
    h.alive = false;
    this.exits++;
    // The thread is gone but its fds are the process's: close them so the kernel stops steering
    // packets to its TUN queue and socket. Not after 'stopped': the numbers may be reused by now.
    for (const fd of h.closed ? [] : h.fds) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    h.fds = [];
    this.onExit(h.queue, why, h.tid);
  }

  /** count is the number of workers started (alive or not). */
  get count(): number {
    return this.handles.length;
  }

  /** threads lists each started worker's queue and Linux thread id (for `top -H`, perf, /proc). */
  threads(): Array<{ queue: number; tid: number | null; alive: boolean }> {
    return this.handles.map((h) => ({ queue: h.queue, tid: h.tid, alive: h.alive }));
  }

  /** tunIo is queue `queue`'s TUN I/O mode as its worker last reported it, or null. */
  tunIo(queue: number): TunIoStats | null {
    return this.handles.find((h) => h.queue === queue)?.tunIo ?? null;
  }

  /** sched lists the live workers' scheduling (thread-sched.ts) as last reported. */
  sched(): ThreadSchedStats[] {
    const out: ThreadSchedStats[] = [];
    for (const h of this.handles) if (h.alive && h.thread !== null) out.push(h.thread);
    return out;
  }

  /** alive is the number of workers forwarding. */
  get alive(): number {
    return this.handles.filter((h) => h.alive).length;
  }

  /** setPeers sends a new peer set to every worker; each swaps its table on its next turn. */
  setPeers(peers: readonly PeerSpec[]): void {
    for (const h of this.handles) if (h.alive) h.worker.postMessage({ type: 'peers', peers });
  }

  /**
   * updatePeers sends a peer-set difference to every worker (they hold the same peers as queue 0,
   * so a difference is enough, and far less to clone than the whole set); each applies it on its
   * next turn.
   */
  updatePeers(diff: PeerDiff): void {
    for (const h of this.handles)
      if (h.alive) h.worker.postMessage({ type: 'peerDiff', remove: diff.remove, upsert: diff.upsert });
  }

  /** setPathMtu sends a new path MTU to every worker (`DataplaneQueue.setPathMtu`). */
  setPathMtu(pathMtu: number): void {
    for (const h of this.handles) if (h.alive) h.worker.postMessage({ type: 'pathMtu', pathMtu });
  }

  /** refresh asks every live worker for its counters and waits for the replies (bounded). */
  async refresh(flowTop = 0): Promise<void> {
    const waits = this.handles
      .filter((h) => h.alive)
      .map(
        (h) =>
          new Promise<void>((resolve) => {
            const id = this.nextId++;
            const t = setTimeout(() => {
              h.waiting.delete(id);
              resolve();
            }, REFRESH_TIMEOUT_MS);
            h.waiting.set(id, () => {
              clearTimeout(t);
              resolve();
            });
            h.worker.postMessage({ type: 'stats', id, flowTop });
          }),
      );
    await Promise.all(waits);
  }

  /** latest returns each worker's last snapshot (dead workers keep their last one). */
  latest(): QueueSnapshot[] {
    const out: QueueSnapshot[] = [];
    for (const h of this.handles) if (h.latest !== null) out.push(h.latest);
    return out;
  }

  /** latestFlowMeta returns the flow-table sizes that came with each worker's last snapshot. */
  latestFlowMeta(): QueueFlowMeta[] {
    const out: QueueFlowMeta[] = [];
    for (const h of this.handles) if (h.flowMeta !== null) out.push(h.flowMeta);
    return out;
  }

  /**
   * stop asks every worker to close its devices and waits for the threads to end. Idempotent: a
   * second call, also while the first runs, gets the same promise. `latest()` and `exits` stay.
   */
  stop(): Promise<void> {
    this.stopped ??= this.stopAll();
    return this.stopped;
  }

  private async stopAll(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(
      this.handles.map(async (h) => {
        if (!h.alive) return;
        const exited = new Promise<void>((resolve) => h.worker.once('exit', () => resolve()));
        // From here an exit is expected: the worker closes its own fds (they may be reused after).
        h.stopping = true;
        h.worker.postMessage({ type: 'stop' });
        const timeout = new Promise<'timeout'>((resolve) =>
          setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS).unref(),
        );
        if ((await Promise.race([exited, timeout])) === 'timeout') {
          h.stopping = false;
          this.died(h, 'did not stop in time');
          await h.worker.terminate();
        }
      }),
    );
  }
}
