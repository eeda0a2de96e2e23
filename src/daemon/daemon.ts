/**
 * daemon: `weft run`, a node of a flannel network (flanneld `main.go` + the vxlan/udp backends).
 *
 * Startup, in this order so that a bad configuration writes nothing (no lease, no subnet.env):
 *   0. pre-flight (startup.ts): the directories of --subnet-file and --store-dir must be creatable
 *      and writable; after step 2, --vtep-state-dir too and the backend's UDP port must be free
 *   1. open the store the flags chose (store-choice.ts: `--store`, else etcd for any `--etcd-*`
 *      flag, as flanneld, else embedded); read and validate the network config (`<prefix>/config` or
 *      `--net-config-path`); store outages are retried (flannel waits for its store too)
 *   2. pick the external interface and public IP; device name (`flannel.<VNI>` / `flannel0`) and
 *      MTU (underlay - 50 / - 28, or Backend.MTU - 50; host-gw: no device, the underlay MTU, and
 *      a public IP other than the interface's is refused); the VTEP MAC from the state file
 *      (kube: our Node's stored backend-data first)
 *   3. acquire the lease (reuse by public IP, then the subnet.env subnet, else a random free one;
 *      with --kube-subnet-mgr the Node's podCIDR, see subnet-manager.ts)
 *   4. list the leases, refuse the ones the lease policy rejects (lease-policy.ts: outside
 *      Network, wrong length, bad PublicIP/VtepMAC/VNI, duplicates), start the DataplaneNode
 *      with the others (TUN with `<subnet>.0/32`); with vxlan `DirectRouting`, peers whose public
 *      IP is on our L2 (`ip route get` has no gateway) get `<subnet> via <PublicIP>` instead and
 *      stay out of the dataplane (flannel's vxlan backend); host-gw starts no dataplane, every
 *      host-gw peer gets `<subnet> via <PublicIP> dev <iface>` (host-gw.ts), re-added by a 10 s
 *      route check if deleted; `--ip-blackhole-route` adds `blackhole <subnet>`. Every kernel
 *      route goes through one RouteSync (src/io/route-sync.ts): batched, `proto 87`, never over a
 *      route weft did not install
 *   5. iptables (traffic-rules.ts): `--ip-masq` FLANNEL-POSTRTG, `--iptables-forward-rules`
 *      FLANNEL-FWD, resynced every `--iptables-resync` seconds
 *   6. write subnet.env atomically; ready
 *   7. watch leases (reconnecting, resyncing from a fresh listing if the watch dies), renew the
 *      lease before expiry; our own key deleted -> "Lease has been revoked. Shutting down daemon."
 *
 * Each later step that writes registers its undo in a Rollback (startup.ts): when a step fails,
 * a new VTEP state file, a new lease, the blackhole route and newly created iptables chains are
 * removed again, so a failed start leaves what was there before it.
 *
 * A store outage never touches the dataplane: the route table is only ever replaced by a newer
 * peer set, so forwarding continues on the last known routes until the watch resumes.
 * `stop` (SIGINT/SIGTERM) keeps the lease in the store (the next start reuses it), removes the
 * device, its routes and the direct routes and closes sockets. Like flanneld it leaves the
 * iptables rules and the blackhole route in place, so a restart does not cut pods off.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError, SystemError } from '../errors';
import {
  Ipv4Net,
  Lease,
  LeaseAttrs,
  LeasePolicy,
  NetworkConfig,
  PreviousSubnets,
  WeftFlags,
  describeLease,
  parseIpv4,
  ipv4NetToString,
  leasesToPeerSpecs,
} from '../control';
import { DataplaneNode } from '../dataplane/node';
import { FORWARDING_SCHED_ENV, parseForwardingSched } from '../dataplane/thread-sched';
import { ROUTE_IO_ENV, RouteSync, parseRouteIo, type RouteConflict } from '../io/route-sync';
import type { PeerSpec } from '../route/route-table';
import { DaemonCounters, LeaseSummary, MetricsSource, newDaemonCounters } from '../metrics/metrics';
import { CountingStore } from './counting-store';
import type { ExtIface, LinkAddrs } from './iface';
import type { Logger } from './log';
import { TrafficRules } from './traffic-rules';
import type { LeaseHolder } from '../control/lease-holder';
import { LeaseManager } from '../control/lease-manager';
import { newLeaseHolder } from './subnet-manager';
import { Rollback, checkWritableDir, checkWritableFile } from './startup';
import { ROUTE_CHECK_MS, hostGwPeers, recoverRoutes } from './host-gw';
import { debugRoutes, type DebugRoutes, type NodeIdentity } from './debug-routes';
import { DirectRoutes } from './direct-routes';
import { PeerLeases } from './peer-leases';
import { watchLeases } from './watch-loop';
import type { Backend } from '../route/peer';
import { dataplaneConfig, leaseAttrs, type NodePlan } from './node-plan';
import {
  chooseInterface,
  loadConfig,
  loadVtepMac,
  newTrafficRules,
  openLeaseStore,
  probeIptables,
  readPrevious,
  writeSubnetFile,
  type StepContext,
} from './start-steps';

/**
 * APPLY_GAP_MS spaces the passes over the peer set during a burst of lease changes: each pass is
 * O(peers) on the event loop that also forwards, so a burst must not become back-to-back passes.
 */
