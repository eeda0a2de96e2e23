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
import fsp from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, StoreError, SystemError } from '../errors';
import {
  Lease,
  LeaseAttrs,
  LeasePolicy,
  LeaseRejection,
  filterLeases,
  NetworkConfig,
  PreviousSubnets,
  WeftFlags,
  backendMtu,
  describeLease,
  formatIPv4,
  parseIPv4,
  ip4NetToString,
  leaseToPeer,
  leasesToPeerSpecs,
  loadNetworkConfig,
  openStore,
  readSubnetEnv,
  vxlanDataOf,
  vxlanLeaseData,
  watchPeers,
  writeSubnetEnv,
} from '../control';
import { Iptables } from '../control/iptables';
import { DataplaneNode, type NodeConfig } from '../dataplane/node';
import { DEFAULT_SRC_PORT_MODE, DEFAULT_SRC_PORT_RANGE, parseSrcPortRange } from '../dataplane/src-port';
import * as netdev from '../io/netdev';
import { RouteSync, routeGetMany, type RouteConflict } from '../io/route-sync';
import { bufferToMac, macToBuffer } from '../route/addr';
import type { Backend } from '../route/peer';
import type { PeerSpec } from '../route/route-table';
import { DaemonCounters, LeaseSummary, MetricsSource, newDaemonCounters } from '../metrics/metrics';
import { CountingStore } from './counting-store';
import { ExtIface, LinkAddrs, listLinks, selectExtIface } from './iface';
import type { Logger } from './log';
import { TrafficRules } from './traffic-rules';
import type { LeaseHolder } from '../control/lease-holder';
import { LeaseManager } from '../control/lease-manager';
import { kubeStoreOf, newLeaseHolder, vtepMacFor } from './subnet-manager';
import { Rollback, checkUdpPortFree, checkWritableDir, checkWritableFile } from './startup';
import {
  ROUTE_CHECK_MS,
  checkHostGwIface,
  hostGwIgnoreWarning,
  hostGwLeaseAttrs,
  hostGwPeers,
  recoverRoutes,
} from './host-gw';
import { flagWarnings } from './flag-warnings';

/**
 * APPLY_GAP_MS spaces the passes over the peer set during a burst of lease changes: each pass is
 * O(peers) on the event loop that also forwards, so a burst must not become back-to-back passes.
 */
const APPLY_GAP_MS = 200;

/** MIN_OVERLAY_MTU is the smallest TUN MTU weft accepts (IPv4's minimum datagram size). */
const MIN_OVERLAY_MTU = 68;

/** NodeIdentity is what this node publishes and runs with, for /debug and `weft trace`. */
export interface NodeIdentity {
  /** The network's backend; host-gw has no dataplane (`dev` is then the external interface). */
  backend: Backend | 'host-gw';
  dev: string;
  subnet: string;
  network: string;
  publicIp: string;
  localIp: string;
  iface: string;
  vni: number;
  port: number;
  vtepMac: string | null;
  mtu: number;
  /** UDP I/O mode: decides the outer DF bit (batch VXLAN sockets clear it; Node dgram cannot). */
  io: 'batch' | 'dgram';
  leaseKey: string;
  leaseExpiration: string | null;
}

/** DebugPeer is one peer as /debug/routes shows it. */
export interface DebugPeer {
  subnet: string;
  publicIp: string;
  vtepMac: string | null;
  backend: Backend;
  port: number;
  leaseKey: string;
}

/** DebugDirectPeer is a DirectRouting peer: a kernel route via its public IP, no encapsulation. */
export interface DebugDirectPeer {
  subnet: string;
  publicIp: string;
  leaseKey: string;
  /** The route is in place (false after a failed or refused add, retried on the next change). */
  installed: boolean;
}

