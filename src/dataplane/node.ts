/**
 * DataplaneNode: one weft VTEP. Wires a TUN device, a UDP PacketIo (batch or dgram), a Router
 * and the two hot-path directions (egress.ts, ingress.ts), and owns the kernel state around them.
 *
 * Setup (`start`), in this order so a failure leaves nothing behind:
 *   1. build the route table from the peers (ConfigError on bad peers; nothing touched yet)
 *   2. find the underlay MTU: the MTU of the interface that owns `local`
 *   3. bind the UDP socket on local:port (EADDRINUSE fails before any device exists)
 *   4. open the TUN device, set its MTU (underlay - 50 for VXLAN, - 28 for flannel-UDP, or
 *      `mtu`), address, up, and one route per peer subnet into it, in one batch through
 *      tun-routes.ts (never over a route weft did not install)
 *   5. start both directions on the event loop
 * `stop` undoes 5..3: stops the directions, deletes the routes, closes the TUN (a non-persistent
 * device disappears with its fd) and the socket.
 *
 * Offloads (issue 5, `offload` true by default with `--io batch`): the TUN is opened with
 * IFF_VNET_HDR and TUNSETOFFLOAD CSUM|TSO4|TSO6, the socket sends UDP GSO trains and (VXLAN)
 * receives with UDP_GRO. The directions then run as `OffloadEgress` / `OffloadIngress`
 * (src/offload/), which reuse Egress / Ingress `processBatch` for every protocol stage and add
 * TSO segmentation + GSO trains on the way out and GRO splitting + TCP coalescing on the way in.
 * If the kernel refuses the TUN offloads, the node falls back to the plain path and says why in
 * `stats().offload`. `--io dgram` never uses offloads (it is the per-packet baseline).
 *
 * VXLAN outer source port: by default (`srcPort` 'fixed') the socket is bound to the VXLAN port,
 * so every frame leaves from that one port (flannel's kernel VXLAN hashes flows into
 * ip_local_port_range). Receivers accept any source port, so this interoperates. With `srcPort`
 * 'flow' (VXLAN only) the outer source port is a hash of the inner flow in [srcPortMin,
 * srcPortMax] (RFC 7348 §5). With `--io batch` each queue sends from a SrcPortPool
 * (src/io/src-port-pool.ts): UDP sockets bound to ports spread over the range, a flow's datagrams
 * (and GSO trains) leaving on the socket its hash picks, so offloads stay on. With `--io dgram`
 * egress writes the outer IPv4 + UDP header itself (source port = `flowSourcePort`) and sends on
 * a send-only raw socket (RawSendSocket, needs CAP_NET_RAW; per packet, no GSO). Receive always
 * stays on the bound UDP socket.
 *
 * Outer DF: with `--io batch` and VXLAN the socket sets IP_PMTUDISC_DONT, so the outer IPv4
 * header has DF clear as the kernel's VXLAN device sends it. flannel-UDP keeps the Linux default
 * (DF set), as flannel's own UDP proxy does; Node's dgram offers no such option, so `--io dgram`
 * frames carry DF.
 *
 * Underlay MTU changes at runtime are noticed within a second (underlay-mtu.ts): the path MTU of
 * every queue follows, and `onUnderlayMtu` gets a line for the operator naming the MTUs.
 *
 * Peers can change at runtime (`updatePeers`): the difference from the current peers is applied to
 * a copy of the RouteTable (O(changes), not O(peers): route-table.ts) and put into the Router
 * between two batches, then the kernel routes are reconciled.
 *
 * Threads: the forwarding itself is a DataplaneQueue (queue.ts): one TUN queue, its sockets and
 * both directions. Queue 0 runs on the main thread, or with `forwardOffMain` (what `weft run`
 * uses) on a worker thread of its own, so the control plane's work and GC pauses on the main
 * thread never stall a packet; queues 1..n-1 of `workers` run in worker threads (queue-worker.ts,
 * started by queue-workers.ts), each with its own TUN queue (IFF_MULTI_QUEUE), its own sockets in
 * one SO_REUSEPORT group steered by outer source port, its own Router (peer-set differences are
 * posted to it) and its own counters, which reach `stats()` as snapshots at most a second old
 * (`refreshStats` makes them exact; node-stats.ts sums them). queue-devices.ts says how a flow
 * stays on one queue in both directions. The node's setup and teardown stay on the main thread:
 * device MTU, address, routes. node-config.ts holds the config and the underlay lookup.
 */
