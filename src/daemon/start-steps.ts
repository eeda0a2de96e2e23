/**
 * start-steps: the steps of `weft run`'s start (daemon.ts) that need only the flags, the log and
 * the counters: they read or check something and hand back what they found, and the daemon keeps
 * the state. In the order the daemon runs them:
 *
 *   openLeaseStore   the store the flags chose (store-choice.ts)
 *   loadConfig       1. the network config (retried while the store is unreachable)
 *   chooseInterface  2. the external interface, the node plan (node-plan.ts), the port and
 *                       VTEP state directory checks
 *   probeIptables    iptables, before anything is written
 *   loadVtepMac      the VTEP MAC (vxlan), a new state file registered for rollback
 *   readPrevious     the subnet of a previous run (subnet.env)
 *   newTrafficRules  5. the iptables rules
 *   writeSubnetFile  6. subnet.env
 */
import fsp from 'node:fs/promises';
import { ConfigError } from '../errors';
import {
  Ipv4Net,
  NetworkConfig,
  PreviousSubnets,
  WeftFlags,
  ipv4NetToString,
  loadNetworkConfig,
  openStore,
  readSubnetEnv,
  writeSubnetEnv,
} from '../control';
import { Iptables } from '../control/iptables';
import type { DaemonCounters } from '../metrics/metrics';
import { CountingStore } from './counting-store';
import { flagWarnings } from './flag-warnings';
import { checkHostGwIface } from './host-gw';
import { ExtIface, LinkAddrs, listLinks, selectExtIface } from './iface';
import type { Logger } from './log';
import { planNode, type NodePlan } from './node-plan';
import { Rollback, checkUdpPortFree, checkWritableDir } from './startup';
import { kubeStoreOf, vtepMacFor } from './subnet-manager';
import { TrafficRules } from './traffic-rules';

