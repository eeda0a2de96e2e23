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
 *      route-sync.ts (never over a route weft did not install)
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
 * Workers (`workers` > 1, issue 5): the forwarding itself is a DataplaneQueue (queue.ts): one
 * TUN queue, its sockets and both directions. Queue 0 runs on the main thread; queues 1..n-1 run
 * in worker threads (queue-worker.ts, started by queue-workers.ts), each with its own TUN queue
 * (IFF_MULTI_QUEUE), its own sockets in one SO_REUSEPORT group steered by outer source port, its
 * own Router (peer changes are posted to it) and its own counters, which reach `stats()` as
 * snapshots at most a second old (`refreshStats` makes them exact). queue-devices.ts says how a
 * flow stays on one queue in both directions. The node's setup and teardown stay on the main
 * thread: device MTU, address, routes.
 */
import { ConfigError, SystemError } from '../errors';
import {
  ANOMALY_NAMES,
  DROP_REASON_NAMES,
  UDP_OVERHEAD,
  VXLAN_OVERHEAD,
  makeVxlanConfig,
  newAnomalyCounters,
  newDropCounters,
  type AnomalyCounters,
  type DropCounters,
} from '../encap';
import { ioCountersToObject } from '../io/counters';
import { DgramUdpSocket } from '../io/dgram-udp-socket';
import { RawSendSocket } from '../io/raw-send-socket';
import * as netdev from '../io/netdev';
import { errnoFromIpStderr } from '../io/netdev';
import { RouteSync, type KernelRoute, type RouteSyncResult } from '../io/route-sync';
import type { IoMode, PacketIo } from '../io/packet-io';
import { Tun } from '../io/tun';
import { ipv4ToU32, parseCidr, u32ToIpv4 } from '../route/addr';
import type { Backend, Peer } from '../route/peer';
import { RouteTable, indexPeers, type PeerSpec } from '../route/route-table';
import { Router } from '../route/router';
import { diffPeers } from '../route/peer-diff';
import { batchSizeStats, type BatchSizeStats } from './batch-histogram';
import type { TunDevice } from '../io/tun-device';
import type { FlowEntry, FlowTableSnapshot } from './flow-table';
import {
  DataplaneQueue,
  sumSnapshots,
  type QueueOffloadSnapshot,
  type QueueParams,
  type QueueSnapshot,
} from './queue';
import { openQueueSockets, openTunQueue, type QueueSocketSpec } from './queue-devices';
import { checkWorkers } from './workers';
import { UnderlayMtuWatch, describeMtuChange, type UnderlayMtuEvent } from './underlay-mtu';
import { loadBinding } from '../io/binding';
import type { QueueWorkerData } from './queue-worker';
import { QueueWorkers } from './queue-workers';
import { DEFAULT_SRC_PORT_MAX, DEFAULT_SRC_PORT_MIN, validSrcPortRange, type SrcPortMode } from './src-port';

export type { IoMode };

/** NodeConfig is everything a DataplaneNode needs (the flags of `weft link`). */
export interface NodeConfig {
  /** Encapsulation: 'vxlan' (RFC 7348, flannel's vxlan backend) or 'udp' (flannel-UDP). */
  backend: Backend;
  /** TUN device name (<= 15 chars). */
  dev: string;
  /** Underlay IPv4 address to bind; its interface's MTU is the underlay MTU. */
  local: string;
  /** Overlay address of the TUN, `a.b.c.d/len`. */
  address: string;
  /** VXLAN Network Identifier (flannel: 1). */
  vni: number;
  /** UDP port, ours and every peer's (8472 VXLAN, 8285 flannel-UDP). */
  port: number;
  /** Our VTEP MAC (6 bytes): inner Ethernet source, and the destination we accept. */
  vtepMac: Buffer;
  /** TUN MTU; default underlay MTU - 50 (VXLAN) or - 28 (flannel-UDP). */
  mtu?: number | undefined;
  /** UDP I/O implementation. */
  io: IoMode;
  /** Initial peers; `backend` of each must match ours to be used. */
  peers: PeerSpec[];
  /** Packets per batch in each direction (default 64). */
  batchSize?: number;
  /** Socket buffer sizes in bytes (default 4 MiB each). */
  socketBufferSize?: number;
  /** TUN TSO + UDP GSO/GRO + TCP coalescing (batch I/O only; default true). */
  offload?: boolean;
  /** Per-flow packet/byte counters in both directions (`--debug`; default false). */
  flowCounters?: boolean;
  /** Outer UDP source port: 'fixed' (bound port, default) or 'flow' (hash of the inner flow; VXLAN only). */
  srcPort?: SrcPortMode;
  /** Inclusive source port range for 'flow' (default 49152-65535). */
  srcPortMin?: number;
  srcPortMax?: number;
  /** VXLAN Remote Checksum Offload, both directions (`--vxlan-rco`; default false; VXLAN only). */
  vxlanRco?: boolean;
  /**
   * Forwarding workers (default 1): the TUN is opened multi-queue with one queue per worker, the
   * first on the main thread and the others on worker threads (`--workers`).
   */
  workers?: number;
  /**
   * Kernel route programmer shared with the caller (the daemon checks lease routes against the
   * whole cluster Network with it); default a private one. The TUN routes are its group `tun`.
   */
  routes?: RouteSync;
}

