/**
 * doctor: `weft doctor`, the troubleshooting checklists of docs/operations.md as one command.
 *
 * Order: gather the node once (node-view.ts: flags, store, config, leases, subnet.env, kernel
 * state), then run the checks, each turning part of that view into findings with their fix:
 *   config    the store answers and holds a valid network config
 *   mtu       overlay device, FLANNEL_MTU and cni0 against the underlay (checks/mtu.ts)
 *   subnet    lease vs subnet.env vs cni0 and the device address (checks/subnet.ts)
 *   podcidr   Kubernetes mode: node.spec.podCIDR (checks/podcidr.ts)
 *   peers     routes, neighbours, FDB vs the leases (checks/peers.ts)
 *   iptables  FLANNEL-POSTRTG / FLANNEL-FWD when the flags want them, ip_forward (checks/iptables.ts)
 *   reach     an echo through the overlay to every peer, a port probe on failure (checks/reach.ts)
 *   offload   checksum offload and what it means for captures and peers (checks/offload.ts)
 *   clock     clock skew against the store, lease expiry vs renewal (checks/clock.ts)
 * Only `reach` (and the clock probe of etcd) sends anything; nothing changes the node.
 */
import { WeftFlags } from '../control';
import { vtepStateFile } from '../daemon/vtep-state';
import { readFile } from 'node:fs/promises';
import { Finding, note, problem, skipped } from './finding';
import { readOffloads, readSysctl } from './host';
import { NodeView, gatherNodeView } from './node-view';
import { checkMtu } from './checks/mtu';
import { checkSubnet } from './checks/subnet';
import { checkPodCidr } from './checks/podcidr';
import { kubeAccess, kubeMode } from './kube-nodes';
import { checkPeers } from './checks/peers';
import { checkIptables } from './checks/iptables';
import { ReachProbes, checkReach, REAL_PROBES } from './checks/reach';
import { checkOffload } from './checks/offload';
import { ClockReading, checkClock, measureFsSkew, measureHttpSkew } from './checks/clock';

/** DoctorOptions select what runs beyond the flags. */
export interface DoctorOptions {
  /** Send echoes and port probes to peers (the reach check). */
  readonly probe: boolean;
  /** Wait per probe, ms. */
  readonly timeoutMs: number;
  readonly probes?: ReachProbes;
}

/** DoctorReport is the whole result: what was looked at, and the findings. */
export interface DoctorReport {
  readonly node: {
    readonly flavor: NodeView['flavor'];
    readonly store: string;
    readonly config: string | null;
    readonly iface: string | null;
    readonly publicIp: string | null;
    readonly lease: string | null;
    readonly dev: string | null;
    readonly peers: number;
  };
  readonly findings: readonly Finding[];
}

function configFindings(v: NodeView): Finding[] {
  const out: Finding[] = [];
  if (v.storeError)
    out.push(
      problem(
        'config',
        `the ${v.flags.store} store cannot be read: ${v.storeError}`,
        'every node learns its peers from the store: while it is unreachable no lease is renewed or seen',
        v.flags.store === 'etcd'
          ? `check --etcd-endpoints (${v.flags.etcdEndpoints.join(',')}), the TLS files and that etcd is up (etcdctl endpoint health)`
          : `check --store-dir (${v.flags.storeDir}); every node must share that directory`,
      ),
    );
  if (v.configError)
    out.push(
      problem(
        'config',
        `no usable network config: ${v.configError}`,
        'without the config (Network, SubnetLen, Backend) a node cannot start',
        v.flags.netConfigPath
          ? `fix ${v.flags.netConfigPath}`
          : `write it: etcdctl put ${v.flags.etcdPrefix}/config '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}'`,
      ),
    );
  if (v.extError)
    out.push(
      problem(
        'config',
        `no external interface: ${v.extError}`,
        'the interface decides the public IP in the lease and the MTU',
        "give doctor the node's --iface / --iface-regex / --iface-can-reach / --public-ip",
      ),
    );
  if (v.flags.storeFrom === 'default' && !kubeMode(v.flags))
    out.push(
      note(
        'config',
        `no store flag was given, so doctor looked in weft's embedded store at ${v.flags.storeDir}`,
        'flanneld has only etcd and would read it at the default endpoints; doctor must read the store the node uses',
        "pass the node's own flags: --etcd-endpoints (or FLANNELD_ETCD_ENDPOINTS) for etcd, --store-dir for weft's embedded store",
      ),
    );
  if (!out.some((f) => f.status === 'problem') && v.config)
    out.push({
      check: 'config',
      status: 'ok',
      summary: `config from ${v.configSource}: ${v.config.backend.type} backend, ${v.leases?.length ?? 0} leases; interface ${v.ext?.name} (${v.ext?.publicIp}); node runs ${v.flavor}`,
    });
  return out;
}