import { ConfigError } from '../errors';
import {
  UDP_OVERHEAD,
  VXLAN_OVERHEAD,
  makeVxlanConfig,
  newAnomalyCounters,
  newDropCounters,
  type AnomalyCounters,
  type DropCounters,
} from '../encap';
import { DgramUdpSocket } from '../io/dgram-udp-socket';
import { RawSendSocket } from '../io/raw-send-socket';
import * as netdev from '../io/netdev';
import { RouteSync, type RouteSyncResult } from '../io/route-sync';
import type { IoMode, PacketIo } from '../io/packet-io';
import { Tun } from '../io/tun';
import { ipv4ToU32, parseCidr } from '../net/addr';
import { RouteTable, indexPeers, type PeerSpec } from '../route/route-table';
import { Router } from '../route/router';
import { diffPeers } from '../route/peer-diff';
import type { TunDevice } from '../io/tun-device';
import { DataplaneQueue, sumSnapshots, type QueueParams, type QueueSnapshot } from './queue';
import { openQueueSockets, openTunQueue, type QueueSocketSpec } from './queue-devices';
import { checkWorkers } from './workers';
import { UnderlayMtuWatch, describeMtuChange, type UnderlayMtuEvent } from './underlay-mtu';
import { loadBinding } from '../io/binding';
import type { QueueWorkerData } from './queue-worker';
import { QueueWorkers } from './queue-workers';
import { FORWARDING_SCHED_ENV, parseForwardingSched } from './thread-sched';
import { TunRoutes } from './tun-routes';
import { DEFAULT_SRC_PORT_MAX, DEFAULT_SRC_PORT_MIN, validSrcPortRange } from './src-port';
import { underlayOf, type NodeConfig, type NodeDeps } from './node-config';
import { flowsFromMeta, mergeFlows, nodeStats, type DataplaneFlows, type DataplaneStats } from './node-stats';

export type { IoMode };
export { underlayMtuOf, underlayOf, type NodeConfig, type NodeDeps } from './node-config';
export type { DataplaneFlows, DataplaneStats, OffloadStats, QueueSummary, SrcPortStats } from './node-stats';

const DEFAULT_SOCKET_BUFFER = 4 << 20;

/**
 * REBUILD_RATIO: `updatePeers` rebuilds the table when changes x this >= peers (a quarter of the set
 * or more changed), applies the difference otherwise.
 */
const REBUILD_RATIO = 4;

/** DataplaneNode is one running VTEP; see the module comment for setup and teardown. */
export class DataplaneNode {
  /** The router queue 0's egress looks up and `updatePeers` swaps (workers keep their own copy). */
  readonly router = new Router();
  /** TUN MTU, known after `start`. */
  mtu = 0;
  /** Underlay MTU, known after `start` and followed while running. */
  underlayMtu = 0;
  /** Largest inner packet the underlay carries unfragmented (underlay MTU - overhead). */
  pathMtu = 0;
  /** Called when the underlay MTU changes, or GSO trains leave fragmented. Default: a process warning. */
  onUnderlayMtu: (e: UnderlayMtuEvent) => void = (e) => {
    process.emitWarning(`weft: ${e.message}`, 'WeftUnderlayMtu');
  };
  /** Called when a worker thread dies (its queue is closed; the others go on). Default: a process warning. */
  onWorkerExit: (queue: number, why: string, tid: number | null) => void = (queue, why, tid) => {
    process.emitWarning(
      `weft: worker ${queue} (tid ${tid ?? '?'}) stopped forwarding: ${why}`,
      'WeftWorkerExit',
    );
  };