const APPLY_GAP_MS = 200;

export type { DebugDirectPeer, DebugPeer, DebugRoutes, NodeIdentity } from './debug-routes';

/** DaemonOptions configures a Daemon. */
export interface DaemonOptions {
  readonly flags: WeftFlags;
  readonly log: Logger;
  /** Called once when the daemon stops by itself (lease revoked) with the exit code to use. */
  readonly onFatal?: (code: number) => void;
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Daemon is one `weft run` node; see the module comment for its lifecycle. */
export class Daemon implements MetricsSource {
  readonly counters: DaemonCounters = newDaemonCounters();
  private readonly flags: WeftFlags;
  private readonly log: Logger;
  private store: CountingStore | null = null;
  private mgr: LeaseHolder | null = null;
  private node: DataplaneNode | null = null;
  private identity: NodeIdentity | null = null;
  private config: NetworkConfig | null = null;
  /** What a peer lease must satisfy to be routed (lease-policy.ts); set once the lease is held. */
  private policy: LeasePolicy | null = null;
  /** The peer leases: known, refused, ignored, held off by a foreign route (peer-leases.ts). */
  private readonly book: PeerLeases;
  /** Kernel routes: `tun` (the dataplane's), `direct` (DirectRouting), `network` (udp's Network route). */
  private routes: RouteSync | null = null;
  private pendingPeers: { all: PeerSpec[]; sync: boolean } | null = null;
  private applyQueued = false;
  private latestLeases: ReadonlyMap<string, Lease> | null = null;
  private applyRequested = false;
  private lastApplyEnd = 0;
  /** Peers the dataplane encapsulates to. */
  private peers: PeerSpec[] = [];
  /** DirectRouting peers (vxlan, same L2): reached by `<subnet> via <PublicIP>`. */
  private directPeers: PeerSpec[] = [];
  /** DirectRouting / host-gw routes and the blackhole route. */
  private readonly direct: DirectRoutes;
  private routeCheck: NodeJS.Timeout | null = null;
  private traffic: TrafficRules | null = null;
  private applying: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private watchDone: Promise<void> = Promise.resolve();
  private leaseHeld = false;
  private snapshotApplied = false;
  private stopping = false;
  private stopped: Promise<void> | null = null;

