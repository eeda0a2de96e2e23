/**
 * node-stats: the counters of a DataplaneNode as `weft link --stats`, /debug/stats and /metrics
 * see them. Every queue's counters arrive as QueueSnapshots (queue 0's read in place when it runs
 * on the main thread, the workers' as their latest reply); this module sums them and names the
 * non-zero drop reasons. Control path: it allocates, the hot path never calls it.
 */
import { ANOMALY_NAMES, DROP_REASON_NAMES } from '../encap';
import { ioCountersToObject } from '../io/counters';
import type { TunIoMode } from '../io/tun';
import { u32ToIpv4 } from '../net/addr';
import { batchSizeStats, type BatchSizeStats } from './batch-histogram';
import type { FlowEntry, FlowTableSnapshot } from './flow-table';
import { sumSnapshots, type QueueOffloadSnapshot, type QueueSnapshot } from './queue';
import type { FlowMeta, QueueFlowMeta } from './queue-worker';
import type { SrcPortMode } from './src-port';
import type { ThreadSchedStats } from './thread-sched';

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
    /** Times the egress loop gave up its CPU after WEFT_YIELD_BUDGET packets. */
    yields?: number;
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
    /** Times the ingress loop gave up its CPU after WEFT_YIELD_BUDGET packets. */
    yields?: number;
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
  /**
   * How queue 0's TUN moves packets (src/io/tun-io.ts), why io_uring was refused if it was, and
   * how many of its read and write batches went through the ring. When queue 0 runs on a worker
   * thread (`weft run`) it comes with that worker's counters (at most a second old).
   */
  tunIo?: TunIoStats;
  /**
   * The forwarding worker threads' scheduling (thread-sched.ts): thread id, SCHED_RR or
   * SCHED_OTHER and why, demotions, CPU share. Absent when no queue runs on a worker.
   */
  forwarding?: ThreadSchedStats[];
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

/** StatsInput is what `nodeStats` needs besides the queues' snapshots. */
export interface StatsInput {
  /** Queue 0's snapshot (when on the main thread) and each worker's latest one. */
  parts: QueueSnapshot[];
  /** Devices are open. */
  running: boolean;
  startedAt: number;
  routes: { peers: number; swaps: number };
  offloadRefused: string | null;
  /** The bound port, and the hashed range when `srcPort` is 'flow'. */
  srcPort: { mode: SrcPortMode; port: number; min: number; max: number };
  workers: { count: number; alive: number; exits: number };
  underlayMtu: number;
  pathMtu: number;
  /** Queue 0's TUN I/O mode (from its worker when it runs on one). */
  tunIo?: TunIoStats | undefined;
  /** The worker threads' scheduling. */
  forwarding?: ThreadSchedStats[] | undefined;
}

/** TunIoStats says how a TUN queue moves packets. */
export interface TunIoStats {
  mode: TunIoMode;
  refused: string | null;
  ringCalls: number;
}

export function nonZero(
  c: Float64Array,
  names: readonly string[],
  into: Record<string, number> = {},
): Record<string, number> {
  for (let i = 0; i < names.length; i++) if (c[i]! > 0) into[names[i]!] = (into[names[i]!] ?? 0) + c[i]!;
  return into;
}