  /** Queue 0's counters; with workers, the getters below add the workers' latest snapshots. */
  private readonly q0Counters = {
    egressDrops: newDropCounters(),
    ingressDrops: newDropCounters(),
    anomalies: newAnomalyCounters(),
  };
  private tun: TunDevice | null = null;
  private io: PacketIo | null = null;
  private send: PacketIo | null = null;
  private raw: RawSendSocket | null = null;
  private q0: DataplaneQueue | null = null;
  private workers: QueueWorkers | null = null;
  private offloadRefused: string | null = null;
  private readonly routes: RouteSync;
  /** What the last route sync did (conflicts: routes refused because weft did not install the holder). */
  lastRouteSync: RouteSyncResult | null = null;
  /** The TUN's kernel routes, one per peer. */
  private readonly tunRoutes: TunRoutes;
  private startedAt = 0;
  private underlayIface: string | null = null;
  private mtuWatch: UnderlayMtuWatch | null = null;
  /** GSO MTU splits already reported, and when, so the warning comes at most once a minute. */
  private splitsReported = 0;
  private splitsReportedAt = 0;
  private readonly kernel: boolean;
  /** Queue 0 runs on a worker thread too (`forwardOffMain` with kernel devices and batch I/O). */
  private readonly offMain: boolean;
  /** Devices are open (from start until stop). */
  private running = false;

  /** DataplaneNode validates nothing until `start`; pass `deps` to run over fakes. */
  constructor(
    readonly config: NodeConfig,
    private readonly deps?: NodeDeps,
  ) {
    this.kernel = deps === undefined;
    this.routes = config.routes ?? new RouteSync();
    this.tunRoutes = new TunRoutes(this.routes, config.dev, config.routes === undefined);
    this.offMain = this.kernel && config.io === 'batch' && config.forwardOffMain === true;
  }

  /** forwarding is true while at least one queue forwards (false before start, after stop, or when every forwarding thread died). */
  get forwarding(): boolean {
    return this.running && (this.q0 !== null || (this.workers?.alive ?? 0) > 0);
  }

  /** forwardsOffMain is true when no queue forwards on the main thread (`forwardOffMain`). */
  get forwardsOffMain(): boolean {
    return this.offMain;
  }

  /**
   * forwardingThreads names the threads that forward: queue, Linux thread id (`tid`, for `top -H`,
   * `perf sched` and /proc/PID/task/TID; queue 0 on the main thread has the process's PID) and
   * scheduling policy ('rr' or 'other', thread-sched.ts; null on the main thread), with why
   * SCHED_RR was refused. Empty before start.
   */
  forwardingThreads(): Array<{
    queue: number;
    tid: number | null;
    policy: string | null;
    refused: string | null;
  }> {
    const out: Array<{ queue: number; tid: number | null; policy: string | null; refused: string | null }> =
      [];
    if (this.q0 !== null) out.push({ queue: 0, tid: process.pid, policy: null, refused: null });
    const sched = this.workers?.sched() ?? [];
    for (const t of this.workers?.threads() ?? []) {
      if (!t.alive) continue;
      const s = sched.find((x) => x.queue === t.queue);
      out.push({ queue: t.queue, tid: t.tid, policy: s?.policy ?? null, refused: s?.refused ?? null });
    }
    return out;
  }

  /** overhead is the encapsulation overhead on an IPv4 underlay (50 VXLAN, 28 flannel-UDP). */
  get overhead(): number {
    return this.config.backend === 'vxlan' ? VXLAN_OVERHEAD : UDP_OVERHEAD;
  }

  /** srcPortFlow is true when egress hashes outer source ports (`srcPort` 'flow', VXLAN). */
  get srcPortFlow(): boolean {
    return this.config.srcPort === 'flow';
  }

  /**
   * srcPortSummary describes the outer source port for start lines: `fixed`, `flow MIN-MAX (N
   * ports)` on source-port pools (all queues), or `flow MIN-MAX (raw socket)` (`--io dgram`).
   */
  srcPortSummary(): string {
    const c = this.config;
    if (!this.srcPortFlow) return 'fixed';
    const range = `${c.srcPortMin ?? DEFAULT_SRC_PORT_MIN}-${c.srcPortMax ?? DEFAULT_SRC_PORT_MAX}`;
    const ports = this.stats().srcPort?.ports;
    return ports !== undefined ? `flow ${range} (${ports.length} ports)` : `flow ${range} (raw socket)`;
  }

  /** queueCount is the number of forwarding queues (`workers`, default 1). */
  get queueCount(): number {
    return this.config.workers ?? 1;
  }

  /** Drop counters of the TUN -> UDP direction, all queues (workers' part at most 1 s old). */
  get egressDrops(): DropCounters {
    return this.workers === null ? this.q0Counters.egressDrops : this.totals().egressDrops;
  }

  /** Drop counters of the UDP -> TUN direction, all queues. */
  get ingressDrops(): DropCounters {
    return this.workers === null ? this.q0Counters.ingressDrops : this.totals().ingressDrops;
  }