/** SrcPortStats is the `srcPort` part of DataplaneStats. */
export interface SrcPortStats {
  mode: SrcPortMode;
  /** The hashed range ('flow'), or the bound port twice ('fixed'). */
  min: number;
  max: number;
  /** Counters of the raw send socket ('flow' with `--io dgram`). */
  raw?: Record<string, number>;
  /** Source ports the pool sockets are bound to, all queues ('flow' with `--io batch`). */
  ports?: number[];
}

/** DataplaneFlows is the per-flow part of /debug/flows (`DataplaneNode.flows`). */
export interface DataplaneFlows {
  egress: FlowTableSnapshot;
  ingress: FlowTableSnapshot;
}

/** OffloadStats is the `offload` part of DataplaneStats: the queues' offload state and counters, summed. */
export interface OffloadStats extends QueueOffloadSnapshot {
  /** Why not, when asked for but refused (e.g. `TUNSETOFFLOAD EINVAL`); null otherwise. */
  refused: string | null;
}

/** NodeDeps replace the kernel objects in unit tests: no netdev calls are made when given. */
export interface NodeDeps {
  tun: TunDevice;
  io: PacketIo;
  /** Underlay MTU to assume (default 1500). */
  underlayMtu?: number;
}

/** DataplaneStats is the JSON `weft link` prints on SIGUSR1 / --stats. Drops list non-zero reasons only. */
export interface DataplaneStats {
  uptimeSeconds: number;
  egress: {
    packets: number;
    bytes: number;
    batches: number;
    icmpReplies: number;
    stalls: number;
    /** Batch-size histogram (TUN reads per batch); absent in stats from older nodes. */
    batchSizes?: BatchSizeStats;
    /** Frames sent with VXLAN RCO fields, inner checksum left partial (`--vxlan-rco`). */
    rcoFrames?: number;
  };
  ingress: {
    packets: number;
    bytes: number;
    batches: number;
    /** Batch-size histogram (datagrams per receive batch). */
    batchSizes?: BatchSizeStats;
    /**
     * Inner TCP/UDP packets that arrived with a partial checksum (pseudo-header sum only, as a
     * kernel sender leaves it over veth): completed by weft, or handed to the TUN marked NEEDS_CSUM.
     */
    partialCsum?: { completed: number; needsCsum: number };
    /** Accepted frames that carried VXLAN RCO fields (`--vxlan-rco`). */
    rcoFrames?: number;
  };
  /** Non-zero drop counts of both directions, by snake_case reason. */
  drops: Record<string, number>;
  /** Non-zero egress drops only. */
  egressDrops: Record<string, number>;
  /** Non-zero ingress drops only. */
  ingressDrops: Record<string, number>;
  /** Non-zero anomaly counts. */
  anomalies: Record<string, number>;
  tun: Record<string, number>;
  udp: Record<string, number>;
  routes: { peers: number; cacheHits: number; cacheMisses: number; swaps: number };
  /** Offload state and counters (issue 5). */
  offload?: OffloadStats;
  /** Outer UDP source port mode; absent in stats from older nodes. */
  srcPort?: SrcPortStats;
  /** Forwarding workers (`--workers`): how many, how many forward, how many died. */
  workers?: { count: number; alive: number; exits: number };
  /** Per-queue packet counts (one entry per worker; worker counts are at most 1 s old). */
  queues?: QueueSummary[];
  /** Underlay MTU now (followed at runtime) and the path MTU applied (underlay - overhead). */
  underlayMtu?: number;
  pathMtu?: number;
}