/** nodeStats sums the queues' snapshots into DataplaneStats. */
export function nodeStats(x: StatsInput): DataplaneStats {
  const parts = x.parts;
  const t = sumSnapshots(parts);
  const drops = nonZero(t.ingressDrops, DROP_REASON_NAMES, nonZero(t.egressDrops, DROP_REASON_NAMES));
  return {
    uptimeSeconds: x.startedAt === 0 ? 0 : (Date.now() - x.startedAt) / 1000,
    egress: {
      packets: t.egress.packets,
      bytes: t.egress.bytes,
      batches: t.egress.batches,
      icmpReplies: t.egress.icmpReplies,
      stalls: t.egress.stalls,
      batchSizes: batchSizeStats(t.egress.batchSizes),
      rcoFrames: t.egress.rcoFrames ?? 0,
      yields: t.egress.yields ?? 0,
    },
    ingress: {
      packets: t.ingress.packets,
      bytes: t.ingress.bytes,
      batches: t.ingress.batches,
      batchSizes: batchSizeStats(t.ingress.batchSizes),
      partialCsum: { completed: t.ingress.csumCompleted, needsCsum: t.ingress.csumNeedsCsum },
      rcoFrames: t.ingress.rcoFrames ?? 0,
      yields: t.ingress.yields ?? 0,
    },
    drops,
    egressDrops: nonZero(t.egressDrops, DROP_REASON_NAMES),
    ingressDrops: nonZero(t.ingressDrops, DROP_REASON_NAMES),
    anomalies: nonZero(t.anomalies, ANOMALY_NAMES),
    tun: x.running ? ioCountersToObject(t.tun) : {},
    ...(x.tunIo !== undefined ? { tunIo: x.tunIo } : {}),
    ...(x.forwarding !== undefined && x.forwarding.length > 0 ? { forwarding: x.forwarding } : {}),
    udp: x.running ? ioCountersToObject(t.udp) : {},
    routes: {
      peers: x.routes.peers,
      cacheHits: t.routes.hits,
      cacheMisses: t.routes.misses,
      swaps: x.routes.swaps,
    },
    offload: offloadStats(t, parts.length > 0, x.offloadRefused),
    srcPort: srcPortStats(t, x.srcPort),
    workers: x.workers,
    queues: parts.map((p) => ({
      queue: p.queue,
      egressPackets: p.egress.packets,
      egressBytes: p.egress.bytes,
      ingressPackets: p.ingress.packets,
      ingressBytes: p.ingress.bytes,
      egressDrops: p.egressDrops.reduce((a, b) => a + b, 0),
      ingressDrops: p.ingressDrops.reduce((a, b) => a + b, 0),
    })),
    underlayMtu: x.underlayMtu,
    pathMtu: x.pathMtu,
  };
}

/** srcPortStats reports the outer source port mode. */
function srcPortStats(t: QueueSnapshot, s: StatsInput['srcPort']): SrcPortStats {
  if (s.mode !== 'flow') return { mode: 'fixed', min: s.port, max: s.port };
  const out: SrcPortStats = { mode: 'flow', min: s.min, max: s.max };
  if (t.raw !== null) out.raw = ioCountersToObject(t.raw);
  if (t.srcPorts !== null) out.ports = t.srcPorts;
  return out;
}

/** offloadStats reports the offload state. */
function offloadStats(t: QueueSnapshot, running: boolean, refused: string | null): OffloadStats {
  const o = t.offload;
  const on = running && o.enabled;
  return {
    enabled: on,
    refused,
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
    uso: on && o.uso,
    usoRefused: o.usoRefused,
    udpSuperPackets: o.udpSuperPackets,
    udpCoalesced: o.udpCoalesced,
    mtuClamped: o.mtuClamped,
    gsoMtuSplits: o.gsoMtuSplits,
    regrouped: o.regrouped,
  };
}

/**
 * flowsFromMeta is the flow tables' sizes when no table lives on this thread (queue 0 on a
 * worker): summed from the workers' replies, with no flows yet (mergeFlows adds theirs).
 */
export function flowsFromMeta(metas: readonly QueueFlowMeta[]): DataplaneFlows {
  const sum = (pick: (m: QueueFlowMeta) => FlowMeta): FlowTableSnapshot => {
    const out: FlowTableSnapshot = { capacity: 0, used: 0, flows: [], other: { packets: 0, bytes: 0 } };
    for (const m of metas) {
      const x = pick(m);
      out.capacity += x.capacity;
      out.used += x.used;
      out.other.packets += x.other.packets;
      out.other.bytes += x.other.bytes;
    }
    return out;
  };
  return { egress: sum((m) => m.egress), ingress: sum((m) => m.ingress) };
}

/**
 * mergeFlows adds the workers' top flows (only those to or from `ip`, when given) to `mine` and
 * keeps the `top` largest by bytes per direction.
 */
export function mergeFlows(
  mine: DataplaneFlows,
  theirs: readonly QueueSnapshot[],
  top: number,
  ip?: number,
): DataplaneFlows {
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