  /** Accepted-but-odd frames (ingress), all queues. */
  get anomalies(): AnomalyCounters {
    return this.workers === null ? this.q0Counters.anomalies : this.totals().anomalies;
  }

  /** start sets everything up and starts forwarding; on failure undoes what it did and rethrows. */
  async start(): Promise<void> {
    const c = this.config;
    const flow = this.srcPortFlow;
    const portMin = c.srcPortMin ?? DEFAULT_SRC_PORT_MIN;
    const portMax = c.srcPortMax ?? DEFAULT_SRC_PORT_MAX;
    const queues = this.queueCount;
    if (flow && c.backend !== 'vxlan') {
      throw new ConfigError(
        '--src-port',
        'flow needs the vxlan backend (flannel-UDP keeps its port)',
        c.backend,
      );
    }
    if (flow && !validSrcPortRange(portMin, portMax)) {
      throw new ConfigError(
        '--src-port-range',
        'must be MIN-MAX with 1 <= MIN <= MAX <= 65535',
        `${portMin}-${portMax}`,
      );
    }
    checkWorkers(queues);
    if (queues > 1 && c.io !== 'batch') {
      throw new ConfigError(
        '--workers',
        'more than 1 needs --io batch (one socket per worker)',
        String(queues),
      );
    }
    if (queues > 1 && !this.kernel) {
      throw new ConfigError('--workers', 'more than 1 needs kernel devices', String(queues));
    }
    const table = this.buildTable(c.peers);
    parseCidr(c.address, '--address');
    // weft run's forwarding threads run real-time when allowed (thread-sched.ts).
    const sched = this.offMain ? parseForwardingSched(process.env[FORWARDING_SCHED_ENV]) : 'other';
    // Validates the VNI and MAC before anything is opened.
    makeVxlanConfig({ vni: c.vni, localMac: c.vtepMac });

    if (this.kernel) {
      const u = await underlayOf(c.local);
      this.underlayIface = u.name;
      this.underlayMtu = u.mtu;
    } else this.underlayMtu = this.deps!.underlayMtu ?? 1500;
    const pathMtu = this.underlayMtu - this.overhead;
    this.pathMtu = pathMtu;
    this.mtu = c.mtu ?? pathMtu;
    if (this.mtu < 68) {
      throw new ConfigError('--mtu', 'must leave at least 68 bytes for the inner packet', String(this.mtu));
    }
    const bufferSize = c.socketBufferSize ?? DEFAULT_SOCKET_BUFFER;
    // --src-port flow over --io batch: a source-port pool per queue (GSO kept); over dgram the
    // raw socket, which sends whole IPv4 datagrams with outer headers egress wrote.
    const pooled = flow && c.io === 'batch';
    const rawFlow = flow && !pooled;
    const sockets = (queue: number): QueueSocketSpec => ({
      local: c.local,
      port: c.port,
      backend: c.backend,
      bufferSize,
      queue,
      queues,
      srcPorts: pooled ? { min: portMin, max: portMax } : null,
    });
    const wantOffload = this.kernel && c.io === 'batch' && c.offload !== false;
    const params: QueueParams = {
      backend: c.backend,
      vni: c.vni,
      vtepMac: c.vtepMac,
      port: c.port,
      pathMtu,
      mtu: this.mtu,
      underlayMtu: this.underlayMtu,
      outer: rawFlow
        ? { localU32: ipv4ToU32(c.local, '--local'), srcPortMin: portMin, srcPortMax: portMax }
        : null,
      batchSize: c.batchSize ?? 64,
      flowCounters: c.flowCounters === true,
      rco: c.backend === 'vxlan' && c.vxlanRco === true,
    };
    const worker = (queue: number, vnetHdr: boolean, peers: PeerSpec[]): QueueWorkerData => ({
      queue,
      queues,
      dev: c.dev,
      vnetHdr,
      multiQueue: queues > 1,
      sockets: sockets(queue),
      rawBufferSize: rawFlow ? bufferSize : null,
      params,
      peers,
      sched,
    });
    const poolOptions = {
      flowTop: params.flowCounters ? FLOW_TOP_FROM_WORKERS : 0,
      onExit: (queue: number, why: string, tid: number | null) => this.onWorkerExit(queue, why, tid),
    };
    try {
      const peersAtStart = c.peers;
      let offloaded: boolean;
      if (this.offMain) {
        // Queue 0's thread creates the device (it opens the first TUN queue) and waits for the
        // address and routes before it forwards.
        const pool = (this.workers = QueueWorkers.create(poolOptions));
        const q0 = await pool.add({
          ...worker(0, wantOffload, peersAtStart),
          offloadFallback: true,
          deferStart: true,
        });
        offloaded = q0.vnetHdr;
        this.offloadRefused ??= q0.offloadRefused;
        this.running = true;
        await this.setUpDevice(table);
        pool.startQueues();
      } else {
        if (!this.kernel) {
          this.io = this.deps!.io;
          this.send = this.io;
        } else if (c.io === 'dgram') {
          this.io = await DgramUdpSocket.bind({
            address: c.local,
            port: c.port,
            recvBufferSize: bufferSize,
            sendBufferSize: bufferSize,
          });
          this.send = this.io;
        } else {
          const s = openQueueSockets(sockets(0));
          this.io = s.recv;
          this.send = s.send;
        }
        if (rawFlow && this.kernel) this.raw = RawSendSocket.open(bufferSize);
        const kernelTun = this.kernel ? this.openTun(wantOffload, queues > 1) : null;
        this.tun = kernelTun ?? this.deps!.tun;
        this.running = true;
        offloaded = kernelTun !== null && kernelTun.vnetHdr;
        await this.setUpDevice(table);
        this.q0 = new DataplaneQueue(
          0,
          params,
          {
            tun: this.tun,
            offloadTun: offloaded ? kernelTun : null,
            recv: this.io,
            send: this.send,
            raw: this.raw,
          },
          this.router,
          this.q0Counters,
        );
        this.q0.start();
      }
      if (queues > 1) {
        const pool = (this.workers ??= QueueWorkers.create(poolOptions));
        for (let q = 1; q < queues; q++) await pool.add(worker(q, offloaded, peersAtStart));
      }
      if (this.workers !== null) {
        this.workers.startRefreshing();
        // An updatePeers while the workers were starting reached only the queues already running.
        if (this.config.peers !== peersAtStart) this.workers.setPeers(this.config.peers);
        // stats() right after start sees every queue.
        await this.workers.refresh(poolOptions.flowTop);
      }
      this.startedAt = Date.now();
      if (this.kernel && this.underlayIface !== null) this.watchUnderlayMtu(this.underlayIface);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** setUpDevice sets the TUN's MTU, address and up, puts `table` in the router and routes it. */
  private async setUpDevice(table: RouteTable): Promise<void> {
    const c = this.config;
    if (this.kernel) {
      await netdev.setMtu(c.dev, this.mtu);
      await netdev.addAddress(c.dev, c.address);
      await netdev.setUp(c.dev);
    }
    this.router.swap(table);
    if (this.kernel) await this.syncRoutes(table, true);
  }

  /**
   * openTun opens queue 0 of the TUN device (multi-queue when `multiQueue`), with IFF_VNET_HDR +
   * TSO offloads when `offload`; if the kernel refuses the offloads the device is reopened plain
   * and the reason kept for `stats().offload` (the workers then open their queues plain too).
   */
  private openTun(offload: boolean, multiQueue: boolean): Tun {
    const dev = this.config.dev;
    if (!offload) return openTunQueue(dev, false, multiQueue);
    try {
      return openTunQueue(dev, true, multiQueue);
    } catch (err) {
      this.offloadRefused = err instanceof Error ? err.message : String(err);
      return openTunQueue(dev, false, multiQueue);
    }
  }

  private buildTable(peers: PeerSpec[]): RouteTable {
    this.checkBackends(peers);
    return RouteTable.build(indexPeers(peers));
  }

  private checkBackends(peers: readonly PeerSpec[]): void {
    const want = this.config.backend;
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i]!;
      if (p.backend !== want) {
        throw new ConfigError(`--peer[${i}]`, `backend must be ${want}`, `${p.subnet} is ${p.backend}`);
      }
    }
  }