  constructor(private readonly o: DaemonOptions) {
    this.flags = o.flags;
    this.log = o.log;
    this.book = new PeerLeases({
      log: o.log,
      counters: this.counters,
      forget: (subnet) => this.direct.forget(subnet),
    });
    this.direct = new DirectRoutes({
      log: o.log,
      counters: this.counters,
      routes: () => this.routes,
      onConflicts: (group, conflicts) => this.noteConflicts(group, conflicts),
    });
  }

  // ---- MetricsSource / health -------------------------------------------------------------

  /** dataplane is the running DataplaneNode (for metrics), or null. */
  dataplane(): DataplaneNode | null {
    return this.node;
  }

  /** healthy: the process is up and holds its lease (flannel's /healthz). */
  healthy(): boolean {
    return this.leaseHeld && !this.stopping;
  }

  /** ready: lease held, dataplane forwarding, first lease snapshot applied (/readyz). */
  ready(): boolean {
    const forwarding = this.node?.forwarding === true || this.direct.hostGwDev !== null;
    return this.leaseHeld && forwarding && this.snapshotApplied && !this.stopping;
  }

  /** lease summarizes the own lease for metrics. */
  lease(): LeaseSummary | null {
    const id = this.identity;
    const l = this.mgr?.lease;
    if (!id || !l || !this.leaseHeld) return null;
    return {
      subnet: id.subnet,
      publicIp: id.publicIp,
      backend: id.backend,
      vtepMac: id.vtepMac ?? '',
      expiration: l.expiration,
    };
  }

