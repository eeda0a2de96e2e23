/**
 * DataplaneNode: one weft VTEP. Wires a TUN device, a UDP PacketIo (batch or dgram), a Router
 * and the two hot-path directions (egress.ts, ingress.ts), and owns the kernel state around them.
 *
 * Setup (`start`), in this order so a failure leaves nothing behind:
 *   1. build the route table from the peers (ConfigError on bad peers; nothing touched yet)
 *   2. find the underlay MTU: the MTU of the interface that owns `local`
 *   3. bind the UDP socket on local:port (EADDRINUSE fails before any device exists)
 *   4. open the TUN device, set its MTU (underlay - 50 for VXLAN, - 28 for flannel-UDP, or
 *      `mtu`), address, up, and one route per peer subnet into it
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
 * 'flow' (VXLAN only) egress writes the outer IPv4 + UDP header itself, source port =
 * `flowSourcePort` of the inner flow in [srcPortMin, srcPortMax] (RFC 7348 §5), and sends on a
 * send-only raw socket (RawSendSocket, needs CAP_NET_RAW); receive stays on the bound UDP socket.
 * That mode runs the plain (non-GSO) egress/ingress: offloads are off and `stats().offload.refused`
 * says why.
 *
 * Outer DF: with `--io batch` and VXLAN the socket sets IP_PMTUDISC_DONT, so the outer IPv4
 * header has DF clear as the kernel's VXLAN device sends it. flannel-UDP keeps the Linux default
 * (DF set), as flannel's own UDP proxy does; Node's dgram offers no such option, so `--io dgram`
 * frames carry DF.
 *
 * Peers can change at runtime (`updatePeers`): a new RouteTable is built and swapped into the
 * Router between two batches, then the kernel routes are reconciled.
 */
import { ConfigError, SystemError } from '../errors';
import {
  ANOMALY_NAMES,
  DROP_REASON_NAMES,
  HEADROOM,
  UDP_OVERHEAD,
  VXLAN_ENCAP_SIZE,
  VXLAN_OVERHEAD,
  makeVxlanConfig,
  newAnomalyCounters,
  newDropCounters,
  type AnomalyCounters,
  type DropCounters,
} from '../encap';
import { BatchUdpSocket } from '../io/batch-udp-socket';
import { ioCountersToObject } from '../io/counters';
import { DgramUdpSocket } from '../io/dgram-udp-socket';
import { RawSendSocket } from '../io/raw-send-socket';
import * as netdev from '../io/netdev';
import type { IoMode, PacketIo } from '../io/packet-io';
import { GsoState } from '../io/gso-state';
import { Tun, tunConstants } from '../io/tun';
import { ipv4ToU32, parseCidr } from '../route/addr';
import type { Backend } from '../route/peer';
import { RouteTable, indexPeers, type PeerSpec } from '../route/route-table';
import { Router } from '../route/router';
import { OffloadEgress, OffloadIngress, VIRTIO_NET_HDR_SIZE, VnetTunWriter } from '../offload';
import { batchSizeStats, type BatchSizeStats } from './batch-histogram';
import type { TunDevice } from './devices';
import { Egress } from './egress';
import { FlowTable, type FlowTableSnapshot } from './flow-table';
import { Ingress } from './ingress';
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
}

/** SrcPortStats is the `srcPort` part of DataplaneStats. */
export interface SrcPortStats {
  mode: SrcPortMode;
  /** The hashed range ('flow'), or the bound port twice ('fixed'). */
  min: number;
  max: number;
  /** Counters of the raw send socket ('flow' only). */
  raw?: Record<string, number>;
}

/** DataplaneFlows is the per-flow part of /debug/flows (`DataplaneNode.flows`). */
export interface DataplaneFlows {
  egress: FlowTableSnapshot;
  ingress: FlowTableSnapshot;
}

