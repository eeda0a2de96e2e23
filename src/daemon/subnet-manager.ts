/**
 * subnet-manager: the daemon's choice of subnet manager, flanneld's `newSubnetManager`: the
 * store-backed LeaseManager (etcd, embedded), or with `--kube-subnet-mgr` the Kubernetes one
 * (KubeLeaseManager over the KubeStore that openStore built). Also where the VTEP MAC comes from:
 * in kube mode our Node's stored backend-data first (flannel's GetStoredMacAddresses), so a
 * restart keeps the MAC even on a fresh state directory; otherwise weft's state file.
 */
import type { WeftFlags } from '../control/flags';
import { KubeLeaseManager } from '../control/kube/kube-lease-manager';
import { KubeStore } from '../control/kube/kube-store';
import { storedVtepMac } from '../control/kube/annotations';
import { normalizeMac } from '../control/lease';
import { LeaseManager, LeaseManagerOptions } from '../control/lease-manager';
import type { LeaseHolder } from '../control/lease-holder';
import type { LeaseStore } from '../control/store';
import { CountingStore } from './counting-store';
import { loadOrCreateVtepMac } from './vtep-state';

/** kubeStoreOf returns the KubeStore behind `store` (unwrapping CountingStore), or null. */
export function kubeStoreOf(store: LeaseStore): KubeStore | null {
  const inner = store instanceof CountingStore ? store.inner : store;
  return inner instanceof KubeStore ? inner : null;
}

/** newLeaseHolder builds the lease holder for `opts.store`'s kind. */
export function newLeaseHolder(
  opts: LeaseManagerOptions,
  flags: Pick<WeftFlags, 'setNodeNetworkUnavailable'>,
): LeaseHolder {
  const kube = kubeStoreOf(opts.store);
  if (!kube) return new LeaseManager(opts);
  return new KubeLeaseManager({
    store: kube,
    config: opts.config,
    attrs: opts.attrs,
    setNodeNetworkUnavailable: flags.setNodeNetworkUnavailable,
    log: opts.log,
  });
}

/** VtepMacChoice is the MAC to use and where it came from. */
export interface VtepMacChoice {
  readonly mac: string;
  readonly created: boolean;
  /** The state file, or `node <name> annotation <key>`. */
  readonly file: string;
}

/**
 * vtepMacFor picks the VTEP MAC: in kube mode the one our Node's backend-data annotation holds
 * (errors reading the Node are logged and fall through, as flannel's), else the state file's.
 */
export async function vtepMacFor(
  store: LeaseStore,
  stateDir: string,
  dev: string,
  publicIp: string,
  warn: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<VtepMacChoice> {
  const kube = kubeStoreOf(store);
  if (kube) {
    try {
      const name = await kube.nodeName();
      const mac = storedVtepMac(await kube.getNode(name), kube.prefix);
      const norm = mac === null ? null : normalizeMac(mac);
      if (norm !== null && (parseInt(norm.slice(0, 2), 16) & 1) === 0) {
        return { mac: norm, created: false, file: `node ${name} annotation ${kube.prefix}/backend-data` };
      }
    } catch (e) {
      warn('failed to read the stored VTEP MAC from our node; using the state file', {
        error: (e as Error).message,
      });
    }
  }
  return loadOrCreateVtepMac(stateDir, dev, publicIp);
}
