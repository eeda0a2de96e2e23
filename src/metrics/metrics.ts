/**
 * metrics: the Prometheus registry of `weft run` (prom-client). Every collector READS the
 * dataplane's counters when scraped (`collect()`); nothing is pushed per packet or per batch, so
 * the hot path only ever increments plain numbers and typed-array slots.
 *
 * The metric list (name, type, labels, meaning) is in docs/daemon.md; METRIC_NAMES here is the
 * same list for tests.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { ANOMALY_NAMES, DROP_REASON_NAMES } from '../encap';
import { BATCH_SIZE_BUCKETS, BATCH_SIZE_UPPER } from '../dataplane/batch-histogram';
import type { DataplaneStats } from '../dataplane/node';

/** DataplaneView is what the collectors read from a running DataplaneNode. */
export interface DataplaneView {
  stats(): DataplaneStats;
  readonly egressDrops: Float64Array;
  readonly ingressDrops: Float64Array;
  readonly anomalies: Float64Array;
}

/** DaemonCounters are the control-plane counters the daemon keeps (plain numbers). */
export interface DaemonCounters {
  leaseAdded: number;
  leaseRemoved: number;
  leaseIgnored: number;
  /** Peer leases refused by the lease policy (or a foreign kernel route), by reason (lease-policy.ts). */
  readonly leaseRejected: Map<string, number>;
  renewOk: number;
  renewFailed: number;
  watchRestarts: number;
  /** Store call failures by operation (`listLeases`, `createLease`, `watchLeases`, `warning`, ...). */
  readonly storeErrors: Map<string, number>;
  /** Times a resync found flannel rules missing and reinstalled them, by chain (`FLANNEL-POSTRTG`, `FLANNEL-FWD`). */
  readonly iptablesReinstalls: Map<string, number>;
  /** Failed iptables operations (setup, check or reinstall), by chain. */
  readonly iptablesErrors: Map<string, number>;
  /** DirectRouting peers currently reached by a plain kernel route (`<subnet> via <PublicIP>`). */
  directRoutes: number;
  /** Kernel route changes the daemon itself makes (direct routes, blackhole) that failed. */
  routeErrors: number;
}

/** newDaemonCounters returns zeroed DaemonCounters. */
export function newDaemonCounters(): DaemonCounters {
  return {
    leaseAdded: 0,
    leaseRemoved: 0,
    leaseIgnored: 0,
    leaseRejected: new Map(),
    renewOk: 0,
    renewFailed: 0,
    watchRestarts: 0,
    storeErrors: new Map(),
    iptablesReinstalls: new Map(),
    iptablesErrors: new Map(),
    directRoutes: 0,
    routeErrors: 0,
  };
}

/** LeaseSummary is the own lease as metrics label it. */
export interface LeaseSummary {
  subnet: string;
  publicIp: string;
  backend: string;
  vtepMac: string;
  expiration: Date | null;
}

/** MetricsSource is everything a scrape reads. */
export interface MetricsSource {
  /** The running dataplane, or null before it started / after it stopped. */
  dataplane(): DataplaneView | null;
  readonly counters: DaemonCounters;
  ready(): boolean;
  /** The own lease, or null before it is acquired. */
  lease(): LeaseSummary | null;
}

/** METRIC_NAMES lists every weft metric (the process_* / nodejs_* defaults come on top). */
export const METRIC_NAMES = [
  'weft_packets_total',
  'weft_bytes_total',
  'weft_batches_total',
  'weft_queue_packets_total',
  'weft_workers',
  'weft_worker_exits_total',
  'weft_batch_size_mean',
  'weft_batch_size',
  'weft_drops_total',
  'weft_anomalies_total',
  'weft_icmp_replies_total',
  'weft_partial_checksums_total',
  'weft_egress_stalls_total',
  'weft_egress_regrouped_batches_total',
  'weft_cpu_yields_total',
  'weft_underlay_mtu',
  'weft_path_mtu',
  'weft_mtu_segments_total',
  'weft_routes',
  'weft_route_cache_lookups_total',
  'weft_route_table_swaps_total',
  'weft_io_syscalls_total',
  'weft_io_eagain_total',
  'weft_io_errors_total',
  'weft_io_truncated_total',
  'weft_lease_events_total',
  'weft_leases_ignored_total',
  'weft_lease_renewals_total',
  'weft_lease_expiry_timestamp_seconds',
  'weft_lease_info',
  'weft_store_errors_total',
  'weft_watch_restarts_total',
  'weft_iptables_reinstalls_total',
  'weft_iptables_errors_total',
  'weft_direct_routes',
  'weft_route_errors_total',
  'weft_ready',
] as const;