async function readWeftMac(v: NodeView): Promise<string | null> {
  if (v.flavor !== 'weft-vxlan' || !v.dev || !v.ext) return null;
  try {
    return (await readFile(vtepStateFile(v.flags.vtepStateDir, v.dev, v.ext.publicIp), 'utf8'))
      .trim()
      .toLowerCase();
  } catch {
    return null;
  }
}

async function clockReading(v: NodeView): Promise<{ reading: ClockReading | null; error: string | null }> {
  try {
    if (v.store?.kind === 'embedded') return { reading: await measureFsSkew(v.flags.storeDir), error: null };
    if (v.store?.kind === 'etcd') {
      const f = v.flags;
      let last = '';
      for (const ep of f.etcdEndpoints) {
        try {
          return {
            reading: await measureHttpSkew(ep, {
              key: f.etcdKeyfile,
              cert: f.etcdCertfile,
              ca: f.etcdCafile,
            }),
            error: null,
          };
        } catch (e) {
          last = (e as Error).message;
        }
      }
      return { reading: null, error: last };
    }
    return { reading: null, error: null };
  } catch (e) {
    return { reading: null, error: (e as Error).message };
  }
}

/** runDoctor checks the node the flags describe. */
export async function runDoctor(flags: WeftFlags, o: DoctorOptions): Promise<DoctorReport> {
  const v = await gatherNodeView(flags);
  try {
    const findings: Finding[] = [...configFindings(v)];
    findings.push(...checkMtu(v));
    findings.push(...checkSubnet(v));
    if (kubeMode(flags)) {
      try {
        const k = await kubeAccess(v.store);
        findings.push(...(await checkPodCidr(v, true, k?.nodeName ?? '', k?.reader ?? null)));
      } catch (e) {
        findings.push(skipped('podcidr', `cannot find this node in the API: ${(e as Error).message}`));
      }
    } else findings.push(...(await checkPodCidr(v, false, '', null)));
    findings.push(...checkPeers(v, await readWeftMac(v)));
    findings.push(...(await checkIptables(v, await readSysctl('net.ipv4.ip_forward'))));
    if (o.probe) findings.push(...(await checkReach(v, o.timeoutMs, o.probes ?? REAL_PROBES)));
    else findings.push({ check: 'reach', status: 'skipped', summary: 'probes off (--probe=false)' });
    const [under, dev] = await Promise.all([
      v.ext ? readOffloads(v.ext.name) : Promise.resolve(null),
      v.flavor === 'kernel-vxlan' && v.dev ? readOffloads(v.dev) : Promise.resolve(null),
    ]);
    findings.push(...checkOffload(v, under, dev));
    const clock = await clockReading(v);
    findings.push(...checkClock(v, clock.reading, clock.error));
    return {
      node: {
        flavor: v.flavor,
        store: v.store?.kind ?? flags.store,
        config: v.configSource,
        iface: v.ext?.name ?? null,
        publicIp: v.ext?.publicIp ?? null,
        lease: v.ownLease?.key ?? null,
        dev: v.dev,
        peers: v.peers.length,
      },
      findings,
    };
  } finally {
    await v.store?.close().catch(() => {});
  }
}
