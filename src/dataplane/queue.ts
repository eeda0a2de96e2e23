/**
 * queue: one forwarding queue of a DataplaneNode, i.e. one TUN queue and its UDP socket(s) with
 * the two hot-path directions running on them. A node has one queue per worker (`--workers`):
 * queue 0 runs on the main thread, the others in worker threads (src/dataplane/queue-worker.ts),
 * each with its own devices, Router and counters. Nothing here is shared between threads.
 *
 * The queue builds the per-packet stages of each direction (EgressStages, egress.ts;
 * IngressStages, ingress.ts) and the loops the devices allow to drive them:
 * - a TUN opened with IFF_VNET_HDR (offloads granted) runs OffloadEgress / OffloadIngress
 *   (egress-offload.ts, ingress-offload.ts: TSO/GSO and GRO/coalescing around the stages);
 * - otherwise PlainEgress / PlainIngress (one packet per TUN read or write).
 * It does not open or close devices: the owner (DataplaneNode, or the worker) does, so that the
 * kernel routes can be removed before the TUN goes away.
 *
 * `snapshot` copies every counter of the queue into a plain, structured-clonable object: that is
 * how worker queues report to the main thread (postMessage), and how the node sums its queues.
 */
import { HEADROOM, VXLAN_ENCAP_SIZE } from '../encap/constants';
import {
  newAnomalyCounters,
  newDropCounters,
  type AnomalyCounters,
  type DropCounters,
} from '../encap/drop-reason';
import { makeVxlanConfig, type VxlanConfig } from '../encap/vxlan-config';
import { BatchUdpSocket } from '../io/batch-udp-socket';
import { newIoCounters, type IoCounters } from '../io/counters';
import { GsoState } from '../io/gso-state';
import { SrcPortPool } from '../io/src-port-pool';
import type { RawSendSocket } from '../io/raw-send-socket';
import type { Tun } from '../io/tun';
import type { Backend } from '../route/peer';
import type { Router } from '../route/router';
import type { PacketIo } from '../io/packet-io';
import type { TunDevice } from '../io/tun-device';
import { VnetTunWriter } from '../io/vnet-tun-writer';
import { newBatchHistogram, type BatchHistogram } from './batch-histogram';
import { EgressStages } from './egress';
import { OffloadEgress } from './egress-offload';
import { PlainEgress } from './egress-plain';
import { FlowTable, type FlowEntry } from './flow-table';
import { IngressStages } from './ingress';
import { OffloadIngress } from './ingress-offload';
import { PlainIngress } from './ingress-plain';
import type { SocketRecvLoop } from './socket-recv-loop';
import type { TunSendLoop } from './tun-send-loop';

/** QueueParams are the protocol settings every queue of a node shares (all structured-clonable). */
export interface QueueParams {
  backend: Backend;
  /** VNI and our VTEP MAC. */
  vni: number;
  vtepMac: Uint8Array;
  /** The peers' UDP port. */
  port: number;
  /** Largest inner packet the underlay carries (underlay MTU - overhead). */
  pathMtu: number;
  /** TUN MTU. */
  mtu: number;
  /** Underlay MTU. */
  underlayMtu: number;
  /** Outer header fields for `--src-port flow` on a raw socket (`--io dgram`), or null. */
  outer: { localU32: number; srcPortMin: number; srcPortMax: number } | null;
  batchSize: number;
  flowCounters: boolean;
  /** VXLAN Remote Checksum Offload (`--vxlan-rco`). */
  rco?: boolean;
}

/** QueueDevices are the kernel objects (or fakes) one queue runs on; the owner closes them. */
export interface QueueDevices {
  /** The TUN queue the directions read and write. */
  tun: TunDevice;
  /** The same TUN as a native Tun when it was opened with IFF_VNET_HDR: the offload path runs. */
  offloadTun: Tun | null;
  /** Receives from peers (bound to the VXLAN / flannel-UDP port). */
  recv: PacketIo;
  /** Sends to peers: `recv` itself, or (`--workers`) a socket on this queue's own source port. */
  send: PacketIo;
  /** Send-only raw socket of `--src-port flow`, or null. */
  raw: RawSendSocket | null;
}

