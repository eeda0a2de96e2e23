/**
 * node-view: everything `weft doctor` looks at, gathered once from the same flags, environment and
 * store `weft run` uses (src/control/flags.ts, open-store.ts): the network config, every lease,
 * this node's lease (by its public IP, as flannel reuses one, else by subnet.env's subnet),
 * subnet.env, the external interface, and the kernel's links, routes, neighbours and FDB.
 *
 * The overlay device tells which kind of node this is: `flannel.<VNI>` of kind vxlan is a kernel
 * flannel node (flanneld), of kind tun a weft node; `flannel0` is the udp backend; host-gw has no
 * device. Nothing here changes the node: every read is a query.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  Lease,
  LeaseStore,
  NetworkConfig,
  PreviousSubnets,
  WeftFlags,
  ipv4NetEqual,
  loadNetworkConfig,
  openStore,
  readSubnetEnv,
} from '../control';
import { ExtIface, listLinks, selectExtIface } from '../daemon/iface';
import { HostFdb, HostLink, HostNeigh, HostRoute, readFdb, readLinks, readNeigh, readRoutes } from './host';
import { kubeMode } from './kube-nodes';

/** NodeFlavor is what runs the overlay on this node, as seen from its device. */
export type NodeFlavor = 'kernel-vxlan' | 'weft-vxlan' | 'udp' | 'host-gw' | 'no-device';

/** NodeView is one snapshot of a node for the checks; a part that could not be read is null with its error. */
export interface NodeView {
  readonly flags: WeftFlags;
  /** When the snapshot was taken (ms since the epoch, local clock). */
  readonly now: number;
  readonly store: LeaseStore | null;
  readonly storeError: string | null;
  readonly config: NetworkConfig | null;
  readonly configSource: string | null;
  readonly configError: string | null;
  /** Every live lease, or null when the store could not be listed. */
  readonly leases: readonly Lease[] | null;
  readonly ownLease: Lease | null;
  /** How the own lease was found: `public-ip`, `subnet.env`, or null. */
  readonly ownLeaseBy: 'public-ip' | 'subnet.env' | null;
  /** The other leases. */
  readonly peers: readonly Lease[];
  readonly ext: ExtIface | null;
  readonly extError: string | null;
  readonly subnetEnv: PreviousSubnets | null;
  readonly subnetEnvError: string | null;
  readonly links: readonly HostLink[] | null;
  readonly routes: readonly HostRoute[] | null;
  /** The overlay device name the config implies (`flannel.1`, `flannel0`), null for host-gw. */
  readonly dev: string | null;
  readonly devLink: HostLink | null;
  readonly flavor: NodeFlavor;
  /** Neighbour and FDB entries of a kernel VXLAN device (null otherwise or unreadable). */
  readonly neigh: readonly HostNeigh[] | null;
  readonly fdb: readonly HostFdb[] | null;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** gatherNodeView reads the node; it never throws for what it cannot read. */
export async function gatherNodeView(flags: WeftFlags): Promise<NodeView> {
  const now = Date.now();
  let store: LeaseStore | null = null;
  let storeError: string | null = null;
  let config: NetworkConfig | null = null;
  let configSource: string | null = null;
  let configError: string | null = null;
  let leases: Lease[] | null = null;
  // Listing an embedded store creates its directories: a missing one is reported, not made.
  const embeddedRoot = path.join(flags.storeDir, flags.etcdPrefix);
  if (!kubeMode(flags) && flags.store === 'embedded' && !fs.existsSync(embeddedRoot)) {
    storeError = `the embedded store directory ${embeddedRoot} does not exist`;
  } else {
    try {
      store = openStore(flags, () => {});
    } catch (e) {
      storeError = errText(e);
    }
  }
  if (store) {
    try {
      const loaded = await withTimeout(loadNetworkConfig(store, flags), 10_000, 'reading the network config');
      config = loaded.config;
      configSource = loaded.source;
    } catch (e) {
      configError = errText(e);
    }
    try {
      leases = [...(await withTimeout(store.listLeases(), 10_000, 'listing leases')).leases];
    } catch (e) {
      storeError = errText(e);
    }
  }

  let ext: ExtIface | null = null;
  let extError: string | null = null;
  try {
    ext = await selectExtIface(flags, await listLinks());
  } catch (e) {
    extError = errText(e);
  }

  let subnetEnv: PreviousSubnets | null = null;
  let subnetEnvError: string | null = null;
  try {
    subnetEnv = await readSubnetEnv(flags.subnetFile);
    if (subnetEnv === null) subnetEnvError = `${flags.subnetFile} does not exist`;
  } catch (e) {
    subnetEnvError = errText(e);
  }

  let ownLease: Lease | null = null;
  let ownLeaseBy: NodeView['ownLeaseBy'] = null;
  if (leases && ext) {
    ownLease = leases.find((l) => l.attrs.publicIp === ext!.publicIp) ?? null;
    if (ownLease) ownLeaseBy = 'public-ip';
  }
  if (leases && !ownLease && subnetEnv?.subnet) {
    ownLease = leases.find((l) => ipv4NetEqual(l.subnet, subnetEnv!.subnet)) ?? null;
    if (ownLease) ownLeaseBy = 'subnet.env';
  }
  const peers = (leases ?? []).filter((l) => l !== ownLease);

  const [links, routes] = await Promise.all([readLinks(), readRoutes()]);
  const be = config?.backend;
  const dev = !be ? null : be.type === 'vxlan' ? `flannel.${be.vni}` : be.type === 'udp' ? 'flannel0' : null;
  const devLink = dev ? (links?.find((l) => l.name === dev) ?? null) : null;
  let flavor: NodeFlavor = 'no-device';
  if (be?.type === 'host-gw') flavor = 'host-gw';
  else if (be?.type === 'udp' && devLink) flavor = 'udp';
  else if (devLink?.kind === 'vxlan') flavor = 'kernel-vxlan';
  else if (devLink?.kind === 'tun') flavor = 'weft-vxlan';
  const [neigh, fdb] =
    flavor === 'kernel-vxlan' && dev ? await Promise.all([readNeigh(dev), readFdb(dev)]) : [null, null];

  return {
    flags,
    now,
    store,
    storeError,
    config,
    configSource,
    configError,
    leases,
    ownLease,
    ownLeaseBy,
    peers,
    ext,
    extError,
    subnetEnv,
    subnetEnvError,
    links,
    routes,
    dev,
    devLink,
    flavor,
    neigh,
    fdb,
  };
}

/** withTimeout rejects when `p` takes longer than `ms` (a store that never answers must not hang doctor). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