/** StepContext is what every step reads: flags, log, counters, and the daemon's store retry. */
export interface StepContext {
  flags: WeftFlags;
  log: Logger;
  counters: DaemonCounters;
  /** Runs `fn`, retrying store outages until it works or the daemon stops. */
  retry: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** readPrevious reads the subnet.env of a previous run; null (with a warning) when unreadable. */
export async function readPrevious(ctx: StepContext): Promise<PreviousSubnets | null> {
  try {
    return await readSubnetEnv(ctx.flags.subnetFile);
  } catch (e) {
    ctx.log.warn('ignoring an unreadable subnet.env', { file: ctx.flags.subnetFile, error: errMsg(e) });
    return null;
  }
}

/** openLeaseStore opens the store the flags chose (store-choice.ts) and logs which. */
export function openLeaseStore(ctx: StepContext): { store: CountingStore; kube: boolean } {
  const f = ctx.flags;
  // The counting store does not exist yet when the first warning may come.
  let counting: CountingStore | null = null;
  const raw = openStore(f, (msg) => {
    counting?.count('warning');
    ctx.log.warn(msg);
  });
  const store = (counting = new CountingStore(raw, ctx.counters.storeErrors));
  const kube = kubeStoreOf(raw);
  ctx.log.info(
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
  for (const w of kube ? [] : flagWarnings(f)) ctx.log.warn(w);
  return { store, kube: kube !== null };
}

/** 1. loadConfig reads and validates the network config (store outages are retried). */
export async function loadConfig(ctx: StepContext, store: CountingStore): Promise<NetworkConfig> {
  const loaded = await ctx.retry('read the network config', () => loadNetworkConfig(store, ctx.flags));
  const config = loaded.config;
  if (config.enableIPv6) {
    throw new ConfigError('EnableIPv6', "must be false: weft's dataplane carries IPv4 only", loaded.source);
  }
  ctx.log.info('network config', { source: loaded.source, config: loaded.text.trim() });
  return config;
}

/**
 * 2. chooseInterface picks the external interface and public IP, plans the device (node-plan.ts)
 * and runs the checks that need it: the VTEP state directory (vxlan), the UDP port (not host-gw).
 */
export async function chooseInterface(
  ctx: StepContext,
  config: NetworkConfig,
): Promise<{ ext: ExtIface; links: LinkAddrs[]; plan: NodePlan }> {
  const f = ctx.flags;
  const links: LinkAddrs[] = await listLinks();
  const ext: ExtIface = await selectExtIface(f, links);
  if (ext.note) ctx.log.warn(ext.note);
  if (config.backend.type === 'host-gw') checkHostGwIface(ext);
  const plan = planNode(config, ext);
  ctx.log.info('using interface', {
    iface: ext.name,
    addr: ext.addr,
    publicIp: ext.publicIp,
    underlayMtu: ext.mtu,
  });
  if (plan.backend === 'vxlan') await checkWritableDir(f.vtepStateDir, '--vtep-state-dir');
  if (plan.backend !== 'host-gw') await checkUdpPortFree(ext.addr, plan.port, 'Backend.Port');
  return { ext, links, plan };
}

/**
 * probeIptables checks iptables before the lease, so that a node that cannot masquerade writes
 * nothing; null when no rules are asked for or (forward rules only) iptables is not usable.
 */
export async function probeIptables(ctx: StepContext, config: NetworkConfig): Promise<Iptables | null> {
  const f = ctx.flags;
  if (!f.ipMasq && !f.iptablesForwardRules) return null;
  const candidate = new Iptables();
  let iptables: Iptables | null = null;
  try {
    const info = await candidate.probe();
    iptables = candidate;
    ctx.log.info('using iptables', { version: info.version, randomFully: info.randomFully });
  } catch (e) {
    // flanneld logs this and runs without rules; with --ip-masq that silently breaks pods'
    // egress, so weft refuses to start. The forward rules alone are only logged, as flannel.
    if (f.ipMasq) throw e;
    const c = ctx.counters.iptablesErrors;
    c.set('FLANNEL-FWD', (c.get('FLANNEL-FWD') ?? 0) + 1);
    ctx.log.error('iptables not usable; the FLANNEL-FWD forward rules are not installed', {
      error: errMsg(e),
    });
  }
  if (iptables && config.enableNFTables) {
    ctx.log.warn(
      "EnableNFTables is true: weft writes flannel's rules through the iptables command, not as flannel's nftables tables",
      { iptables: (await iptables.probe()).mode },
    );
  }
  return iptables;
}

/** loadVtepMac reads or creates the VTEP MAC (vxlan only; kube: our Node's backend data first). */
export async function loadVtepMac(
  ctx: StepContext,
  store: CountingStore,
  plan: NodePlan,
  ext: ExtIface,
  undo: Rollback,
): Promise<string | null> {
  if (plan.backend !== 'vxlan') return null;
  const st = await vtepMacFor(store, ctx.flags.vtepStateDir, plan.dev, ext.publicIp, (m, x) =>
    ctx.log.warn(m, x),
  );
  if (st.created) undo.add(`the new VTEP state file ${st.file}`, () => fsp.unlink(st.file));
  ctx.log.info(st.created ? 'created a new VTEP MAC' : 'reusing the VTEP MAC', {
    vtepMac: st.mac,
    file: st.file,
  });
  return st.mac;
}

/** 5. newTrafficRules makes the iptables rules of this node (started after the dataplane, as flannel). */
export function newTrafficRules(
  ctx: StepContext,
  iptables: Iptables,
  config: NetworkConfig,
  subnet: Ipv4Net,
  previous: PreviousSubnets | null,
): TrafficRules {
  const f = ctx.flags;
  const prev = previous?.network && previous.subnet ? previous : null;
  return new TrafficRules({
    iptables,
    log: ctx.log,
    counters: ctx.counters,
    network: ipv4NetToString(config.network!),
    subnet: ipv4NetToString(subnet),
    ipMasq: f.ipMasq,
    randomFullyDisable: f.ipMasqFullyRandomDisable,
    forwardRules: f.iptablesForwardRules,
    resyncSeconds: f.iptablesResync,
    previous: prev
      ? { network: ipv4NetToString(prev.network!), subnet: ipv4NetToString(prev.subnet!) }
      : null,
  });
}

/** 6. writeSubnetFile writes subnet.env atomically, in flannel's format. */
export async function writeSubnetFile(
  ctx: StepContext,
  config: NetworkConfig,
  subnet: Ipv4Net,
  mtu: number,
): Promise<void> {
  const f = ctx.flags;
  await writeSubnetEnv(f.subnetFile, {
    network: config.network,
    subnet,
    ipv6Network: null,
    ipv6Subnet: null,
    mtu,
    ipMasq: f.ipMasq,
  });
  ctx.log.info('wrote subnet.env', { file: f.subnetFile });
}