/** QueueOffloadSnapshot is the offload state and counters of one queue (summed: of the node). */
export interface QueueOffloadSnapshot {
  /** Whether the offload path runs. */
  enabled: boolean;
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
  /** The TUN takes USO (GSO_UDP_L4) writes: UDP runs are coalesced too; else why not. */
  uso: boolean;
  usoRefused: string | null;
  /** USO super-packets written to the TUN, and the datagrams they carried. */
  udpSuperPackets: number;
  udpCoalesced: number;
  /** Super-packets cut into smaller segments than the sender's to fit the path MTU. */
  mtuClamped: number;
  /** GSO trains sent as plain (kernel-fragmented) datagrams because a segment exceeded the MTU. */
  gsoMtuSplits: number;
  /** Egress batches whose packets were regrouped by destination and lane (train-groups.ts). */
  regrouped: number;
}

/** QueueSnapshot is a copy of every counter of one queue (control path; structured-clonable). */
export interface QueueSnapshot {
  queue: number;
  egress: {
    packets: number;
    bytes: number;
    batches: number;
    icmpReplies: number;
    stalls: number;
    batchSizes: BatchHistogram;
    /** Frames sent with VXLAN RCO fields. */
    rcoFrames?: number;
    /** Times the loop gave up its CPU after a packet budget (yield-budget.ts). */
    yields?: number;
  };
  ingress: {
    packets: number;
    bytes: number;
    batches: number;
    batchSizes: BatchHistogram;
    /** Partial inner checksums completed by weft / handed to the TUN with NEEDS_CSUM. */
    csumCompleted: number;
    csumNeedsCsum: number;
    /** Accepted frames that carried VXLAN RCO fields. */
    rcoFrames?: number;
    /** Times the loop gave up its CPU after a packet budget (yield-budget.ts). */
    yields?: number;
  };
  egressDrops: DropCounters;
  ingressDrops: DropCounters;
  anomalies: AnomalyCounters;
  tun: IoCounters;
  /** Receive and send sockets together. */
  udp: IoCounters;
  raw: IoCounters | null;
  /** `--src-port flow` on a pool: its bound ports (null otherwise). */
  srcPorts: number[] | null;
  routes: { hits: number; misses: number };
  offload: QueueOffloadSnapshot;
  /** Per-flow counters, the top flows by bytes per direction (only when asked and kept). */
  flows: { egress: FlowEntry[]; ingress: FlowEntry[] } | null;
}

/** QueueCounters are the drop and anomaly arrays a queue counts into (the node passes queue 0's). */
export interface QueueCounters {
  egressDrops: DropCounters;
  ingressDrops: DropCounters;
  anomalies: AnomalyCounters;
}

/** MAX_UDP_PAYLOAD is the largest UDP payload over IPv4 (65535 - 20 - 8). */
const MAX_UDP_PAYLOAD = 65507;

function sumInto(into: Float64Array, add: Float64Array): void {
  for (let i = 0; i < into.length && i < add.length; i++) into[i]! += add[i]!;
}

/** DataplaneQueue runs both directions on one set of devices; see the module comment. */
export class DataplaneQueue {
  /** The per-packet stages of each direction (their counters are the queue's packets and bytes). */
  readonly egress: EgressStages;
  readonly ingress: IngressStages;
  /** The loops driving them: plain, or offload when the TUN has IFF_VNET_HDR. */
  readonly egressLoop: TunSendLoop;
  readonly ingressLoop: SocketRecvLoop;
  /** The offload loops (null on the plain path), for their offload counters. */
  readonly offEgress: OffloadEgress | null = null;
  readonly offIngress: OffloadIngress | null = null;
  /** The plain ingress loop (null on the offload path), for its checksum counters. */
  private readonly plainIngress: PlainIngress | null = null;
  readonly counters: QueueCounters;