  /** syncRoutes programs the table's TUN routes (tun-routes.ts) and keeps the result. */
  private async syncRoutes(table: RouteTable, atStart = false): Promise<RouteSyncResult> {
    const r = await this.tunRoutes.sync(table, atStart);
    this.lastRouteSync = r;
    return r;
  }

  /**
   * updatePeers replaces the peer set: applies the difference to the route table (ConfigError
   * leaves the old one in place; a large difference rebuilds it), puts it in the router (effective
   * from the next packet; cached destinations the change does not touch stay cached), posts the same
   * difference to the workers (they apply it on their next event-loop turn), then adds routes for
   * new subnets and removes routes of subnets that are gone.
   */
  async updatePeers(peers: PeerSpec[]): Promise<RouteSyncResult | null> {
    const cur = this.router.table;
    this.checkBackends(peers);
    const diff = diffPeers(cur, peers);
    const changes = diff.remove.length + diff.upsert.length;
    if (changes * REBUILD_RATIO >= cur.size) {
      // Most of the set changed: a rebuild is as cheap, and starts from compact arrays.
      const table = this.buildTable(peers);
      this.router.swap(table);
      this.workers?.setPeers(peers);
    } else if (changes > 0) {
      let next: RouteTable;
      try {
        // Off the main thread no packet reads this table: change it in place (no O(peers) copy).
        next = this.offMain
          ? cur.applyChanges(diff.remove, diff.upsert)
          : cur.withChanges(diff.remove, diff.upsert);
      } catch (e) {
        // Name the bad peer by its place in `peers`, as a rebuild does (`peers[i].<field>`).
        if (e instanceof ConfigError) this.buildTable(peers);
        throw e;
      }
      this.router.update(next);
      this.workers?.updatePeers(diff);
    }
    this.config.peers = peers;
    if (!this.kernel || !this.running) return null;
    // The kernel routes follow in the next turn of the event loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
    return !this.running ? null : await this.syncRoutes(this.router.table);
  }