/** OffloadStats is the `offload` part of DataplaneStats. */
export interface OffloadStats {
  /** Whether the offload path runs. */
  enabled: boolean;
  /** Why not, when asked for but refused (e.g. `TUNSETOFFLOAD EINVAL`); null otherwise. */
  refused: string | null;
  /** UDP GSO in use (false once the kernel refused it; see gsoRefused). */
  gso: boolean;
  /** errno name with which the kernel refused UDP GSO, if it did. */
  gsoRefused: string | null;
  /** UDP GRO enabled on the socket. */
  gro: boolean;
  /** TSO super-packets read, segments cut, GSO trains sent. */
  superPacketsIn: number;
  segmentsOut: number;
  gsoTrains: number;
  /** GRO trains received, their datagrams, TUN super-packets written, segments merged into them. */
  groTrains: number;
  groSegments: number;
  superPacketsOut: number;
  segmentsMerged: number;
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
  };
  ingress: {
    packets: number;
    bytes: number;
    batches: number;
    /** Batch-size histogram (datagrams per receive batch). */
    batchSizes?: BatchSizeStats;
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
}

const DEFAULT_SOCKET_BUFFER = 4 << 20;
/** IPPROTO_IP / IP_MTU_DISCOVER / IP_PMTUDISC_DONT from <linux/in.h>: send with DF clear. */
const IPPROTO_IP = 0;
const IP_MTU_DISCOVER = 10;
const IP_PMTUDISC_DONT = 0;

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
  const out = await netdev.ip(['-j', '-4', 'addr', 'show']);
  const links = JSON.parse(out) as Array<{
    ifname: string;
    mtu: number;
    addr_info?: Array<{ local?: string }>;
  }>;
  for (const l of links) {
    if ((l.addr_info ?? []).some((a) => a.local === local)) return l.mtu;
  }
  throw new ConfigError('--local', 'must be an IPv4 address of a local interface', local);
}

/** DataplaneNode is one running VTEP; see the module comment for setup and teardown. */
export class DataplaneNode {
  /** Drop counters of the TUN -> UDP direction. */
  readonly egressDrops: DropCounters = newDropCounters();
  /** Drop counters of the UDP -> TUN direction. */
  readonly ingressDrops: DropCounters = newDropCounters();
  /** Accepted-but-odd frames (ingress). */
  readonly anomalies: AnomalyCounters = newAnomalyCounters();
  /** The router the egress path looks up and `updatePeers` swaps. */
  readonly router = new Router();
  /** TUN MTU, known after `start`. */
  mtu = 0;
  /** Underlay MTU, known after `start`. */
  underlayMtu = 0;

  private tun: TunDevice | null = null;
  private io: PacketIo | null = null;
  private raw: RawSendSocket | null = null;
  private egress: Egress | null = null;
  private ingress: Ingress | null = null;
  private offEgress: OffloadEgress | null = null;
  private offIngress: OffloadIngress | null = null;
  private offloadRefused: string | null = null;
  private routed: string[] = [];
  private startedAt = 0;
  private readonly kernel: boolean;

  /** DataplaneNode validates nothing until `start`; pass `deps` to run over fakes. */
  constructor(
    readonly config: NodeConfig,
    private readonly deps?: NodeDeps,
  ) {
    this.kernel = deps === undefined;
  }

  /** overhead is the encapsulation overhead on an IPv4 underlay (50 VXLAN, 28 flannel-UDP). */
  get overhead(): number {
    return this.config.backend === 'vxlan' ? VXLAN_OVERHEAD : UDP_OVERHEAD;
  }

  /** srcPortFlow is true when egress hashes outer source ports (`srcPort` 'flow', VXLAN). */
  get srcPortFlow(): boolean {
    return this.config.srcPort === 'flow';
  }