  constructor(
    /** Queue index: 0 on the main thread, 1.. in workers. */
    readonly index: number,
    params: QueueParams,
    private readonly dev: QueueDevices,
    private readonly router: Router,
    counters?: QueueCounters,
  ) {
    this.counters = counters ?? {
      egressDrops: newDropCounters(),
      ingressDrops: newDropCounters(),
      anomalies: newAnomalyCounters(),
    };
    const vxlan: VxlanConfig = makeVxlanConfig({
      vni: params.vni,
      localMac: Buffer.from(params.vtepMac),
      rco: params.rco === true,
    });
    const kernelTun = dev.offloadTun;
    this.egress = new EgressStages(
      // With IFF_VNET_HDR every TUN write needs a virtio header (the ICMP replies).
      kernelTun !== null ? new VnetTunWriter(kernelTun) : dev.tun,
      router,
      {
        backend: params.backend,
        vxlan,
        port: params.port,
        pathMtu: params.pathMtu,
        outer: params.outer,
        lanes: dev.send instanceof SrcPortPool ? dev.send.size : 0,
      },
      this.counters.egressDrops,
    );
    this.ingress = new IngressStages(
      router,
      { backend: params.backend, vxlan },
      this.counters.ingressDrops,
      this.counters.anomalies,
    );
    if (params.flowCounters) {
      this.egress.flows = new FlowTable();
      this.ingress.flows = new FlowTable();
    }
    // A peer may send up to its own MTU plus encapsulation; the underlay MTU bounds what arrives.
    const maxRx = Math.max(params.underlayMtu, params.mtu + VXLAN_ENCAP_SIZE, 2048 - HEADROOM);
    const gsoSend = dev.send instanceof BatchUdpSocket || dev.send instanceof SrcPortPool ? dev.send : null;
    if (kernelTun !== null && dev.recv instanceof BatchUdpSocket && gsoSend !== null) {
      const vx = params.backend === 'vxlan';
      // GRO trains are split in place; coalescing writes virtio headers into the 10 bytes in
      // front of each inner packet, which only VXLAN's 22-byte inner header guarantees.
      const gro = vx && dev.recv.enableGro();
      this.offEgress = new OffloadEgress(kernelTun, gsoSend, this.egress, {
        prefix: vx ? VXLAN_ENCAP_SIZE : 0,
        pathMtu: params.pathMtu,
        rco: vx && params.rco === true,
      });
      this.offIngress = new OffloadIngress(kernelTun, dev.recv, this.ingress, {
        gro,
        coalesce: gro,
        maxDatagram: maxRx,
        mtu: params.mtu,
        uso: kernelTun.uso,
      });
      this.egressLoop = this.offEgress;
      this.ingressLoop = this.offIngress;
    } else {
      this.egressLoop = new PlainEgress(dev.tun, dev.raw ?? dev.send, this.egress, {
        batchSize: params.batchSize,
        maxPacket: params.mtu,
      });
      // Except over veth: a kernel VXLAN peer's TSO super-packet crosses the namespace boundary as
      // one GSO skb, which the kernel queues to a plain UDP socket whole (up to 64 KiB). The plain
      // path's own receive slots must hold it (the offload path's GRO slots always do).
      const maxPlainRx = params.backend === 'vxlan' ? MAX_UDP_PAYLOAD : maxRx;
      this.plainIngress = new PlainIngress(dev.tun, dev.recv, this.ingress, {
        batchSize: params.batchSize,
        maxPacket: maxPlainRx,
        mtu: params.mtu,
      });
      this.ingressLoop = this.plainIngress;
    }
  }

  /** start starts both directions on this thread's event loop. */
  start(): void {
    this.ingressLoop.start();
    this.egressLoop.start();
  }

  /**
   * setPathMtu applies a new path MTU (underlay MTU - overhead) from the next batch on: egress's
   * size check and the segment size of the offload path (control path).
   */
  setPathMtu(pathMtu: number): void {
    this.egress.setPathMtu(pathMtu);
    this.offEgress?.setPathMtu(pathMtu);
  }