/** QueueSummary is one queue's share of the traffic, in DataplaneStats.queues. */
export interface QueueSummary {
  queue: number;
  egressPackets: number;
  egressBytes: number;
  ingressPackets: number;
  ingressBytes: number;
  /** Packets this queue dropped, all reasons together, per direction. */
  egressDrops: number;
  ingressDrops: number;
}

const DEFAULT_SOCKET_BUFFER = 4 << 20;

/**
 * REBUILD_RATIO: `updatePeers` rebuilds the table when changes x this >= peers (a quarter of the set
 * or more changed), applies the difference otherwise.
 */
const REBUILD_RATIO = 4;

function nonZero(
  c: Float64Array,
  names: readonly string[],
  into: Record<string, number> = {},
): Record<string, number> {
  for (let i = 0; i < names.length; i++) if (c[i]! > 0) into[names[i]!] = (into[names[i]!] ?? 0) + c[i]!;
  return into;
}

/**
 * underlayMtuOf returns the MTU of the interface that has IPv4 address `local`; throws ConfigError
 * naming `--local` when no interface has it.
 */
export async function underlayMtuOf(local: string): Promise<number> {
  return (await underlayOf(local)).mtu;
}

/**
 * underlayOf returns the name and MTU of the interface that has IPv4 address `local`; throws
 * ConfigError naming `--local` when no interface has it.
 */