/** DebugRoutes is the JSON of /debug/routes (consumed by `weft trace`). */
export interface DebugRoutes {
  node: NodeIdentity | null;
  /** Peers reached through the dataplane (encapsulated). */
  peers: DebugPeer[];
  /** DirectRouting peers (vxlan `DirectRouting`, same L2): plain routed IP, not in the dataplane. */
  direct: DebugDirectPeer[];
  ignored: Array<{ leaseKey: string; reason: string }>;
}

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
  private known = new Map<string, Lease>();
  private ignored = new Map<string, string>();
  /** What a peer lease must satisfy to be routed (lease-policy.ts); set once the lease is held. */
  private policy: LeasePolicy | null = null;
  /** Peer leases refused by the policy, by key (one warning per key and reason). */
  private rejected = new Map<string, LeaseRejection>();
  /** Peer leases whose route a route weft did not install holds, by key. */
  private conflicted = new Map<string, string>();
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
  /** Per peer subnet: the public IP last classified and whether it was directly connected. */
  private directCache = new Map<string, { publicIp: string; direct: boolean }>();
  /** host-gw: the external interface every routed peer's route names (`dev`); null otherwise. */
  private hostGwDev: string | null = null;
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
    const forwarding = this.node !== null || this.hostGwDev !== null;
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
    const port = this.identity?.port ?? 0;
    const keyOf = new Map<string, string>();
    for (const [k, l] of this.known) if (l.subnet) keyOf.set(ip4NetToString(l.subnet), k);
    const id = this.identity;
    const direct = new Map((this.routes?.routesOf('direct') ?? []).map((r) => [r.dst, r.via]));
    if (id) id.leaseExpiration = this.mgr?.lease?.expiration?.toISOString() ?? null;
    return {
      node: id,
      peers: this.peers.map((p) => ({
        subnet: p.subnet,
        publicIp: p.publicIp,
        vtepMac: p.vtepMac ? bufferToMac(p.vtepMac) : null,
        backend: p.backend,
        port,
        leaseKey: keyOf.get(p.subnet) ?? '',
      })),
      direct: this.directPeers.map((p) => ({
        subnet: p.subnet,
        publicIp: p.publicIp,
        leaseKey: keyOf.get(p.subnet) ?? '',
        installed: direct.get(p.subnet) === p.publicIp,
      })),
      ignored: [
        ...[...this.ignored].map(([leaseKey, reason]) => ({ leaseKey, reason })),
        ...[...this.rejected].map(([leaseKey, r]) => ({
          leaseKey,
          reason: `rejected (${r.reason}): ${r.detail}`,
        })),
        ...[...this.conflicted].map(([leaseKey, holder]) => ({
          leaseKey,
          reason: `rejected (route_conflict): the kernel route ${holder} was not installed by weft`,
        })),
      ],
    };
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /** start runs steps 1-7 of the module comment; rejects (and cleans up) on failure. */
  async start(): Promise<void> {
    const f = this.flags;
    const signal = this.abort.signal;
    await checkWritableFile(f.subnetFile, '--subnet-file');
    if (f.store === 'embedded') await checkWritableDir(f.storeDir, '--store-dir');
    const undo = new Rollback(this.log);
    const raw = openStore(f, (msg) => {
      this.store?.count('warning');
      this.log.warn(msg);
    });
    const store = (this.store = new CountingStore(raw, this.counters.storeErrors));
    const kube = kubeStoreOf(raw);
    this.log.info(
      'lease store',
      kube
        ? {
            store: 'kube',
            server: kube.client.cfg.server,
            config: kube.client.cfg.source,
            prefix: kube.prefix,
          }
        : {
            store: raw.kind,
            chosenBy: f.storeFrom,
            ...(raw.kind === 'etcd' ? { endpoints: f.etcdEndpoints.join(',') } : { dir: f.storeDir }),
            prefix: f.etcdPrefix,
          },
    );
    // The store-choice warnings are about etcd vs embedded; kube mode uses neither.
    for (const w of kube ? [] : flagWarnings(f)) this.log.warn(w);
    try {
      // 1. network config
      const loaded = await this.retryStore('read the network config', () => loadNetworkConfig(store, f));
      const config = (this.config = loaded.config);
      if (config.enableIPv6) {
        throw new ConfigError(
          'EnableIPv6',
          "must be false: weft's dataplane carries IPv4 only",
          loaded.source,
        );
      }
      const be = config.backend;
      this.log.info('network config', { source: loaded.source, config: loaded.text.trim() });

      // 2. interface, device, MTU, VTEP MAC
      const links: LinkAddrs[] = await listLinks();
      const ext: ExtIface = await selectExtIface(f, links);
      if (ext.note) this.log.warn(ext.note);
      if (be.type === 'host-gw') checkHostGwIface(ext);
      const backend = be.type;
      const vni = be.type === 'vxlan' ? be.vni : 0;
      const dev = be.type === 'vxlan' ? `flannel.${be.vni}` : be.type === 'udp' ? 'flannel0' : ext.name;
      const mtu = backendMtu(config, ext.mtu);
      if (mtu < MIN_OVERLAY_MTU) {
        throw new ConfigError(
          be.type === 'vxlan' && be.mtu !== null ? 'Backend.MTU' : '--iface',
          `leaves an overlay MTU below ${MIN_OVERLAY_MTU}`,
          `overlay MTU ${mtu}`,
        );
      }
      this.log.info('using interface', {
        iface: ext.name,
        addr: ext.addr,
        publicIp: ext.publicIp,
        underlayMtu: ext.mtu,
      });
      if (be.type === 'vxlan') await checkWritableDir(f.vtepStateDir, '--vtep-state-dir');
      if (be.type !== 'host-gw') await checkUdpPortFree(ext.addr, be.port, 'Backend.Port');
      // iptables is checked before the lease, so that a node that cannot masquerade writes nothing.
      let iptables: Iptables | null = null;
      if (f.ipMasq || f.iptablesForwardRules) {
        const candidate = new Iptables();
        try {
          const info = await candidate.probe();
          iptables = candidate;
          this.log.info('using iptables', { version: info.version, randomFully: info.randomFully });
        } catch (e) {
          // flanneld logs this and runs without rules; with --ip-masq that silently breaks pods'
          // egress, so weft refuses to start. The forward rules alone are only logged, as flannel.
          if (f.ipMasq) throw e;
          const c = this.counters.iptablesErrors;
          c.set('FLANNEL-FWD', (c.get('FLANNEL-FWD') ?? 0) + 1);
          this.log.error('iptables not usable; the FLANNEL-FWD forward rules are not installed', {
            error: errMsg(e),
          });
        }
        if (iptables && config.enableNFTables) {
          this.log.warn(
            "EnableNFTables is true: weft writes flannel's rules through the iptables command, not as flannel's nftables tables",
            { iptables: (await iptables.probe()).mode },
          );
        }
      }
      let vtepMac: string | null = null;
      if (be.type === 'vxlan') {
        const st = await vtepMacFor(store, f.vtepStateDir, dev, ext.publicIp, (m, x) => this.log.warn(m, x));
        vtepMac = st.mac;
        if (st.created) undo.add(`the new VTEP state file ${st.file}`, () => fsp.unlink(st.file));
        this.log.info(st.created ? 'created a new VTEP MAC' : 'reusing the VTEP MAC', {
          vtepMac,
          file: st.file,
        });
      }
      const attrs: LeaseAttrs =
        be.type === 'host-gw'
          ? hostGwLeaseAttrs(ext.publicIp)
          : be.type === 'vxlan'
            ? {
                publicIp: ext.publicIp,
                publicIpv6: null,
                backendType: 'vxlan',
                backendData: vxlanLeaseData(be.vni, vtepMac!),
                backendV6Data: null,
              }
            : {
                publicIp: ext.publicIp,
                publicIpv6: null,
                backendType: '',
                backendData: null,
                backendV6Data: null,
              };

      // 3. lease
      let previous: PreviousSubnets | null = null;
      try {
        previous = await readSubnetEnv(f.subnetFile);
      } catch (e) {
        this.log.warn('ignoring an unreadable subnet.env', { file: f.subnetFile, error: errMsg(e) });
      }
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
      if (mgr instanceof LeaseManager && mgr.created) {
        undo.add(`the new lease ${lease.key}`, () => mgr.release());
      }
      const subnet = lease.subnet!;
      const subnetText = ip4NetToString(subnet);
      this.log.info('Lease acquired: ' + subnetText, { lease: describeLease(lease), key: lease.key });
      this.identity = {
        backend,
        dev,
        subnet: subnetText,
        network: ip4NetToString(config.network!),
        publicIp: ext.publicIp,
        localIp: ext.addr,
        iface: ext.name,
        vni,
        port: be.type === 'host-gw' ? 0 : be.port,
        vtepMac,
        mtu,
        io: f.io,
        leaseKey: lease.key,
        leaseExpiration: lease.expiration?.toISOString() ?? null,
      };

      // 4. dataplane with the current peers
      const ownAddrs = new Set<number>();
      for (const a of [ext.publicIp, ext.addr, ...links.flatMap((l) => l.addrs)]) {
        const u = parseIPv4(a);
        if (u !== null) ownAddrs.add(u);
      }
      this.policy = {
        network: config.network!,
        // Kube mode: podCIDRs have the controller's --node-cidr-mask-size, which SubnetLen need
        // not match (flannel's kube manager does not check it); all nodes share ours.
        subnetLen: kubeStoreOf(raw) ? subnet.prefixLen : config.subnetLen,
        ownSubnet: subnet,
        ownAddrs,
        vni: be.type === 'vxlan' ? be.vni : null,
      };
      const routes = (this.routes = new RouteSync({ scope: ip4NetToString(config.network!) }));
      const listing = await this.retryStore('list leases', () => store.listLeases());
      const initial = listing.leases.filter((l) => l.key !== lease.key);
      this.applyLeaseSet(new Map(initial.map((l) => [l.key, l])), false);
      await this.applying;
      if (be.type === 'host-gw') {
        // No device and no dataplane: the kernel forwards, along one route per peer.
        this.hostGwDev = ext.name;
        await this.syncDirect(this.directPeers);
        if (f.ipBlackholeRoute) await this.addBlackholeUndoable(subnetText, undo);
        if (this.stopping) return await this.teardown();
        this.log.info('host-gw routes installed', {
          iface: ext.name,
          mtu,
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
      } else {
        const srcRange = parseSrcPortRange(f.srcPortRange ?? DEFAULT_SRC_PORT_RANGE);
        const cfg: NodeConfig = {
          backend: be.type,
          dev,
          local: ext.addr,
          address: `${formatIPv4(subnet.ip)}/32`,
          vni: vni,
          port: be.port,
          vtepMac: vtepMac ? macToBuffer(vtepMac) : Buffer.from([2, 0, 0, 0, 0, 1]),
          mtu,
          io: f.io,
          peers: this.peers.map((p) => ({ ...p })),
          flowCounters: f.extra.debug === true,
          // flannel-UDP keeps its fixed port (as flannel); --src-port flow applies to vxlan only.
          srcPort: backend === 'vxlan' ? (f.srcPort ?? DEFAULT_SRC_PORT_MODE) : 'fixed',
          srcPortMin: srcRange.min,
          srcPortMax: srcRange.max,
          vxlanRco: backend === 'vxlan' && f.vxlanRco === true,
          workers: f.workers ?? 1,
          routes,
        };
        if (backend !== 'vxlan' && f.vxlanRco) {
          this.log.warn('--vxlan-rco applies to the vxlan backend only; ignored', { backend });
        }
        if (backend !== 'vxlan' && f.srcPort === 'flow') {
          this.log.warn('--src-port flow applies to the vxlan backend only; udp keeps its port', { backend });
        }
        const node = new DataplaneNode(cfg);
        node.onWorkerExit = (queue, why) =>
          this.log.warn('a forwarding worker stopped; its flows moved to the other queues', { queue, why });
        node.onUnderlayMtu = ({ message, kind: _k, ...fields }) => this.log.warn(message, fields);
        await node.start();
        this.node = node;
        if (node.lastRouteSync) this.noteConflicts('tun', node.lastRouteSync.conflicts);
        // A stop while the node was starting (workers start one after another) found no node.
        if (this.stopping) return await this.teardown();
        if (backend === 'udp') {
          // flannel's udp backend routes the whole Network into flannel0 (misses get ICMP unreachable).
          const dst = ip4NetToString(config.network!);
          const r = await routes.sync('network', [{ dst, dev }]);
          if (r.conflicts.length > 0 || r.errors.length > 0) {
            throw new SystemError(
              `ip route add ${dst} dev ${dev}`,
              r.conflicts.length > 0 ? 'EEXIST' : 'UNKNOWN',
              r.conflicts.length > 0
                ? `a route weft did not install holds ${dst}: ${r.conflicts[0]!.holder}`
                : r.errors[0]!.error,
            );
          }
        }
        await this.syncDirect(this.directPeers);
        if (f.ipBlackholeRoute) await this.addBlackholeUndoable(subnetText, undo);
        if (this.stopping) return await this.teardown();
        this.log.info('dataplane started', {
          dev,
          address: cfg.address,
          mtu: node.mtu,
          underlayMtu: node.underlayMtu,
          port: be.port,
          io: f.io,
          srcPort: node.srcPortSummary(),
          vxlanRco: cfg.vxlanRco === true,
          workers: cfg.workers,
          peers: this.peers.length,
          directPeers: this.directPeers.length,
        });
      }

      // 5. iptables, after the dataplane and before subnet.env (flannel's order)
      if (iptables) {
        const prev = previous?.network && previous.subnet ? previous : null;
        this.traffic = new TrafficRules({
          iptables,
          log: this.log,
          counters: this.counters,
          network: ip4NetToString(config.network!),
          subnet: subnetText,
          ipMasq: f.ipMasq,
          randomFullyDisable: f.ipMasqFullyRandomDisable,
          forwardRules: f.iptablesForwardRules,
          resyncSeconds: f.iptablesResync,
          previous: prev
            ? { network: ip4NetToString(prev.network!), subnet: ip4NetToString(prev.subnet!) }
            : null,
        });
        await this.traffic.start();
        const traffic = this.traffic;
        undo.add('the iptables chains this start created', () => traffic.removeNew());
        if (this.stopping) return await this.teardown();
      }

      // 6. subnet.env
      await writeSubnetEnv(f.subnetFile, {
        network: config.network,
        subnet,
        ipv6Network: null,
        ipv6Subnet: null,
        mtu: this.node?.mtu ?? mtu,
        ipMasq: f.ipMasq,
      });
      this.log.info('wrote subnet.env', { file: f.subnetFile });
      undo.clear();
      this.snapshotApplied = true;

      // 7. watch and renew
      mgr.onRenewed = () => {
        this.counters.renewOk++;
      };
      mgr.onRenewError = () => {
        this.counters.renewFailed++;
      };
      if (this.stopping) return await this.teardown();
      mgr.startRenewal();
      this.watchDone = this.watchLoop(lease, attrs, listing.cursor, initial, signal);
      this.log.info('ready', {
        subnet: subnetText,
        publicIp: ext.publicIp,
        vtepMac,
        dev,
        mtu: this.node?.mtu ?? mtu,
        backend,
      });
    } catch (e) {
      this.leaseHeld = false;
      await undo.run();
      await this.stop();
      throw e;
    }
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

  private async watchLoop(
    own: Lease,
    attrs: LeaseAttrs,
    cursor: string,
    initial: Lease[],
    signal: AbortSignal,
  ): Promise<void> {
    let lost = false;
    let delay = 100;
    while (!signal.aborted && !lost) {
      try {
        await watchPeers({
          store: this.store!,
          ownKey: own.key,
          ownAttrs: attrs,
          cursor,
          initial,
          signal,
          onChange: (_ev, peers) => {
            delay = 100;
            this.requestApply(peers);
          },
          onLost: (reason) => {
            lost = true;
            this.onLeaseLost(reason);
          },
        });
        if (signal.aborted || lost) return;
        this.log.warn('lease watch ended; resyncing');
      } catch (e) {
        if (signal.aborted) return;
        this.log.warn('lease watch failed; resyncing from a fresh listing', {
          error: errMsg(e),
          retryInMs: delay,
        });
      }
      this.counters.watchRestarts++;
      await sleep(delay, undefined, { signal }).catch(() => undefined);
      delay = Math.min(delay * 2, 5000);
      try {
        const listing = await this.store!.listLeases();
        cursor = listing.cursor;
        const ownNow = listing.leases.find((l) => l.key === own.key);
        if (!ownNow) {
          this.onLeaseLost(`our lease ${own.key} is no longer in the store`);
          return;
        }
        initial = listing.leases.filter((l) => l.key !== own.key);
      } catch (e) {
        // Keep the old peers (and routes); try again after the next backoff.
        this.log.warn('could not list leases; keeping the last known routes', { error: errMsg(e) });
        cursor = '';
        initial = [...this.known.values()];
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
    const { accepted, rejected } = filterLeases(leases.values(), this.policy!);
    const hostGw = backend === 'host-gw';
    for (const [k, l] of this.known) {
      if (!leases.has(k)) {
        this.conflicted.delete(k);
        // An ignored or rejected lease never became a route, so its removal changes nothing.
        if (this.ignored.delete(k) || this.rejected.delete(k)) continue;
        this.counters.leaseRemoved++;
        this.log.info(`Subnet removed: ${l.subnet ? ip4NetToString(l.subnet) : k}`, { key: k });
      }
    }
    for (const [k, r] of rejected) {
      const prev = this.rejected.get(k);
      this.rejected.set(k, r);
      if (prev?.reason === r.reason) continue;
      if (prev === undefined && this.known.has(k) && !this.ignored.has(k)) {
        this.counters.leaseRemoved++;
        this.log.info(`Subnet removed: ${ip4NetToString(leases.get(k)!.subnet!)}`, { key: k });
      }
      this.ignored.delete(k);
      this.conflicted.delete(k);
      this.countRejected(r.reason);
      this.log.warn(`Refusing lease ${k}: ${r.detail}`, {
        reason: r.reason,
        lease: describeLease(leases.get(k)!),
      });
    }
    for (const l of accepted) {
      const k = l.key;
      const old = this.known.get(k);
      const wasRejected = this.rejected.delete(k);
      if (!wasRejected && old && (old === l || JSON.stringify(old.attrs) === JSON.stringify(l.attrs)))
        continue;
      // flannel decides DirectRouting again on every event for a lease; here on every change.
      if (l.subnet) this.directCache.delete(ip4NetToString(l.subnet));
      if (hostGw) {
        // flannel's RouteNetwork: only host-gw leases count, the others get its warning.
        const warning = hostGwIgnoreWarning(l);
        if (warning !== null) {
          if (old && !this.ignored.has(k) && !wasRejected) this.counters.leaseRemoved++;
          this.counters.leaseIgnored++;
          this.ignored.set(k, warning);
          this.log.warn(warning, { key: k, lease: describeLease(l) });
          continue;
        }
      } else if (leaseToPeer(l, backend, 0) === null) {
        const why =
          backend === 'vxlan' && l.attrs.backendType !== 'vxlan'
            ? `backend type "${l.attrs.backendType || 'udp'}" is not vxlan`
            : backend === 'vxlan' && vxlanDataOf(l.attrs.backendData) === null
              ? 'no usable VtepMAC in BackendData'
              : 'no IPv4 subnet or public IP';
        this.counters.leaseIgnored++;
        this.ignored.set(k, why);
        // flannel: "Ignoring non-vxlan v4Subnet=... v6Subnet=... (udp)" style warning.
        this.log.warn(`Ignoring lease ${k}: ${why}`, { lease: describeLease(l) });
        continue;
      }
      this.ignored.delete(k);
      this.counters.leaseAdded++;
      const mac = vxlanDataOf(l.attrs.backendData)?.vtepMac;
      this.log.info(
        `Subnet added: ${ip4NetToString(l.subnet!)} via ${l.attrs.publicIp}`,
        mac ? { vtepMac: mac, key: k } : { key: k },
      );
    }
    this.known = new Map(leases);
    this.pendingPeers = {
      all: hostGw ? hostGwPeers(accepted) : leasesToPeerSpecs(accepted, backend, true),
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

  private countRejected(reason: string): void {
    const c = this.counters.leaseRejected;
    c.set(reason, (c.get(reason) ?? 0) + 1);
  }

  /**
   * noteConflicts records the peer routes of `group` a foreign kernel route holds: refused as
   * `route_conflict` (warned once per key), and forgotten again once the route went in.
   */
  private noteConflicts(group: string, conflicts: readonly RouteConflict[]): void {
    if (conflicts.length === 0 && this.conflicted.size === 0) return;
    const keyOf = new Map<string, string>();
    for (const [k, l] of this.known)
      if (l.subnet && !this.rejected.has(k)) keyOf.set(ip4NetToString(l.subnet), k);
    const now = new Set<string>();
    for (const c of conflicts) {
      const k = keyOf.get(c.route.dst);
      if (k === undefined) continue;
      now.add(k);
      if (this.conflicted.get(k) === c.holder) continue;
      this.conflicted.set(k, c.holder);
      this.countRejected('route_conflict');
      this.log.warn(
        `Refusing lease ${k}: the kernel route ${c.holder} was not installed by weft; leaving it alone`,
        {
          reason: 'route_conflict',
          route: c.route.dst,
          group,
        },
      );
    }
    const owner = this.routes;
    for (const [k] of this.conflicted) {
      const l = this.known.get(k);
      const dst = l?.subnet ? ip4NetToString(l.subnet) : null;
      if (!now.has(k) && (dst === null || owner?.ownerOf(dst) !== undefined)) this.conflicted.delete(k);
    }
  }

  private async syncPeers(all: PeerSpec[], sync: boolean): Promise<void> {
    const { encap, direct } = await this.classify(all);
    this.peers = encap;
    this.directPeers = direct;
    const node = this.node;
    if (!sync || (node === null && this.hostGwDev === null) || this.stopping) return;
    // Direct routes first without the prefixes the TUN still holds, then the TUN, then the rest.
    const routes = this.routes!;
    await this.syncDirect(direct.filter((p) => routes.ownerOf(p.subnet) !== 'tun'));
    // Each O(peers) step in its own event-loop turn, so forwarding gets turns in between.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (node !== null && this.node === node && !this.stopping) {
      const r = await node.updatePeers(encap);
      if (r) this.noteConflicts('tun', r.conflicts);
    }
    if (!this.stopping) await this.syncDirect(direct);
  }

  /**
   * classify splits peers as flannel's vxlan backend does with `DirectRouting`: a peer whose
   * public IP `ip route get` resolves to one route without a gateway is on our L2 and is routed
   * directly; every other peer (and every peer without DirectRouting) is encapsulated.
   */
  private async classify(all: PeerSpec[]): Promise<{ encap: PeerSpec[]; direct: PeerSpec[] }> {
    const be = this.config!.backend;
    if (be.type === 'host-gw') return { encap: [], direct: all };
    if (be.type !== 'vxlan' || !be.directRouting) return { encap: all, direct: [] };
    const encap: PeerSpec[] = [];
    const direct: PeerSpec[] = [];
    const seen = new Set<string>();
    // Every peer not classified yet, in one batched `ip route get` (10,000 peers: one process).
    const ask = all.filter((p) => this.directCache.get(p.subnet)?.publicIp !== p.publicIp);
    let answers: Awaited<ReturnType<typeof routeGetMany>> = [];
    try {
      answers = await routeGetMany([...new Set(ask.map((p) => p.publicIp))]);
    } catch (e) {
      answers = ask.map(() => errMsg(e));
    }
    const byIp = new Map<string, (typeof answers)[number]>();
    [...new Set(ask.map((p) => p.publicIp))].forEach((ip, i) => byIp.set(ip, answers[i] ?? 'no answer'));
    for (const p of ask) {
      const a = byIp.get(p.publicIp)!;
      if (typeof a === 'string') {
        // As flannel: log it and use VXLAN; the next change of this lease asks again.
        this.log.error(`couldn't lookup route to ${p.publicIp}`, { subnet: p.subnet, error: a });
        this.directCache.delete(p.subnet);
        continue;
      }
      // flannel's ip.DirectRouting: exactly one route, without a gateway.
      this.directCache.set(p.subnet, {
        publicIp: p.publicIp,
        direct: a.length === 1 && a[0]!.gateway === undefined,
      });
    }
    for (const p of all) {
      seen.add(p.subnet);
      const c = this.directCache.get(p.subnet);
      (c?.publicIp === p.publicIp && c.direct ? direct : encap).push(p);
    }
    for (const k of [...this.directCache.keys()]) if (!seen.has(k)) this.directCache.delete(k);
    return { encap, direct };
  }

  /** syncDirect makes the DirectRouting routes exactly `<subnet> via <publicIp>` of `want`. */
  private async syncDirect(want: readonly PeerSpec[]): Promise<void> {
    const routes = this.routes;
    if (routes === null) return;
    const before = new Map(routes.routesOf('direct').map((r) => [r.dst, r.via]));
    if (want.length === 0 && before.size === 0) return;
    for (const p of want) {
      if (before.get(p.subnet) !== p.publicIp)
        this.log.info(`Adding direct route to subnet: ${p.subnet} PublicIP: ${p.publicIp}`);
    }
    for (const [dst, gw] of before) {
      if (!want.some((p) => p.subnet === dst && p.publicIp === gw))
        this.log.info(`Removing direct route to subnet: ${dst} PublicIP: ${gw}`);
    }
    try {
      const r = await routes.sync(
        'direct',
        want.map((p) => ({ dst: p.subnet, via: p.publicIp, dev: this.hostGwDev ?? undefined })),
        { exclusive: true },
      );
      for (const e of r.errors) {
        // Not recorded as installed, so the next peer change tries again.
        this.counters.routeErrors++;
        this.log.error(
          `Error ${e.op === 'del' ? 'deleting' : 'adding'} route to ${e.route.dst} via ${e.route.via}`,
          {
            error: e.error,
          },
        );
      }
      this.noteConflicts('direct', r.conflicts);
    } catch (e) {
      this.counters.routeErrors++;
      this.log.error('could not program the direct routes', { error: errMsg(e) });
    }
    this.counters.directRoutes = routes.routesOf('direct').length;
  }

  /** addBlackholeUndoable is addBlackhole, registering the route's removal in `undo` when added. */
  private async addBlackholeUndoable(subnet: string, undo: Rollback): Promise<void> {
    if (await this.addBlackhole(subnet)) {
      undo.add(`the blackhole route ${subnet}`, () => netdev.ip(['route', 'del', 'blackhole', subnet]));
    }
  }

  /**
   * addBlackhole is flannel's `--ip-blackhole-route`: `blackhole <own subnet>` unless present.
   * Resolves true when it added the route.
   */
  private async addBlackhole(subnet: string): Promise<boolean> {
    try {
      const added = await netdev.addBlackholeRoute(subnet);
      this.log.info(added ? 'added the blackhole route' : 'the blackhole route is already there', {
        route: `blackhole ${subnet}`,
      });
      return added;
    } catch (e) {
      // flannel logs this and runs on (e.g. another route with the same prefix and metric).
      this.counters.routeErrors++;
      this.log.error('failed to add the blackhole route', { route: `blackhole ${subnet}`, error: errMsg(e) });
      return false;
    }
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
    await this.syncDirect([]);
  }
}
