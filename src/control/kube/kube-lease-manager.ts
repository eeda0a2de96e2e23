/**
 * kube-lease-manager: this node's lease in kube mode (flannel `pkg/subnet/kube/kube.go`
 * AcquireLease and CompleteLease).
 *
 * acquire():
 *   1. find our Node (NODE_NAME, or the pod's spec.nodeName), polling every 3 s for up to 30 s
 *      while it does not exist yet (`timeout contacting kube-api, failed to patch node "<n>"`);
 *   2. an empty `spec.podCIDR` is flannel's `node "<n>" pod cidr not assigned`, with the fix;
 *   3. the lease subnet is the podCIDR (first IPv4 of podCIDRs); it must lie inside Network
 *      (checked before anything is written, so a misassigned node does not advertise itself);
 *   4. if any of flannel's annotations differ, one strategic-merge PATCH on `nodes/<n>/status`
 *      with only the changed keys (retried every 3 s for 30 s on transport errors);
 *   5. the lease expires in 24 h and is never renewed (flannel's RenewLease is unimplemented).
 * startRenewal() (after subnet.env is written) is CompleteLease: with
 * `--set-node-network-unavailable`, the NodeNetworkUnavailable condition is set to False
 * (reason FlannelIsUp); a failure is logged, as flanneld logs it.
 * RBAC refusals (403) are not retried: the KubeApiError names the verb and path.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, KubeApiError, LeaseError, StoreError } from '../../errors';
import { ipv4NetToString } from '../../net/addr';
import { Lease, LeaseAttrs, makeSubnetKey } from '../lease';
import { ControlLog } from '../lease-manager';
import { LeaseHolder } from '../lease-holder';
import { NetworkConfig } from '../net-config';
import { SUBNET_TTL_SECONDS } from '../store';
import {
  KubeNode,
  annotationPatch,
  cidrContains,
  desiredAnnotations,
  networkUnavailablePatch,
  podCidrOf,
} from './annotations';
import { KubeStore } from './kube-store';

/** KubeLeaseManagerOptions configures a KubeLeaseManager. */
export interface KubeLeaseManagerOptions {
  readonly store: KubeStore;
  readonly config: NetworkConfig;
  readonly attrs: LeaseAttrs;
  /** `--set-node-network-unavailable` (default true). */
  readonly setNodeNetworkUnavailable: boolean;
  readonly log?: ControlLog;
  /** flannel's poll interval and timeout (3 s, 30 s). */
  readonly pollMs?: number;
  readonly timeoutMs?: number;
}

/** podCidrFix is the seed FAQ's advice for an unassigned podCIDR. */
export function podCidrFix(node: string): string {
  return (
    `assign one with: kubectl patch node ${node} -p '{"spec":{"podCIDR":"<SUBNET>"}}' ` +
    '(a /24 inside Network, unused by other nodes), or run kube-controller-manager with ' +
    '--allocate-node-cidrs=true --cluster-cidr=<Network>'
  );
}

/** KubeLeaseManager holds this node's podCIDR lease; see the module comment. */
export class KubeLeaseManager implements LeaseHolder {
  private current: Lease | null = null;
  private stopped = false;
  private completing: Promise<void> = Promise.resolve();
  private readonly log: ControlLog;
  onRenewed: (l: Lease) => void = () => {};
  onRenewError: (e: unknown) => void = () => {};

  constructor(private readonly o: KubeLeaseManagerOptions) {
    this.log = o.log ?? (() => {});
  }

  get lease(): Lease | null {
    return this.current;
  }

  /** poll runs `fn` every pollMs until it succeeds or timeoutMs passes; 403 and non-transport errors end it. */
  private async poll<T>(what: string, retryable: (e: unknown) => boolean, fn: () => Promise<T>): Promise<T> {
    const every = this.o.pollMs ?? 3000;
    const end = Date.now() + (this.o.timeoutMs ?? 30_000);
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!retryable(e) || this.stopped) throw e;
        if (Date.now() + every > end) throw e;
        this.log('warn', `${what}; retrying`, { error: (e as Error).message, retryInMs: every });
        await sleep(every);
      }
    }
  }

  async acquire(): Promise<Lease> {
    const { store, config, attrs } = this.o;
    const name = await store.nodeName();
    let node: KubeNode;
    try {
      node = await this.poll(
        `failed to get node "${name}"`,
        (e) => e instanceof StoreError || (e instanceof KubeApiError && e.status === 404),
        () => store.getNode(name),
      );
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) {
        throw new LeaseError(
          `timeout contacting kube-api, failed to patch node "${name}". Error: ${e.message}`,
          {
            cause: e,
          },
        );
      }
      throw e;
    }
    if ((node.spec?.podCIDR ?? '') === '') {
      throw new LeaseError(`node "${name}" pod cidr not assigned; ${podCidrFix(name)}`);
    }
    const c = podCidrOf(node);
    if ('error' in c) throw new LeaseError(`node "${name}": ${c.error}`);
    if (c.cidr === null)
      throw new LeaseError(
        `node "${name}" has no IPv4 pod CIDR (podCIDRs ${node.spec?.podCIDRs?.join(',')})`,
      );
    const network = config.network!;
    if (!cidrContains(network, c.cidr)) {
      throw new ConfigError(
        `node "${name}" spec.podCIDR`,
        `must lie inside the net-conf.json Network ${ipv4NetToString(network)}`,
        `subnet "${ipv4NetToString(network)}" specified in the flannel net config doesn't contain "${ipv4NetToString(c.cidr)}" PodCIDR of the "${name}" node`,
      );
    }
    const want = desiredAnnotations(node, store.annotations, attrs);
    if (want && Object.keys(want.set).length > 0) {
      if (want.overwrite !== null) {
        this.log(
          'info',
          `Overriding public ip with '${want.overwrite}' from node annotation '${store.annotations.backendPublicIpOverwrite}'`,
        );
      }
      const body = annotationPatch(want.set);
      await this.poll(
        `Failed to patch node "${name}"`,
        (e) => e instanceof StoreError,
        () => store.patchNodeStatus(name, body),
      );
      this.log('info', 'annotated our node', { node: name, annotations: want.set });
    }
    const lease: Lease = {
      key: makeSubnetKey(c.cidr),
      subnet: c.cidr,
      ipv6Subnet: null,
      attrs,
      expiration: new Date(Date.now() + SUBNET_TTL_SECONDS * 1000),
    };
    store.setOwnLease(name, lease);
    return (this.current = lease);
  }

  /** startRenewal is CompleteLease (see the module comment); there is no renewal in kube mode. */
  startRenewal(): void {
    if (!this.o.setNodeNetworkUnavailable || this.current === null) return;
    const { store } = this.o;
    this.completing = (async () => {
      const name = await store.nodeName();
      try {
        await store.patchNodeStatus(name, networkUnavailablePatch(new Date()));
        this.log('info', 'Setting NodeNetworkUnavailable', {
          node: name,
          status: 'False',
          reason: 'FlannelIsUp',
        });
      } catch (e) {
        this.log('error', `CompleteLease execute error err: ${(e as Error).message}`, { node: name });
      }
    })();
  }

  /** completed resolves when startRenewal's status patch finished (for tests). */
  completed(): Promise<void> {
    return this.completing;
  }

  stop(): void {
    this.stopped = true;
  }
}