  /** stop stops both directions (the devices stay open). Idempotent. */
  stop(): void {
    this.egressLoop.stop();
    this.ingressLoop.stop();
  }

  /** snapshot copies the queue's counters; `flowTop` > 0 adds that many top flows per direction. */
  snapshot(flowTop = 0): QueueSnapshot {
    const e = this.egress;
    const i = this.ingress;
    const oe = this.offEgress;
    const oi = this.offIngress;
    const udp = newIoCounters();
    sumInto(udp, this.dev.recv.counters);
    if (this.dev.send !== this.dev.recv) sumInto(udp, this.dev.send.counters);
    const send =
      oe !== null && (this.dev.send instanceof BatchUdpSocket || this.dev.send instanceof SrcPortPool)
        ? this.dev.send
        : null;
    const recv = oi !== null && this.dev.recv instanceof BatchUdpSocket ? this.dev.recv : null;
    const caps = send?.offloads();
    const co = oi?.coalesceStats ?? null;
    const uc = oi?.udpCoalesceStats ?? null;
    const flows =
      flowTop > 0 && e.flows && i.flows
        ? { egress: e.flows.snapshot(flowTop).flows, ingress: i.flows.snapshot(flowTop).flows }
        : null;
    return {
      queue: this.index,
      egress: {
        packets: e.packets,
        bytes: e.bytes,
        batches: this.egressLoop.batches,
        icmpReplies: e.icmpReplies,
        stalls: this.egressLoop.stalls,
        batchSizes: this.egressLoop.batchSizes.slice(),
        rcoFrames: e.rcoFrames,
        yields: this.egressLoop.cpuYield.yields,
      },
      ingress: {
        packets: i.packets,
        bytes: i.bytes,
        batches: this.ingressLoop.batches,
        batchSizes: this.ingressLoop.batchSizes.slice(),
        csumCompleted: this.plainIngress?.partialCsumCompleted ?? 0,
        csumNeedsCsum: oi?.partialCsumCount ?? 0,
        rcoFrames: i.rcoFrames,
        yields: this.ingressLoop.cpuYield.yields,
      },
      egressDrops: this.counters.egressDrops.slice(),
      ingressDrops: this.counters.ingressDrops.slice(),
      anomalies: this.counters.anomalies.slice(),
      tun: this.dev.tun.counters.slice(),
      udp,
      raw: this.dev.raw ? this.dev.raw.counters.slice() : null,
      srcPorts: this.dev.send instanceof SrcPortPool ? [...this.dev.send.ports] : null,
      routes: { hits: this.router.hits, misses: this.router.misses },
      offload: {
        enabled: oe !== null,
        gso: caps?.gso ?? false,
        gsoRefused: caps?.gsoRefused ?? null,
        gro: recv?.offloads().gro ?? false,
        superPacketsIn: oe?.stats.superPackets ?? 0,
        segmentsOut: oe?.stats.segments ?? 0,
        gsoTrains: send ? send.gsoState[GsoState.gsoMessages]! : 0,
        groTrains: recv ? recv.gsoState[GsoState.groMessages]! : 0,
        groSegments: recv ? recv.gsoState[GsoState.groSegments]! : 0,
        superPacketsOut: co?.superPackets ?? 0,
        segmentsMerged: co?.segmentsMerged ?? 0,
        uso: uc !== null,
        usoRefused: this.dev.offloadTun?.usoRefused ?? null,
        udpSuperPackets: uc?.superPackets ?? 0,
        udpCoalesced: uc?.coalesced ?? 0,
        mtuClamped: oe?.stats.mtuClamped ?? 0,
        gsoMtuSplits: send ? send.gsoState[GsoState.mtuSplits]! : 0,
        regrouped: oe?.stats.regrouped ?? 0,
      },
      flows,
    };
  }
}