const DIRS = ['egress', 'ingress'] as const;

/** createMetricsRegistry builds the registry; scrape it with `registry.metrics()`. */
export function createMetricsRegistry(src: MetricsSource, opts: { defaults?: boolean } = {}): Registry {
  const registers = [new Registry()];
  const reg = registers[0]!;
  if (opts.defaults !== false) collectDefaultMetrics({ register: reg });
  // One stats() snapshot per scrape, shared by the collectors that run in the same tick.
  let snap: { at: number; s: DataplaneStats | null } = { at: -1, s: null };
  const stats = (): DataplaneStats | null => {
    const now = Date.now();
    if (snap.at !== now) snap = { at: now, s: src.dataplane()?.stats() ?? null };
    return snap.s;
  };
  const set = (c: Counter | Gauge, labels: Record<string, string>, v: number): void => {
    if (c instanceof Counter) c.inc(labels, v);
    else c.set(labels, v);
  };

  new Counter({
    name: 'weft_packets_total',
    help: 'Inner packets forwarded: egress = TUN to UDP (encapsulated), ingress = UDP to TUN (decapsulated).',
    labelNames: ['direction'],
    registers,
    collect() {
      this.reset();
      const s = stats();
      set(this, { direction: 'egress' }, s?.egress.packets ?? 0);
      set(this, { direction: 'ingress' }, s?.ingress.packets ?? 0);
    },
  });
  new Counter({
    name: 'weft_bytes_total',
    help: 'Inner bytes forwarded, by direction.',
    labelNames: ['direction'],
    registers,
    collect() {
      this.reset();
      const s = stats();
      set(this, { direction: 'egress' }, s?.egress.bytes ?? 0);
      set(this, { direction: 'ingress' }, s?.ingress.bytes ?? 0);
    },
  });
  new Counter({
    name: 'weft_queue_packets_total',
    help: 'Inner packets forwarded per forwarding queue (--workers: queue 0 is the main thread), by direction.',
    labelNames: ['queue', 'direction'],
    registers,
    collect() {
      this.reset();
      for (const q of stats()?.queues ?? []) {
        set(this, { queue: String(q.queue), direction: 'egress' }, q.egressPackets);
        set(this, { queue: String(q.queue), direction: 'ingress' }, q.ingressPackets);
      }
    },
  });
  new Gauge({
    name: 'weft_workers',
    help: 'Forwarding workers (--workers): configured, and alive (forwarding).',
    labelNames: ['state'],
    registers,
    collect() {
      const w = stats()?.workers;
      this.set({ state: 'configured' }, w?.count ?? 0);
      this.set({ state: 'alive' }, w?.alive ?? 0);
    },
  });
  new Counter({
    name: 'weft_worker_exits_total',
    help: 'Worker threads that stopped without being asked to (their queues were closed; flows moved to the others).',
    registers,
    collect() {
      this.reset();
      this.inc(stats()?.workers?.exits ?? 0);
    },
  });
  new Gauge({
    name: 'weft_tun_io_info',
    help: "How queue 0's TUN moves packets (WEFT_TUN_IO): mode io_uring or readv, with why io_uring was refused (empty when it was not). Always 1.",
    labelNames: ['mode', 'refused'],
    registers,
    collect() {
      this.reset();
      const t = stats()?.tunIo;
      if (t) this.set({ mode: t.mode, refused: t.refused ?? '' }, 1);
    },
  });
  new Counter({
    name: 'weft_tun_io_ring_batches_total',
    help: "Queue 0's TUN read and write batches that went through io_uring.",
    registers,
    collect() {
      this.reset();
      this.inc(stats()?.tunIo?.ringCalls ?? 0);
    },
  });
  new Gauge({
    name: 'weft_forwarding_thread_realtime',
    help: 'weft run: 1 while the forwarding thread of a queue runs SCHED_RR, 0 on SCHED_OTHER (refused, opted out, or demoted while busy).',
    labelNames: ['queue'],
    registers,
    collect() {
      this.reset();
      for (const f of stats()?.forwarding ?? [])
        this.set({ queue: String(f.queue) }, f.policy === 'rr' ? 1 : 0);
    },
  });
  new Counter({
    name: 'weft_forwarding_thread_demotions_total',
    help: 'weft run: times a forwarding thread went from SCHED_RR to SCHED_OTHER because it kept a CPU over half busy or carried a stream (thread-sched.ts).',
    labelNames: ['queue'],
    registers,
    collect() {
      this.reset();
      for (const f of stats()?.forwarding ?? []) this.inc({ queue: String(f.queue) }, f.demotions);
    },
  });
  new Counter({
    name: 'weft_batches_total',
    help: 'Batches processed (one native read/recv per batch), by direction.',
    labelNames: ['direction'],
    registers,
    collect() {
      this.reset();
      const s = stats();
      set(this, { direction: 'egress' }, s?.egress.batches ?? 0);
      set(this, { direction: 'ingress' }, s?.ingress.batches ?? 0);
    },
  });
  new Gauge({
    name: 'weft_batch_size_mean',
    help: 'Mean packets per batch since start, by direction (rate(weft_packets_total)/rate(weft_batches_total) for a window).',
    labelNames: ['direction'],
    registers,
    collect() {
      const s = stats();
      for (const d of DIRS) {
        const b = s?.[d].batches ?? 0;
        this.set({ direction: d }, b > 0 ? s![d].packets / b : 0);
      }
    },
  });
  // The dataplane keeps the histogram's buckets itself (one typed-array slot per batch), so a
  // prom-client Histogram, which observes values one by one, does not fit: this metric emits the
  // precomputed buckets (made cumulative), sum and count as a histogram at scrape time.
  const batchSize = {
    name: 'weft_batch_size',
    help: 'Packets per batch (one native read/recv), by direction: TUN reads on egress, datagrams on ingress.',
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const s = stats();
      const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> =
        [];
      for (const d of DIRS) {
        const h = s?.[d].batchSizes;
        let acc = 0;
        for (let i = 0; i < BATCH_SIZE_BUCKETS; i++) {
          acc += h?.buckets[i] ?? 0;
          const le = i < BATCH_SIZE_UPPER.length ? String(BATCH_SIZE_UPPER[i]) : '+Inf';
          values.push({ value: acc, labels: { direction: d, le }, metricName: 'weft_batch_size_bucket' });
        }
        values.push({ value: h?.sum ?? 0, labels: { direction: d }, metricName: 'weft_batch_size_sum' });
        values.push({ value: acc, labels: { direction: d }, metricName: 'weft_batch_size_count' });
      }
      return { name: 'weft_batch_size', help: batchSize.help, type: 'histogram', aggregator: 'sum', values };
    },
    reset() {},
  };
  reg.registerMetric(batchSize as unknown as Metric);
  new Counter({
    name: 'weft_drops_total',
    help: 'Packets dropped, by direction and reason (src/encap/drop-reason.ts).',
    labelNames: ['direction', 'reason'],
    registers,
    collect() {
      this.reset();
      const dp = src.dataplane();
      for (const d of DIRS) {
        const c = dp ? (d === 'egress' ? dp.egressDrops : dp.ingressDrops) : null;
        for (let i = 0; i < DROP_REASON_NAMES.length; i++) {
          set(this, { direction: d, reason: DROP_REASON_NAMES[i]! }, c?.[i] ?? 0);
        }
      }
    },
  });
  new Counter({
    name: 'weft_anomalies_total',
    help: 'Frames accepted although odd (e.g. VXLAN reserved bits set), by kind.',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      const a = src.dataplane()?.anomalies;
      for (let i = 0; i < ANOMALY_NAMES.length; i++) set(this, { kind: ANOMALY_NAMES[i]! }, a?.[i] ?? 0);
    },
  });
  new Counter({
    name: 'weft_partial_checksums_total',
    help: 'Received inner TCP/UDP packets whose checksum was partial (pseudo-header sum only, a kernel sender over veth), by how they were finished: completed by weft, or written to the TUN with NEEDS_CSUM for the kernel.',
    labelNames: ['action'],
    registers,
    collect() {
      this.reset();
      const p = stats()?.ingress.partialCsum;
      set(this, { action: 'completed' }, p?.completed ?? 0);
      set(this, { action: 'needs_csum' }, p?.needsCsum ?? 0);
    },
  });
  new Counter({
    name: 'weft_icmp_replies_total',
    help: 'ICMP errors written back into the TUN (net unreachable, fragmentation needed).',
    registers,
    collect() {
      this.reset();
      this.inc(stats()?.egress.icmpReplies ?? 0);
    },
  });
  new Counter({
    name: 'weft_egress_stalls_total',
    help: 'Times egress paused TUN reads because the UDP socket buffer was full.',
    registers,
    collect() {
      this.reset();
      this.inc(stats()?.egress.stalls ?? 0);
    },
  });
  new Counter({
    name: 'weft_egress_regrouped_batches_total',
    help: 'Offload egress TUN read batches whose packets were regrouped by peer and source-port lane before sending, so that flows interleaved packet by packet still leave as one UDP GSO train per flow.',
    registers,
    collect() {
      this.reset();
      this.inc(stats()?.offload?.regrouped ?? 0);
    },
  });
  new Counter({
    name: 'weft_cpu_yields_total',
    help: 'Times a forwarding loop gave up its CPU (sched_yield) after WEFT_YIELD_BUDGET packets, so that the applications reading what it delivered can run between its bursts.',
    labelNames: ['direction'],
    registers,
    collect() {
      this.reset();
      const s = stats();
      set(this, { direction: 'egress' }, s?.egress.yields ?? 0);
      set(this, { direction: 'ingress' }, s?.ingress.yields ?? 0);
    },
  });
  new Gauge({
    name: 'weft_underlay_mtu',
    help: 'MTU of the underlay interface, followed while running.',
    registers,
    collect() {
      this.set(stats()?.underlayMtu ?? 0);
    },
  });
  new Gauge({
    name: 'weft_path_mtu',
    help: 'Largest inner packet sent unfragmented (underlay MTU - 50 VXLAN / - 28 flannel-UDP).',
    registers,
    collect() {
      this.set(stats()?.pathMtu ?? 0);
    },
  });
  new Counter({
    name: 'weft_mtu_segments_total',
    help: 'Offload egress adapting to a path MTU below the TUN MTU: clamped = TSO super-packets cut into smaller segments; fragmented = UDP GSO trains sent as kernel-fragmented datagrams (a segment over the MTU).',
    labelNames: ['action'],
    registers,
    collect() {
      this.reset();
      const o = stats()?.offload;
      set(this, { action: 'clamped' }, o?.mtuClamped ?? 0);
      set(this, { action: 'fragmented' }, o?.gsoMtuSplits ?? 0);
    },
  });
  new Counter({
    name: 'weft_tun_coalesced_total',
    help: 'Offload ingress writing received packets to the TUN merged: super_packets = TUN writes of merged packets, packets = the packets they carried; proto tcp (TSO super-packets) or udp (USO super-packets, kernels that take GSO_UDP_L4 writes).',
    labelNames: ['proto', 'kind'],
    registers,
    collect() {
      this.reset();
      const o = stats()?.offload;
      set(this, { proto: 'tcp', kind: 'super_packets' }, o?.superPacketsOut ?? 0);
      set(this, { proto: 'tcp', kind: 'packets' }, o?.segmentsMerged ?? 0);
      set(this, { proto: 'udp', kind: 'super_packets' }, o?.udpSuperPackets ?? 0);
      set(this, { proto: 'udp', kind: 'packets' }, o?.udpCoalesced ?? 0);
    },
  });
  new Gauge({
    name: 'weft_routes',
    help: 'Peer subnets in the route table.',
    registers,
    collect() {
      this.set(stats()?.routes.peers ?? 0);
    },
  });
  new Counter({
    name: 'weft_route_cache_lookups_total',
    help: 'IPv4 route lookups by result of the LRU cache in front of the table.',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      const r = stats()?.routes;
      set(this, { result: 'hit' }, r?.cacheHits ?? 0);
      set(this, { result: 'miss' }, r?.cacheMisses ?? 0);
    },
  });
  new Counter({
    name: 'weft_route_table_swaps_total',
    help: 'Route table replacements (one per applied lease change).',
    registers,
    collect() {
      this.reset();
      this.inc(stats()?.routes.swaps ?? 0);
    },
  });
  const io = (name: string, help: string, rx: string, tx: string): void => {
    new Counter({
      name,
      help,
      labelNames: ['device', 'direction'],
      registers,
      collect() {
        this.reset();
        const s = stats();
        for (const dev of ['tun', 'udp'] as const) {
          const c = s?.[dev] ?? {};
          set(this, { device: dev, direction: 'rx' }, c[rx] ?? 0);
          set(this, { device: dev, direction: 'tx' }, c[tx] ?? 0);
        }
      },
    });
  };
  io(
    'weft_io_syscalls_total',
    'System calls made by the I/O layer (read/recvmmsg, write/sendmmsg).',
    'rxSyscalls',
    'txSyscalls',
  );
  io(
    'weft_io_eagain_total',
    'I/O calls that returned EAGAIN (rx: end of a drain; tx: socket or queue full).',
    'rxEagain',
    'txEagain',
  );
  io('weft_io_errors_total', 'I/O calls or packets refused with another errno.', 'rxErrors', 'txErrors');
  io(
    'weft_io_truncated_total',
    'Received packets larger than their slot (rx) / lost before JS saw them (tx column: rxDropped).',
    'rxTruncated',
    'rxDropped',
  );

  new Counter({
    name: 'weft_lease_events_total',
    help: 'Peer lease changes applied to the route table, by event (added includes changed).',
    labelNames: ['event'],
    registers,
    collect() {
      this.reset();
      set(this, { event: 'added' }, src.counters.leaseAdded);
      set(this, { event: 'removed' }, src.counters.leaseRemoved);
    },
  });
  new Counter({
    name: 'weft_leases_ignored_total',
    help: 'Peer leases ignored (another backend type, or unusable backend data), as flannel ignores them.',
    registers,
    collect() {
      this.reset();
      this.inc(src.counters.leaseIgnored);
    },
  });
  new Counter({
    name: 'weft_leases_rejected_total',
    help: 'Peer leases refused and not routed (outside Network, wrong length, bad PublicIP or VtepMAC, another VNI, a duplicate, or a kernel route weft did not install in the way), by reason.',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, n] of src.counters.leaseRejected) set(this, { reason }, n);
    },
  });
  new Counter({
    name: 'weft_lease_renewals_total',
    help: 'Own lease renewals, by result.',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      set(this, { result: 'ok' }, src.counters.renewOk);
      set(this, { result: 'error' }, src.counters.renewFailed);
    },
  });
  new Gauge({
    name: 'weft_lease_expiry_timestamp_seconds',
    help: 'When the own lease expires (Unix seconds); 0 before a lease is held.',
    registers,
    collect() {
      const e = src.lease()?.expiration;
      this.set(e ? e.getTime() / 1000 : 0);
    },
  });
  new Gauge({
    name: 'weft_lease_info',
    help: 'The own lease (value 1): subnet, public IP, backend and VTEP MAC as labels.',
    labelNames: ['subnet', 'public_ip', 'backend', 'vtep_mac'],
    registers,
    collect() {
      this.reset();
      const l = src.lease();
      if (l)
        this.set({ subnet: l.subnet, public_ip: l.publicIp, backend: l.backend, vtep_mac: l.vtepMac }, 1);
    },
  });
  new Counter({
    name: 'weft_store_errors_total',
    help: 'Failed lease-store operations, by operation (warning = a problem the store reported and retried).',
    labelNames: ['op'],
    registers,
    collect() {
      this.reset();
      for (const [op, n] of src.counters.storeErrors) set(this, { op }, n);
    },
  });
  new Counter({
    name: 'weft_watch_restarts_total',
    help: 'Times the lease watch ended with an error and was restarted from a fresh listing.',
    registers,
    collect() {
      this.reset();
      this.inc(src.counters.watchRestarts);
    },
  });
  new Counter({
    name: 'weft_iptables_reinstalls_total',
    help: 'Times the iptables resync found flannel rules missing and reinstalled the chain, by chain.',
    labelNames: ['chain'],
    registers,
    collect() {
      this.reset();
      for (const [chain, n] of src.counters.iptablesReinstalls) set(this, { chain }, n);
    },
  });
  new Counter({
    name: 'weft_iptables_errors_total',
    help: 'Failed iptables operations (setup, check, reinstall), by chain; retried at the next resync.',
    labelNames: ['chain'],
    registers,
    collect() {
      this.reset();
      for (const [chain, n] of src.counters.iptablesErrors) set(this, { chain }, n);
    },
  });
  new Gauge({
    name: 'weft_direct_routes',
    help: 'DirectRouting peers reached by a plain kernel route via their public IP (no encapsulation).',
    registers,
    collect() {
      this.set(src.counters.directRoutes);
    },
  });
  new Counter({
    name: 'weft_route_errors_total',
    help: 'Kernel route changes made by the daemon itself (direct routes, blackhole route) that failed.',
    registers,
    collect() {
      this.reset();
      this.inc(src.counters.routeErrors);
    },
  });
  new Gauge({
    name: 'weft_ready',
    help: '1 once the lease is held, the dataplane forwards and the first lease snapshot is applied (/readyz).',
    registers,
    collect() {
      this.set(src.ready() ? 1 : 0);
    },
  });
  return reg;
}