export async function underlayOf(local: string): Promise<{ name: string; mtu: number }> {
  const out = await netdev.ip(['-j', '-4', 'addr', 'show']);
  const links = JSON.parse(out) as Array<{
    ifname: string;
    mtu: number;
    addr_info?: Array<{ local?: string }>;
  }>;
  for (const l of links) {
    if ((l.addr_info ?? []).some((a) => a.local === local)) return { name: l.ifname, mtu: l.mtu };
  }
  throw new ConfigError('--local', 'must be an IPv4 address of a local interface', local);
}

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
  onWorkerExit: (queue: number, why: string) => void = (queue, why) => {
    process.emitWarning(`weft: worker ${queue} stopped forwarding: ${why}`, 'WeftWorkerExit');
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
  /** The kernel route of each peer (its TUN route), kept so a sync of 10,000 peers allocates none. */
  private readonly kernelRoutes = new WeakMap<Peer, KernelRoute>();
  private startedAt = 0;
  private underlayIface: string | null = null;
  private mtuWatch: UnderlayMtuWatch | null = null;
  /** GSO MTU splits already reported, and when, so the warning comes at most once a minute. */
  private splitsReported = 0;
  private splitsReportedAt = 0;
  private readonly kernel: boolean;

  /** DataplaneNode validates nothing until `start`; pass `deps` to run over fakes. */
  constructor(
    readonly config: NodeConfig,
    private readonly deps?: NodeDeps,
  ) {
    this.kernel = deps === undefined;
    this.routes = config.routes ?? new RouteSync();
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
    const pooled = flow && c.io === 'batch';
    const sockets = (queue: number): QueueSocketSpec => ({
      local: c.local,
      port: c.port,
      backend: c.backend,
      bufferSize,
      queue,
      queues,
      srcPorts: pooled ? { min: portMin, max: portMax } : null,
    });
    try {
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
      // --io dgram: the raw socket sends whole IPv4 datagrams (outer headers written by egress).
      const rawFlow = flow && !pooled;
      if (rawFlow && this.kernel) this.raw = RawSendSocket.open(bufferSize);
      const wantOffload = this.kernel && c.io === 'batch' && c.offload !== false;
      const kernelTun = this.kernel ? this.openTun(wantOffload, queues > 1) : null;
      this.tun = kernelTun ?? this.deps!.tun;
      if (this.kernel) {
        await netdev.setMtu(c.dev, this.mtu);
        await netdev.addAddress(c.dev, c.address);
        await netdev.setUp(c.dev);
      }
      this.router.swap(table);
      if (this.kernel) await this.syncRoutes(table, true);
      const offloaded = kernelTun !== null && kernelTun.vnetHdr;
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
      if (queues > 1) {
        const peersAtStart = c.peers;
        const data: QueueWorkerData[] = [];
        for (let q = 1; q < queues; q++) {
          data.push({
            queue: q,
            queues,
            dev: c.dev,
            vnetHdr: offloaded,
            sockets: sockets(q),
            rawBufferSize: rawFlow ? bufferSize : null,
            params,
            peers: peersAtStart,
          });
        }
        this.workers = await QueueWorkers.start(data, {
          flowTop: params.flowCounters ? FLOW_TOP_FROM_WORKERS : 0,
          onExit: (queue, why) => this.onWorkerExit(queue, why),
        });
        // An updatePeers while the workers were starting only reached queue 0: send the latest.
        if (this.config.peers !== peersAtStart) this.workers.setPeers(this.config.peers);
      }
      this.startedAt = Date.now();
      if (this.kernel && this.underlayIface !== null) this.watchUnderlayMtu(this.underlayIface);
    } catch (err) {
      await this.stop();
      throw err;
    }
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

  /**
   * syncRoutes makes the kernel route exactly the table's subnets into the TUN, in one batch. A
   * subnet whose prefix is held by a route weft did not install is left alone (and reported in
   * `lastRouteSync`); with a private route programmer that is a ConfigError at start.
   */
  private async syncRoutes(table: RouteTable, atStart = false): Promise<RouteSyncResult> {
    const dev = this.config.dev;
    const want: KernelRoute[] = [];
    for (const p of table.peers) {
      // Unchanged peers keep their Peer object across incremental updates, and so their route.
      let r = this.kernelRoutes.get(p);
      if (r === undefined || r.dev !== dev) this.kernelRoutes.set(p, (r = { dst: p.subnet, dev }));
      want.push(r);
    }
    const r = await this.routes.sync('tun', want, { exclusive: true });
    this.lastRouteSync = r;
    if (r.errors.length > 0 && atStart) {
      const e = r.errors[0]!;
      throw new SystemError(
        `ip route ${e.op} ${e.route.dst} dev ${dev}`,
        errnoFromIpStderr(e.error),
        e.error,
      );
    }
    if (r.conflicts.length > 0 && atStart && this.config.routes === undefined) {
      const c = r.conflicts[0]!;
      throw new ConfigError(
        '--peer',
        `must not take over a route weft did not install (${c.holder})`,
        c.route.dst,
      );
    }
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
        next = cur.withChanges(diff.remove, diff.upsert);
      } catch (e) {
        // Name the bad peer by its place in `peers`, as a rebuild does (`peers[i].<field>`).
        if (e instanceof ConfigError) this.buildTable(peers);
        throw e;
      }
      this.router.update(next);
      this.workers?.updatePeers(diff);
    }
    this.config.peers = peers;
    if (!this.kernel || this.tun === null) return null;
    // The kernel routes follow in the next turn of the event loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.tun === null ? null : await this.syncRoutes(this.router.table);
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
    if (w !== null) {
      // The pool keeps the workers' last counters after it stops, so totals never go back.
      await w.refresh().catch(() => undefined);
      await w.stop();
    }
    this.q0?.stop();
    if (this.kernel && this.routes.routesOf('tun').length > 0) {
      await this.routes.release('tun').catch(() => undefined);
    }
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
    const parts = this.snapshots();
    const t = sumSnapshots(parts);
    // Before start (or without queues) the node's own arrays still hold what was counted.
    const drops = nonZero(t.ingressDrops, DROP_REASON_NAMES, nonZero(t.egressDrops, DROP_REASON_NAMES));
    const out: DataplaneStats = {
      uptimeSeconds: this.startedAt === 0 ? 0 : (Date.now() - this.startedAt) / 1000,
      egress: {
        packets: t.egress.packets,
        bytes: t.egress.bytes,
        batches: t.egress.batches,
        icmpReplies: t.egress.icmpReplies,
        stalls: t.egress.stalls,
        batchSizes: batchSizeStats(t.egress.batchSizes),
        rcoFrames: t.egress.rcoFrames ?? 0,
      },
      ingress: {
        packets: t.ingress.packets,
        bytes: t.ingress.bytes,
        batches: t.ingress.batches,
        batchSizes: batchSizeStats(t.ingress.batchSizes),
        partialCsum: { completed: t.ingress.csumCompleted, needsCsum: t.ingress.csumNeedsCsum },
        rcoFrames: t.ingress.rcoFrames ?? 0,
      },
      drops,
      egressDrops: nonZero(t.egressDrops, DROP_REASON_NAMES),
      ingressDrops: nonZero(t.ingressDrops, DROP_REASON_NAMES),
      anomalies: nonZero(t.anomalies, ANOMALY_NAMES),
      tun: this.tun ? ioCountersToObject(t.tun) : {},
      udp: this.io ? ioCountersToObject(t.udp) : {},
      routes: {
        peers: this.router.table.size,
        cacheHits: t.routes.hits,
        cacheMisses: t.routes.misses,
        swaps: this.router.swaps,
      },
      offload: this.offloadStats(t, parts.length > 0),
      srcPort: this.srcPortStats(t),
      workers: {
        count: this.queueCount,
        alive: this.tun === null ? 0 : 1 + (this.workers?.alive ?? 0),
        exits: this.workers?.exits ?? 0,
      },
      queues: parts.map((p) => ({
        queue: p.queue,
        egressPackets: p.egress.packets,
        egressBytes: p.egress.bytes,
        ingressPackets: p.ingress.packets,
        ingressBytes: p.ingress.bytes,
        egressDrops: p.egressDrops.reduce((a, b) => a + b, 0),
        ingressDrops: p.ingressDrops.reduce((a, b) => a + b, 0),
      })),
      underlayMtu: this.underlayMtu,
      pathMtu: this.pathMtu,
    };
    return out;
  }

  /** srcPortStats reports the outer source port mode (control path). */
  private srcPortStats(t: QueueSnapshot): SrcPortStats {
    const c = this.config;
    if (!this.srcPortFlow) return { mode: 'fixed', min: c.port, max: c.port };
    const out: SrcPortStats = {
      mode: 'flow',
      min: c.srcPortMin ?? DEFAULT_SRC_PORT_MIN,
      max: c.srcPortMax ?? DEFAULT_SRC_PORT_MAX,
    };
    if (t.raw !== null) out.raw = ioCountersToObject(t.raw);
    if (t.srcPorts !== null) out.ports = t.srcPorts;
    return out;
  }

  /**
   * flows returns the per-flow counters, the `top` flows by bytes per direction (optionally only
   * those to or from `ip`), or null when the node runs without `flowCounters` (control path).
   * With workers, their flows are from the last `refreshStats` (or the periodic one).
   */
  flows(top = 50, ip?: number): DataplaneFlows | null {
    const e = this.q0?.egress.flows;
    const i = this.q0?.ingress.flows;
    if (!e || !i) return null;
    const mine = { egress: e.snapshot(top, ip), ingress: i.snapshot(top, ip) };
    const theirs = this.workers?.latest() ?? [];
    if (theirs.length === 0) return mine;
    const want = ip === undefined ? null : u32ToIpv4(ip >>> 0);
    const merge = (own: FlowTableSnapshot, pick: (s: QueueSnapshot) => FlowEntry[]): FlowTableSnapshot => {
      const all = [...own.flows];
      for (const s of theirs) {
        for (const f of pick(s)) if (want === null || f.src === want || f.dst === want) all.push(f);
      }
      all.sort((a, b) => b.bytes - a.bytes || b.packets - a.packets);
      return { ...own, flows: all.slice(0, Math.max(0, top)) };
    };
    return {
      egress: merge(mine.egress, (s) => s.flows?.egress ?? []),
      ingress: merge(mine.ingress, (s) => s.flows?.ingress ?? []),
    };
  }

  /** offloadStats reports the offload state (control path). */
  private offloadStats(t: QueueSnapshot, running: boolean): OffloadStats {
    const o = t.offload;
    const on = running && o.enabled;
    return {
      enabled: on,
      refused: this.offloadRefused,
      gso: on && o.gso,
      gsoRefused: o.gsoRefused,
      gro: on && o.gro,
      superPacketsIn: o.superPacketsIn,
      segmentsOut: o.segmentsOut,
      gsoTrains: o.gsoTrains,
      groTrains: o.groTrains,
      groSegments: o.groSegments,
      superPacketsOut: o.superPacketsOut,
      segmentsMerged: o.segmentsMerged,
      mtuClamped: o.mtuClamped,
      gsoMtuSplits: o.gsoMtuSplits,
    };
  }
}

/** FLOW_TOP_FROM_WORKERS is how many flows per direction a worker reports for /debug/flows. */
const FLOW_TOP_FROM_WORKERS = 1000;