/** sumSnapshots adds queue snapshots together (the node's totals); `queue` is -1 in the result. */
export function sumSnapshots(parts: readonly QueueSnapshot[]): QueueSnapshot {
  const out: QueueSnapshot = {
    queue: -1,
    egress: { packets: 0, bytes: 0, batches: 0, icmpReplies: 0, stalls: 0, batchSizes: newBatchHistogram() },
    ingress: {
      packets: 0,
      bytes: 0,
      batches: 0,
      batchSizes: newBatchHistogram(),
      csumCompleted: 0,
      csumNeedsCsum: 0,
    },
    egressDrops: newDropCounters(),
    ingressDrops: newDropCounters(),
    anomalies: newAnomalyCounters(),
    tun: newIoCounters(),
    udp: newIoCounters(),
    raw: null,
    srcPorts: null,
    routes: { hits: 0, misses: 0 },
    offload: {
      enabled: parts.length > 0,
      gso: parts.length > 0,
      gsoRefused: null,
      gro: parts.length > 0,
      superPacketsIn: 0,
      segmentsOut: 0,
      gsoTrains: 0,
      groTrains: 0,
      groSegments: 0,
      superPacketsOut: 0,
      segmentsMerged: 0,
      uso: parts.length > 0,
      usoRefused: null,
      udpSuperPackets: 0,
      udpCoalesced: 0,
      mtuClamped: 0,
      gsoMtuSplits: 0,
      regrouped: 0,
    },
    flows: null,
  };
  for (const p of parts) {
    for (const k of ['packets', 'bytes', 'batches', 'icmpReplies', 'stalls'] as const)
      out.egress[k] += p.egress[k];
    out.egress.rcoFrames = (out.egress.rcoFrames ?? 0) + (p.egress.rcoFrames ?? 0);
    out.ingress.rcoFrames = (out.ingress.rcoFrames ?? 0) + (p.ingress.rcoFrames ?? 0);
    out.egress.yields = (out.egress.yields ?? 0) + (p.egress.yields ?? 0);
    out.ingress.yields = (out.ingress.yields ?? 0) + (p.ingress.yields ?? 0);
    for (const k of ['packets', 'bytes', 'batches', 'csumCompleted', 'csumNeedsCsum'] as const)
      out.ingress[k] += p.ingress[k] ?? 0;
    sumInto(out.egress.batchSizes, p.egress.batchSizes);
    sumInto(out.ingress.batchSizes, p.ingress.batchSizes);
    sumInto(out.egressDrops, p.egressDrops);
    sumInto(out.ingressDrops, p.ingressDrops);
    sumInto(out.anomalies, p.anomalies);
    sumInto(out.tun, p.tun);
    sumInto(out.udp, p.udp);
    if (p.raw !== null) {
      out.raw ??= newIoCounters();
      sumInto(out.raw, p.raw);
    }
    if (p.srcPorts != null) (out.srcPorts ??= []).push(...p.srcPorts);
    out.routes.hits += p.routes.hits;
    out.routes.misses += p.routes.misses;
    const o = out.offload;
    const q = p.offload;
    // A capability holds for the node only when every queue has it; the first refusal names why.
    o.enabled &&= q.enabled;
    o.gso &&= q.gso;
    o.gro &&= q.gro;
    o.uso &&= q.uso;
    o.gsoRefused ??= q.gsoRefused;
    o.usoRefused ??= q.usoRefused;
    for (const k of [
      'superPacketsIn',
      'segmentsOut',
      'gsoTrains',
      'groTrains',
      'groSegments',
      'superPacketsOut',
      'segmentsMerged',
      'udpSuperPackets',
      'udpCoalesced',
      'mtuClamped',
      'gsoMtuSplits',
      'regrouped',
    ] as const) {
      o[k] += q[k];
    }
    if (p.flows !== null) {
      out.flows ??= { egress: [], ingress: [] };
      out.flows.egress.push(...p.flows.egress);
      out.flows.ingress.push(...p.flows.ingress);
    }
  }
  return out;
}