  /** start sets everything up and starts forwarding; on failure undoes what it did and rethrows. */
  async start(): Promise<void> {
    const c = this.config;
    const flow = this.srcPortFlow;
    const portMin = c.srcPortMin ?? DEFAULT_SRC_PORT_MIN;
    const portMax = c.srcPortMax ?? DEFAULT_SRC_PORT_MAX;
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
    const table = this.buildTable(c.peers);
    const slash = c.address.indexOf('/');
    const localAddrU32 = ipv4ToU32(slash < 0 ? c.address : c.address.slice(0, slash), '--address');
    parseCidr(c.address, '--address');
    const vxlan = makeVxlanConfig({ vni: c.vni, localMac: c.vtepMac });

    this.underlayMtu = this.kernel ? await underlayMtuOf(c.local) : (this.deps!.underlayMtu ?? 1500);
    const pathMtu = this.underlayMtu - this.overhead;
    this.mtu = c.mtu ?? pathMtu;
    if (this.mtu < 68) {
      throw new ConfigError('--mtu', 'must leave at least 68 bytes for the inner packet', String(this.mtu));
    }
    try {
      this.io = this.kernel ? await this.openIo() : this.deps!.io;
      // The raw socket sends whole IPv4 datagrams, one per descriptor: no UDP GSO trains.
      if (flow && this.kernel) {
        this.raw = RawSendSocket.open(c.socketBufferSize ?? DEFAULT_SOCKET_BUFFER);
      }
      if (flow && c.offload !== false && c.io === 'batch') {
        this.offloadRefused = 'src-port flow: per-packet outer headers on a raw socket (no GSO)';
      }
      const wantOffload = this.kernel && c.io === 'batch' && c.offload !== false && !flow;
      const kernelTun = this.kernel ? this.openTun(wantOffload) : null;
      this.tun = kernelTun ?? this.deps!.tun;
      if (this.kernel) {
        await netdev.setMtu(c.dev, this.mtu);
        await netdev.addAddress(c.dev, c.address);
        await netdev.setUp(c.dev);
      }
      this.router.swap(table);
      if (this.kernel) await this.syncRoutes(table);
      const batchSize = c.batchSize ?? 64;
      const offloaded = kernelTun !== null && kernelTun.vnetHdr;
      this.egress = new Egress(
        // With IFF_VNET_HDR every TUN write needs a virtio header (the ICMP replies).
        offloaded ? new VnetTunWriter(kernelTun) : this.tun,
        this.raw ?? this.io,
        this.router,
        {
          backend: c.backend,
          vxlan,
          port: c.port,
          pathMtu,
          localAddrU32,
          outer: flow
            ? { localU32: ipv4ToU32(c.local, '--local'), srcPortMin: portMin, srcPortMax: portMax }
            : null,
        },
        this.egressDrops,
        { batchSize, maxPacket: this.mtu },
      );
      // A peer may send up to its own MTU plus encapsulation; the underlay MTU bounds what arrives.
      const maxRx = Math.max(this.underlayMtu, this.mtu + VXLAN_ENCAP_SIZE, 2048 - HEADROOM);
      this.ingress = new Ingress(
        this.tun,
        this.io,
        this.router,
        { backend: c.backend, vxlan },
        this.ingressDrops,
        this.anomalies,
        { batchSize, maxPacket: maxRx },
      );
      if (c.flowCounters === true) {
        this.egress.flows = new FlowTable();
        this.ingress.flows = new FlowTable();
      }
      if (offloaded) {
        const sock = this.io as BatchUdpSocket;
        const vx = c.backend === 'vxlan';
        // GRO trains are split in place; coalescing writes virtio headers into the 10 bytes in
        // front of each inner packet, which only VXLAN's 22-byte inner header guarantees.
        const gro = vx && sock.enableGro();
        this.offEgress = new OffloadEgress(kernelTun, sock, this.egress, this.egressDrops, {
          prefix: vx ? VXLAN_ENCAP_SIZE : 0,
        });
        this.offIngress = new OffloadIngress(kernelTun, sock, this.ingress, this.ingressDrops, {
          gro,
          coalesce: gro,
          maxDatagram: maxRx,
        });
        this.offIngress.start();
        this.offEgress.start();
      } else {
        this.ingress.start();
        this.egress.start();
      }
      this.startedAt = Date.now();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * openTun opens the TUN device, with IFF_VNET_HDR + TSO offloads when `offload`; if the kernel
   * refuses the offloads the device is reopened plain and the reason kept for `stats().offload`.
   */
  private openTun(offload: boolean): Tun {
    const c = this.config;
    if (!offload) return Tun.open(c.dev);
    const tun = Tun.open(c.dev, { vnetHdr: true });
    try {
      const k = tunConstants();
      tun.setVnetHdrSize(VIRTIO_NET_HDR_SIZE);
      tun.setOffload(k.TUN_F_CSUM | k.TUN_F_TSO4 | k.TUN_F_TSO6);
      return tun;
    } catch (err) {
      tun.close();
      this.offloadRefused = err instanceof Error ? err.message : String(err);
      return Tun.open(c.dev);
    }
  }

  private buildTable(peers: PeerSpec[]): RouteTable {
    const c = this.config;
    peers.forEach((p, i) => {
      if (p.backend !== c.backend) {
        throw new ConfigError(`--peer[${i}]`, `backend must be ${c.backend}`, `${p.subnet} is ${p.backend}`);
      }
    });
    return RouteTable.build(indexPeers(peers));
  }

  private async openIo(): Promise<PacketIo> {
    const c = this.config;
    const size = c.socketBufferSize ?? DEFAULT_SOCKET_BUFFER;
    const opts = { address: c.local, port: c.port, recvBufferSize: size, sendBufferSize: size };
    if (c.io === 'dgram') return DgramUdpSocket.bind(opts);
    const sock = BatchUdpSocket.bindSync(opts);
    if (c.backend === 'vxlan') {
      // Linux UDP sockets default to path-MTU discovery, i.e. DF set on every datagram; the
      // kernel's VXLAN device (flannel.1) sends its outer IPv4 with DF clear. Match it.
      try {
        sock.setOption(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT);
      } catch (err) {
        sock.close();
        throw err;
      }
    }
    return sock;
  }

  /** syncRoutes makes the kernel route exactly the table's subnets into the TUN. */
  private async syncRoutes(table: RouteTable): Promise<void> {
    const dev = this.config.dev;
    const want = table.peers.map((p) => p.subnet);
    for (const dst of this.routed) {
      if (!want.includes(dst)) await netdev.delRoute({ dst, dev }).catch(() => undefined);
    }
    const done: string[] = this.routed.filter((d) => want.includes(d));
    this.routed = done;
    for (const dst of want) {
      if (done.includes(dst)) continue;
      await netdev.replaceRoute({ dst, dev });
      done.push(dst);
    }
  }

  /**
   * updatePeers replaces the peer set: builds a new table (ConfigError leaves the old one in
   * place), swaps it into the router (effective from the next packet), then adds routes for new
   * subnets and removes routes of subnets that are gone.
   */
  async updatePeers(peers: PeerSpec[]): Promise<void> {
    const table = this.buildTable(peers);
    this.router.swap(table);
    this.config.peers = peers;
    if (this.kernel && this.tun !== null) await this.syncRoutes(table);
  }

  /** stop stops forwarding and removes routes, the TUN device and the socket. Idempotent. */
  async stop(): Promise<void> {
    this.offEgress?.stop();
    this.offIngress?.stop();
    this.egress?.stop();
    this.ingress?.stop();
    if (this.kernel && this.tun !== null) {
      for (const dst of this.routed) {
        await netdev.delRoute({ dst, dev: this.config.dev }).catch((err: unknown) => {
          if (!(err instanceof SystemError)) throw err;
        });
      }
    }
    this.routed = [];
    this.tun?.close();
    this.io?.close();
    this.raw?.close();
    this.tun = null;
    this.io = null;
    this.raw = null;
  }

  /** stats returns a snapshot of the counters (control path; allocates). */
  stats(): DataplaneStats {
    const e = this.egress;
    const i = this.ingress;
    const drops = nonZero(this.ingressDrops, DROP_REASON_NAMES, nonZero(this.egressDrops, DROP_REASON_NAMES));
    return {
      uptimeSeconds: this.startedAt === 0 ? 0 : (Date.now() - this.startedAt) / 1000,
      egress: {
        packets: e?.packets ?? 0,
        bytes: e?.bytes ?? 0,
        batches: this.offEgress?.batches ?? e?.batches ?? 0,
        icmpReplies: e?.icmpReplies ?? 0,
        stalls: this.offEgress?.stalls ?? e?.stalls ?? 0,
        batchSizes: batchSizeStats(this.offEgress?.batchSizes ?? e?.batchSizes),
      },
      ingress: {
        packets: i?.packets ?? 0,
        bytes: i?.bytes ?? 0,
        batches: this.offIngress?.batches ?? i?.batches ?? 0,
        batchSizes: batchSizeStats(this.offIngress?.batchSizes ?? i?.batchSizes),
      },
      drops,
      egressDrops: nonZero(this.egressDrops, DROP_REASON_NAMES),
      ingressDrops: nonZero(this.ingressDrops, DROP_REASON_NAMES),
      anomalies: nonZero(this.anomalies, ANOMALY_NAMES),
      tun: this.tun ? ioCountersToObject(this.tun.counters) : {},
      udp: this.io ? ioCountersToObject(this.io.counters) : {},
      routes: {
        peers: this.router.table.size,
        cacheHits: this.router.hits,
        cacheMisses: this.router.misses,
        swaps: this.router.swaps,
      },
      offload: this.offloadStats(),
      srcPort: this.srcPortStats(),
    };
  }

  /** srcPortStats reports the outer source port mode (control path). */
  private srcPortStats(): SrcPortStats {
    const c = this.config;
    if (!this.srcPortFlow) return { mode: 'fixed', min: c.port, max: c.port };
    const out: SrcPortStats = {
      mode: 'flow',
      min: c.srcPortMin ?? DEFAULT_SRC_PORT_MIN,
      max: c.srcPortMax ?? DEFAULT_SRC_PORT_MAX,
    };
    if (this.raw !== null) out.raw = ioCountersToObject(this.raw.counters);
    return out;
  }

  /**
   * flows returns the per-flow counters, the `top` flows by bytes per direction (optionally only
   * those to or from `ip`), or null when the node runs without `flowCounters` (control path).
   */
  flows(top = 50, ip?: number): DataplaneFlows | null {
    const e = this.egress?.flows;
    const i = this.ingress?.flows;
    if (!e || !i) return null;
    return { egress: e.snapshot(top, ip), ingress: i.snapshot(top, ip) };
  }

  /** offloadStats reports the offload state (control path). */
  private offloadStats(): OffloadStats {
    const oe = this.offEgress;
    const oi = this.offIngress;
    const sock = oe !== null && this.io instanceof BatchUdpSocket ? this.io : null;
    const caps = sock?.offloads();
    const g = sock?.gsoState;
    const co = oi?.coalesceStats ?? null;
    return {
      enabled: oe !== null,
      refused: this.offloadRefused,
      gso: caps?.gso ?? false,
      gsoRefused: caps?.gsoRefused ?? null,
      gro: caps?.gro ?? false,
      superPacketsIn: oe?.stats.superPackets ?? 0,
      segmentsOut: oe?.stats.segments ?? 0,
      gsoTrains: g ? g[GsoState.gsoMessages]! : 0,
      groTrains: g ? g[GsoState.groMessages]! : 0,
      groSegments: g ? g[GsoState.groSegments]! : 0,
      superPacketsOut: co?.superPackets ?? 0,
      segmentsMerged: co?.segmentsMerged ?? 0,
    };
  }
}