  /** watchUnderlayMtu follows `iface`'s MTU (one ioctl a second) and reports GSO MTU splits. */
  private watchUnderlayMtu(iface: string): void {
    const b = loadBinding();
    this.mtuWatch = new UnderlayMtuWatch({
      read: () => b.ifGetMtu(iface),
      initial: this.underlayMtu,
      onChange: (_old, mtu) => this.setUnderlayMtu(mtu),
      onTick: () => this.reportMtuSplits(),
    });
    this.mtuWatch.start();
  }

  /**
   * setUnderlayMtu applies a new underlay MTU: the path MTU of every queue follows (segment size,
   * ICMP fragmentation-needed threshold) and `onUnderlayMtu` is told (control path).
   */
  setUnderlayMtu(mtu: number): void {
    const old = this.underlayMtu;
    if (mtu === old) return;
    this.underlayMtu = mtu;
    this.pathMtu = mtu - this.overhead;
    this.q0?.setPathMtu(this.pathMtu);
    this.workers?.setPathMtu(this.pathMtu);
    // Trains refused before this change was seen are explained by this line already.
    const splits = this.gsoMtuSplits();
    this.splitsReported = splits;
    this.splitsReportedAt = Date.now();
    this.onUnderlayMtu({
      kind: 'changed',
      message: describeMtuChange(this.underlayIface ?? '?', old, mtu, this.mtu, this.overhead),
      iface: this.underlayIface ?? '',
      oldMtu: old,
      underlayMtu: mtu,
      tunMtu: this.mtu,
      pathMtu: this.pathMtu,
      gsoMtuSplits: splits,
    });
  }

  /** gsoMtuSplits is the count of GSO trains sent fragmented because of the MTU, all queues. */
  private gsoMtuSplits(): number {
    return sumSnapshots(this.snapshots()).offload.gsoMtuSplits;
  }

  /**
   * reportMtuSplits warns (at most once a minute) when GSO trains went out fragmented although
   * the interface MTU did not change, e.g. a route with a smaller `mtu` to a peer.
   */
  private reportMtuSplits(): void {
    const n = this.gsoMtuSplits();
    if (n <= this.splitsReported || Date.now() - this.splitsReportedAt < 60_000) return;
    const iface = this.underlayIface ?? '';
    this.splitsReported = n;
    this.splitsReportedAt = Date.now();
    this.onUnderlayMtu({
      kind: 'fragmenting',
      message:
        `${n} UDP GSO trains left as fragmented datagrams: their segments exceed the route MTU to a peer ` +
        `(underlay ${iface} MTU ${this.underlayMtu}, TUN MTU ${this.mtu}); check \`ip route get <peer>\` for a smaller mtu`,
      iface,
      oldMtu: this.underlayMtu,
      underlayMtu: this.underlayMtu,
      tunMtu: this.mtu,
      pathMtu: this.pathMtu,
      gsoMtuSplits: n,
    });
  }