  /** debugRoutes is the JSON of /debug/routes. */
  debugRoutes(): DebugRoutes {
    const id = this.identity;
    if (id) id.leaseExpiration = this.mgr?.lease?.expiration?.toISOString() ?? null;
    return debugRoutes({
      node: id,
      known: this.book.known,
      peers: this.peers,
      directPeers: this.directPeers,
      directRoutes: this.routes?.routesOf('direct') ?? [],
      ignored: this.book.ignored,
      rejected: this.book.rejected,
      conflicted: this.book.conflicted,
    });
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** start runs steps 1-7 of the module comment; rejects (and cleans up) on failure. */
  async start(): Promise<void> {
    const f = this.flags;
    const ctx: StepContext = {
      flags: f,
      log: this.log,
      counters: this.counters,
      retry: (what, fn) => this.retryStore(what, fn),
    };
    parseForwardingSched(process.env[FORWARDING_SCHED_ENV]); // a bad value stops us before any write
    parseRouteIo(process.env[ROUTE_IO_ENV]);
    await checkWritableFile(f.subnetFile, '--subnet-file');
    if (f.store === 'embedded') await checkWritableDir(f.storeDir, '--store-dir');
    const undo = new Rollback(this.log);
    const { store, kube } = openLeaseStore(ctx);
    this.store = store;
    try {
      const config = (this.config = await loadConfig(ctx, store));
      const { ext, links, plan } = await chooseInterface(ctx, config);
      const iptables = await probeIptables(ctx, config);
      const vtepMac = await loadVtepMac(ctx, store, plan, ext, undo);
      const attrs = leaseAttrs(config, ext.publicIp, vtepMac);
      const previous = await readPrevious(ctx);
      const lease = await this.acquireLease(store, config, attrs, previous, undo);
      const subnet = lease.subnet!;
      this.identity = {
        backend: plan.backend,
        dev: plan.dev,
        subnet: ipv4NetToString(subnet),
        network: ipv4NetToString(config.network!),
        publicIp: ext.publicIp,
        localIp: ext.addr,
        iface: ext.name,
        vni: plan.vni,
        port: plan.port,
        vtepMac,
        mtu: plan.mtu,
        io: f.io,
        leaseKey: lease.key,
        leaseExpiration: lease.expiration?.toISOString() ?? null,
      };
      const listing = await this.applyFirstListing(store, config, ext, links, lease, kube);
      if (plan.backend === 'host-gw') await this.startHostGw(ext, subnet, undo);
      else await this.startDataplane(plan, config, ext, subnet, vtepMac, undo);
      if (this.stopping) return await this.teardown();
      if (iptables) {
        const traffic = (this.traffic = newTrafficRules(ctx, iptables, config, subnet, previous));
        await traffic.start();
        undo.add('the iptables chains this start created', () => traffic.removeNew());
      }
      if (this.stopping) return await this.teardown();
      await writeSubnetFile(ctx, config, subnet, this.node?.mtu ?? plan.mtu);
      undo.clear();
      this.snapshotApplied = true;
      if (this.stopping) return await this.teardown();
      this.startWatching(lease, attrs, listing);
      this.log.info('ready', {
        subnet: ipv4NetToString(subnet),
        publicIp: ext.publicIp,
        vtepMac,
        dev: plan.dev,
        mtu: this.node?.mtu ?? plan.mtu,
        backend: plan.backend,
      });
    } catch (e) {
      this.leaseHeld = false;
      await undo.run();
      await this.stop();
      throw e;
    }
  }

  /** 3. acquireLease takes our lease (reuse by public IP, the subnet.env subnet, else a free one). */
  private async acquireLease(
    store: CountingStore,
    config: NetworkConfig,
    attrs: LeaseAttrs,
    previous: PreviousSubnets | null,
    undo: Rollback,
  ): Promise<Lease> {
    const f = this.flags;
    const mgr = (this.mgr = newLeaseHolder(
      {
        store,
        config,
        attrs,
        previous,
        ttlSeconds: f.subnetLeaseTtl,
        renewMarginMs: f.subnetLeaseRenewMargin * 60_000,
        log: (level, msg, fields) => this.log[level](msg, fields),
      },
      f,
    ));
    const lease = await this.retryStore('acquire a lease', () => mgr.acquire());
    this.leaseHeld = true;
    // A store lease this start created is released again; a kube podCIDR is the Node's own.
    if (mgr instanceof LeaseManager && mgr.created)
      undo.add(`the new lease ${lease.key}`, () => mgr.release());
    this.log.info('Lease acquired: ' + ipv4NetToString(lease.subnet!), {
      lease: describeLease(lease),
      key: lease.key,
    });
    return lease;
  }

  /**
   * 4a. applyFirstListing sets the lease policy, lists the leases and classifies the peers (no
   * routes yet: the dataplane or the host-gw routes take them from `peers` / `directPeers`).
   */
  private async applyFirstListing(
    store: CountingStore,
    config: NetworkConfig,
    ext: ExtIface,
    links: LinkAddrs[],
    lease: Lease,
    kube: boolean,
  ): Promise<{ cursor: string; initial: Lease[] }> {
    const ownAddrs = new Set<number>();
    for (const a of [ext.publicIp, ext.addr, ...links.flatMap((l) => l.addrs)]) {
      const u = parseIpv4(a);
      if (u !== null) ownAddrs.add(u);
    }
    const subnet = lease.subnet!;
    this.policy = {
      network: config.network!,
      // Kube mode: podCIDRs have the controller's --node-cidr-mask-size, which SubnetLen need
      // not match (flannel's kube manager does not check it); all nodes share ours.
      subnetLen: kube ? subnet.prefixLen : config.subnetLen,
      ownSubnet: subnet,
      ownAddrs,
      vni: config.backend.type === 'vxlan' ? config.backend.vni : null,
    };
    this.routes = new RouteSync({ scope: ipv4NetToString(config.network!), log: this.log });
    const listing = await this.retryStore('list leases', () => store.listLeases());
    const initial = listing.leases.filter((l) => l.key !== lease.key);
    this.applyLeaseSet(new Map(initial.map((l) => [l.key, l])), false);
    await this.applying;
    return { cursor: listing.cursor, initial };
  }

  /**
   * 4b. startHostGw: no device and no dataplane, the kernel forwards along one route per peer;
   * a route check re-adds deleted routes every ROUTE_CHECK_MS, queued behind lease changes.
   */
  private async startHostGw(ext: ExtIface, subnet: Ipv4Net, undo: Rollback): Promise<void> {
    const routes = this.routes!;
    this.direct.hostGwDev = ext.name;
    await this.direct.sync(this.directPeers);
    if (this.flags.ipBlackholeRoute) await this.direct.addBlackholeUndoable(ipv4NetToString(subnet), undo);
    if (this.stopping) return;
    this.log.info('host-gw routes installed', {
      iface: ext.name,
      mtu: ext.mtu,
      peers: this.directPeers.length,
    });
    // Queued behind lease changes, so a check never re-adds a route being removed.
    this.routeCheck = setInterval(() => {
      this.applying = this.applying
        .then(async () => {
          if (this.stopping) return;
          await recoverRoutes(routes, 'direct', this.log, () => this.counters.routeErrors++);
        })
        .catch((e: unknown) => this.log.error('route check failed', { error: errMsg(e) }));
    }, ROUTE_CHECK_MS);
    this.routeCheck.unref();
  }

  /**
   * 4b. startDataplane starts the DataplaneNode with the current peers (TUN `<subnet>.0/32`), then
   * udp's Network route, the DirectRouting routes and the blackhole route.
   */
  private async startDataplane(
    plan: NodePlan,
    config: NetworkConfig,
    ext: ExtIface,
    subnet: Ipv4Net,
    vtepMac: string | null,
    undo: Rollback,
  ): Promise<void> {
    const f = this.flags;
    const routes = this.routes!;
    const cfg = dataplaneConfig(plan, {
      flags: f,
      local: ext.addr,
      subnet,
      vtepMac,
      peers: this.peers.map((p) => ({ ...p })),
      routes,
    });
    if (plan.backend !== 'vxlan' && f.vxlanRco) {
      this.log.warn('--vxlan-rco applies to the vxlan backend only; ignored', { backend: plan.backend });
    }
    if (plan.backend !== 'vxlan' && f.srcPort === 'flow' && f.explicit.has('src-port')) {
      this.log.warn('--src-port flow applies to the vxlan backend only; udp keeps its port', {
        backend: plan.backend,
      });
    }
    const node = new DataplaneNode(cfg);
    node.onWorkerExit = (queue, why, tid) => {
      const thread = `the forwarding thread of queue ${queue} (tid ${tid ?? '?'})`;
      if (node.forwarding) {
        this.log.warn(`${thread} stopped: ${why}; its flows moved to the other queues`, { queue, tid, why });
        return;
      }
      // Nothing forwards any more (/readyz says 503 from here): exit non-zero, so that the
      // supervisor restarts weft, as it would have after a crash of a single-threaded weft.
      this.log.error(`${thread} stopped: ${why}; no forwarding thread is left, shutting down`, {
        queue,
        tid,
        why,
      });
      if (!this.stopping) void this.stop().then(() => this.o.onFatal?.(1));
    };
    node.onUnderlayMtu = ({ message, kind: _k, ...fields }) => this.log.warn(message, fields);
    await node.start();
    this.node = node;
    const refused = node.forwardingThreads().find((t) => t.refused !== null)?.refused;
    if (refused)
      this.log.warn('forwarding threads run SCHED_OTHER: control-plane work can delay packets', { refused });
    if (node.lastRouteSync) this.noteConflicts('tun', node.lastRouteSync.conflicts);
    // A stop while the node was starting (workers start one after another) found no node.
    if (this.stopping) return;
    if (plan.backend === 'udp') {
      // flannel's udp backend routes the whole Network into flannel0 (misses get ICMP unreachable).
      const dst = ipv4NetToString(config.network!);
      const r = await routes.sync('network', [{ dst, dev: plan.dev }]);
      if (r.conflicts.length > 0 || r.errors.length > 0) {
        throw new SystemError(
          `ip route add ${dst} dev ${plan.dev}`,
          r.conflicts.length > 0 ? 'EEXIST' : 'UNKNOWN',
          r.conflicts.length > 0
            ? `a route weft did not install holds ${dst}: ${r.conflicts[0]!.holder}`
            : r.errors[0]!.error,
        );
      }
    }
    await this.direct.sync(this.directPeers);
    if (f.ipBlackholeRoute) await this.direct.addBlackholeUndoable(ipv4NetToString(subnet), undo);
    if (this.stopping) return;
    this.log.info('dataplane started', {
      dev: plan.dev,
      address: cfg.address,
      mtu: node.mtu,
      underlayMtu: node.underlayMtu,
      port: plan.port,
      io: f.io,
      srcPort: node.srcPortSummary(),
      vxlanRco: cfg.vxlanRco === true,
      workers: cfg.workers,
      forwarding: node.forwardsOffMain ? 'worker threads' : 'main thread',
      threads: node
        .forwardingThreads()
        .map((t) => `queue ${t.queue} tid ${t.tid ?? '?'}${t.policy === 'rr' ? ' SCHED_RR' : ''}`),
      peers: this.peers.length,
      directPeers: this.directPeers.length,
    });
  }

  /** 7. startWatching starts the lease renewal and the watch of the peer leases. */
  private startWatching(
    lease: Lease,
    attrs: LeaseAttrs,
    listing: { cursor: string; initial: Lease[] },
  ): void {
    const mgr = this.mgr!;
    mgr.onRenewed = () => {
      this.counters.renewOk++;
    };
    mgr.onRenewError = () => {
      this.counters.renewFailed++;
    };
    mgr.startRenewal();
    this.watchDone = watchLeases({
      store: this.store!,
      own: lease,
      attrs,
      cursor: listing.cursor,
      initial: listing.initial,
      signal: this.abort.signal,
      log: this.log,
      counters: this.counters,
      known: () => this.book.known.values(),
      onChange: (peers) => this.requestApply(peers),
      onLost: (reason) => this.onLeaseLost(reason),
    });
  }

  /** retryStore runs `fn`, retrying StoreErrors with backoff (1 s .. 5 s) until it works or stop. */
  private async retryStore<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let delay = 1000;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof StoreError) || this.abort.signal.aborted) throw e;
        this.log.warn(`could not ${what}; retrying`, { error: e.message, retryInMs: delay });
        await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => undefined);
        if (this.abort.signal.aborted) throw e;
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private onLeaseLost(reason: string): void {
    if (this.stopping) return;
    this.leaseHeld = false;
    this.log.error('Lease has been revoked. Shutting down daemon.', { reason });
    void this.stop().then(() => this.o.onFatal?.(0));
  }

  /**
   * applyLeaseSet makes `leases` (every peer lease, own excluded) the current set: checks each
   * against the lease policy (a refused lease is warned about once per key and reason, counted by
   * reason and never routed), logs and counts the difference, then (coalesced on `applying`: only
   * the latest set is applied) splits the peers into encapsulated and DirectRouting ones and, when
   * `sync`, applies both: stale direct routes go first, then the dataplane's peers (and TUN
   * routes) are replaced, then new direct routes are added, so a peer that switches between the
   * two never has both routes or neither for long.
   */
  private applyLeaseSet(leases: ReadonlyMap<string, Lease>, sync: boolean): void {
    const backend = this.config!.backend.type;
    const accepted = this.book.update(leases, this.policy!, backend);
    const hostGw = backend === 'host-gw';
    this.pendingPeers = {
      all: hostGw ? hostGwPeers(accepted) : leasesToPeerSpecs(accepted, backend as Backend, true),
      sync,
    };
    if (this.applyQueued) return;
    this.applyQueued = true;
    this.applying = this.applying
      .then(() => {
        this.applyQueued = false;
        const next = this.pendingPeers;
        this.pendingPeers = null;
        return next ? this.syncPeers(next.all, next.sync) : undefined;
      })
      .then(() => {
        this.lastApplyEnd = Date.now();
      })
      .catch((e: unknown) =>
        this.log.error('could not apply the peer set to the dataplane', { error: errMsg(e) }),
      );
  }

  /**
   * requestApply applies `leases` (the watcher's live map) once the route programming in flight is
   * done: a burst of store changes costs one pass over the peer set, not one per change, and the
   * forwarding loop gets its turns in between.
   */
  private requestApply(leases: ReadonlyMap<string, Lease>): void {
    this.latestLeases = leases;
    if (this.applyRequested) return;
    this.applyRequested = true;
    this.applying = this.applying
      .then(() => {
        // Right away after a quiet spell; during a burst, at most one pass per APPLY_GAP_MS.
        const wait = Math.max(0, this.lastApplyEnd + APPLY_GAP_MS - Date.now());
        return new Promise<void>((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
      })
      .then(() => {
        this.applyRequested = false;
        const next = this.latestLeases;
        this.latestLeases = null;
        if (next && !this.stopping) this.applyLeaseSet(next, true);
      });
  }

  /** noteConflicts records the peer routes of `group` a foreign kernel route holds (see PeerLeases). */
  private noteConflicts(group: string, conflicts: readonly RouteConflict[]): void {
    this.book.noteConflicts(group, conflicts, this.routes);
  }

  private async syncPeers(all: PeerSpec[], sync: boolean): Promise<void> {
    const { encap, direct } = await this.classify(all);
    this.peers = encap;
    this.directPeers = direct;
    const node = this.node;
    if (!sync || (node === null && this.direct.hostGwDev === null) || this.stopping) return;
    // Direct routes first without the prefixes the TUN still holds, then the TUN, then the rest.
    const routes = this.routes!;
    await this.direct.sync(direct.filter((p) => routes.ownerOf(p.subnet) !== 'tun'));
    // Each O(peers) step in its own event-loop turn, so forwarding gets turns in between.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (node !== null && this.node === node && !this.stopping) {
      const r = await node.updatePeers(encap);
      if (r) this.noteConflicts('tun', r.conflicts);
    }
    if (!this.stopping) await this.direct.sync(direct);
  }

  /**
   * classify splits peers into encapsulated and DirectRouting ones (direct-routes.ts); host-gw
   * routes every peer directly, and without `DirectRouting` every peer is encapsulated.
   */
  private async classify(all: PeerSpec[]): Promise<{ encap: PeerSpec[]; direct: PeerSpec[] }> {
    const be = this.config!.backend;
    if (be.type === 'host-gw') return { encap: [], direct: all };
    if (be.type !== 'vxlan' || !be.directRouting) return { encap: all, direct: [] };
    return this.direct.classify(all);
  }

  /**
   * stop shuts down: watch, renewal and iptables resync end, routes and device removed, direct
   * routes removed, store closed. The lease, the iptables rules and the blackhole route stay.
   */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopping = true;
    this.abort.abort();
    this.stopped = (async () => {
      await this.teardown();
      await this.store?.close().catch(() => undefined);
    })();
    return this.stopped;
  }

  /**
   * teardown undoes what start set up (all but the store). `stop` runs it; so does `start` when a
   * stop came while it was still starting, for what it set up after that stop had run.
   */
  private async teardown(): Promise<void> {
    this.mgr?.stop();
    if (this.routeCheck) clearInterval(this.routeCheck);
    this.routeCheck = null;
    await this.traffic?.stop();
    await this.watchDone.catch(() => undefined);
    await this.applying.catch(() => undefined);
    await this.routes?.release('network').catch(() => undefined);
    if (this.node) {
      try {
        await this.node.stop();
      } catch (e) {
        this.log.warn('dataplane stop failed', { error: errMsg(e) });
      }
      this.log.info('dataplane stopped; device and routes removed', { dev: this.identity?.dev });
    }
    this.node = null;
    await this.direct.sync([]);
  }
}