  /** stop stops forwarding and removes routes, the TUN device and the sockets. Idempotent. */
  async stop(): Promise<void> {
    this.mtuWatch?.stop();
    this.mtuWatch = null;
    const w = this.workers;
    // The pool keeps the workers' last counters after it stops, so totals never go back.
    if (w !== null) await w.refresh().catch(() => undefined);
    const releaseRoutes = async (): Promise<void> => {
      if (this.kernel) await this.tunRoutes.release();
    };
    // The routes go while the device still exists: with queue 0 on a worker, its stop removes it.
    if (this.offMain) await releaseRoutes();
    if (w !== null) await w.stop();
    this.q0?.stop();
    await releaseRoutes();
    this.running = false;
    this.tun?.close();
    if (this.send !== null && this.send !== this.io) this.send.close();
    this.io?.close();
    this.raw?.close();
    this.tun = null;
    this.io = null;
    this.send = null;
    this.raw = null;
  }

  /**
   * refreshStats fetches the workers' current counters, so that the next `stats()` (and the
   * drop getters) are exact rather than up to a second old. Without workers it does nothing.
   */
  async refreshStats(): Promise<void> {
    await this.workers?.refresh(this.config.flowCounters === true ? FLOW_TOP_FROM_WORKERS : 0);
  }

  /** snapshots returns queue 0's counters and each worker's latest ones (control path). */
  private snapshots(flowTop = 0): QueueSnapshot[] {
    const out: QueueSnapshot[] = [];
    if (this.q0 !== null) out.push(this.q0.snapshot(flowTop));
    out.push(...(this.workers?.latest() ?? []));
    return out;
  }

  private totals(): QueueSnapshot {
    return sumSnapshots(this.snapshots());
  }

  /** stats returns a snapshot of the counters (control path; allocates). */
  stats(): DataplaneStats {
    const c = this.config;
    return nodeStats({
      parts: this.snapshots(),
      running: this.running,
      startedAt: this.startedAt,
      routes: { peers: this.router.table.size, swaps: this.router.swaps },
      offloadRefused: this.offloadRefused,
      srcPort: {
        mode: this.srcPortFlow ? 'flow' : 'fixed',
        port: c.port,
        min: c.srcPortMin ?? DEFAULT_SRC_PORT_MIN,
        max: c.srcPortMax ?? DEFAULT_SRC_PORT_MAX,
      },
      workers: {
        count: this.queueCount,
        alive: !this.running ? 0 : (this.q0 === null ? 0 : 1) + (this.workers?.alive ?? 0),
        exits: this.workers?.exits ?? 0,
      },
      underlayMtu: this.underlayMtu,
      pathMtu: this.pathMtu,
      tunIo:
        this.tun !== null
          ? {
              mode: this.tun.ioMode ?? 'readv',
              refused: this.tun.ioRefused ?? null,
              ringCalls: this.tun.ringCalls ?? 0,
            }
          : (this.workers?.tunIo(0) ?? undefined),
      forwarding: this.workers?.sched(),
    });
  }

  /**
   * flows returns the per-flow counters, the `top` flows by bytes per direction (optionally only
   * those to or from `ip`), or null when the node runs without `flowCounters` (control path).
   * With workers, their flows are from the last `refreshStats` (or the periodic one).
   */
  flows(top = 50, ip?: number): DataplaneFlows | null {
    const e = this.q0?.egress.flows;
    const i = this.q0?.ingress.flows;
    let mine: DataplaneFlows;
    if (e && i) mine = { egress: e.snapshot(top, ip), ingress: i.snapshot(top, ip) };
    else if (this.offMain && this.config.flowCounters === true) {
      mine = flowsFromMeta(this.workers?.latestFlowMeta() ?? []);
    } else return null;
    return mergeFlows(mine, this.workers?.latest() ?? [], top, ip);
  }
}

/** FLOW_TOP_FROM_WORKERS is how many flows per direction a worker reports for /debug/flows. */
const FLOW_TOP_FROM_WORKERS = 1000;
