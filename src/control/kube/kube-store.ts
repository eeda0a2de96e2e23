/**
 * kube-store: the Kubernetes API as a LeaseStore, so `weft run --kube-subnet-mgr` runs the same
 * daemon, dataplane, subnet.env, iptables and metrics as the etcd and embedded stores
 * (flannel `pkg/subnet/kube/kube.go`: the node informer and its event handlers).
 *
 * Peers are Node objects: every node annotated `<prefix>/kube-subnet-manager: "true"` whose
 * `public-ip` parses becomes a lease (key `10.244.1.0-24` from its podCIDR; see annotations.ts).
 * Watching follows client-go's reflector: LIST, then WATCH from the list's resourceVersion with
 * bookmarks; `410 Gone` (the resourceVersion was compacted) relists and delivers a snapshot; a
 * dropped connection or a stopped API server is retried (1 s .. 5 s backoff) from the last
 * resourceVersion, delivering nothing meanwhile, so the daemon keeps its last routes. An update
 * is delivered only when backend-data, backend-type or public-ip changed (flannel's filter).
 * Our own node is never delivered as an event (flannel's LeaseWatcher drops it); listings and
 * snapshots carry our own lease as the manager acquired it, so the daemon's own-lease checks hold.
 *
 * Leases are not written through this store: the kube lease manager (kube-lease-manager.ts)
 * annotates our Node instead, so createLease/updateLease/deleteLease throw LeaseError.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, KubeApiError, LeaseError, StoreError } from '../../errors';
import { Lease } from '../lease';
import { LeaseEvent, LeaseListing, LeaseStore, LeaseWatchResult } from '../store';
import {
  Annotations,
  KubeNode,
  annotationKeys,
  isManaged,
  nodeToLease,
  peerFieldsChanged,
} from './annotations';
import { KubeClient } from './client';

/** KubeStoreOptions configures a KubeStore. */
export interface KubeStoreOptions {
  readonly client: KubeClient;
  /** `--kube-annotation-prefix`. */
  readonly prefix: string;
  /** Where NODE_NAME, POD_NAME and POD_NAMESPACE are read (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Diagnostics (skipped nodes, watch restarts). */
  readonly warn?: (msg: string) => void;
  /** Server-side watch timeout in seconds (client-go picks 5-10 min). */
  readonly watchTimeoutSeconds?: number;
}

interface NodeList {
  readonly metadata: { readonly resourceVersion: string };
  readonly items: KubeNode[];
}

/** KubeStore is the kube subnet manager's view of the cluster; see the module comment. */
export class KubeStore implements LeaseStore {
  readonly kind = 'kube' as const;
  readonly client: KubeClient;
  readonly annotations: Annotations;
  readonly prefix: string;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly warn: (msg: string) => void;
  private name: string | null = null;
  private ownLease: Lease | null = null;
  /** Last seen object per node name (the informer's cache), for the update filter. */
  private readonly nodes = new Map<string, KubeNode>();
  private readonly closed = new AbortController();

  constructor(private readonly o: KubeStoreOptions) {
    this.client = o.client;
    this.prefix = o.prefix;
    this.annotations = annotationKeys(o.prefix);
    this.env = o.env ?? process.env;
    this.warn = o.warn ?? (() => {});
  }

  /**
   * nodeName is flannel's: `NODE_NAME`, else the `spec.nodeName` of pod `POD_NAMESPACE/POD_NAME`.
   * Transport errors are StoreErrors (retried by the daemon); the rest name what is missing.
   */
  async nodeName(): Promise<string> {
    if (this.name !== null) return this.name;
    const direct = this.env.NODE_NAME ?? '';
    if (direct !== '') return (this.name = direct);
    const pod = this.env.POD_NAME ?? '';
    const ns = this.env.POD_NAMESPACE ?? '';
    if (pod === '' || ns === '') {
      throw new ConfigError(
        'NODE_NAME',
        'must be set, or POD_NAME and POD_NAMESPACE of the pod weft runs in',
        'env variables POD_NAME and POD_NAMESPACE must be set',
      );
    }
    let p: { spec?: { nodeName?: string } };
    try {
      p = await this.client.get(
        `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(pod)}`,
      );
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw new LeaseError(`error retrieving pod spec for '${ns}/${pod}': ${(e as Error).message}`, {
        cause: e,
      });
    }
    const n = p.spec?.nodeName ?? '';
    if (n === '') throw new LeaseError(`node name not present in pod spec '${ns}/${pod}'`);
    return (this.name = n);
  }

  /** getNode GETs one Node. */
  getNode(name: string): Promise<KubeNode> {
    return this.client.get<KubeNode>(`/api/v1/nodes/${encodeURIComponent(name)}`);
  }

  /** patchNodeStatus sends a strategic-merge patch to `nodes/<name>/status` (what flannel's RBAC allows). */
  patchNodeStatus(name: string, body: string): Promise<KubeNode> {
    return this.client.patch<KubeNode>(`/api/v1/nodes/${encodeURIComponent(name)}/status`, body);
  }

  /** setOwnLease records our node and lease (see the module comment). */
  setOwnLease(name: string, lease: Lease): void {
    this.name = name;
    this.ownLease = lease;
  }

  getConfig(): Promise<string | null> {
    // kube mode reads net-conf.json from --net-config-path; there is no config in the API.
    return Promise.resolve(null);
  }

  setConfig(): Promise<void> {
    return Promise.reject(
      new LeaseError(
        'the kube subnet manager has no stored config: net-conf.json comes from --net-config-path',
      ),
    );
  }

  private noWrites(): Promise<never> {
    return Promise.reject(
      new LeaseError(
        "the kube subnet manager's leases are Node podCIDRs; they are not written through a store",
      ),
    );
  }

  createLease(): Promise<Lease> {
    return this.noWrites();
  }
  updateLease(): Promise<Lease> {
    return this.noWrites();
  }
  deleteLease(): Promise<void> {
    return this.noWrites();
  }

  /** toLease maps a node to its lease, or null (with a log line, as flannel) when it cannot be one. */
  private toLease(n: KubeNode): Lease | null {
    if (!isManaged(n, this.annotations)) return null;
    const l = nodeToLease(n, this.annotations);
    if ('error' in l) {
      this.warn(`Error turning node "${n.metadata.name}" to lease: ${l.error}`);
      return null;
    }
    return l;
  }

  private isOwn(n: KubeNode): boolean {
    return this.name !== null && n.metadata.name === this.name;
  }

  /** listLeases LISTs every node; leases of managed peers, plus ours once acquired. */
  async listLeases(): Promise<LeaseListing> {
    const list = await this.client.get<NodeList>('/api/v1/nodes');
    this.nodes.clear();
    const leases: Lease[] = [];
    for (const n of list.items) {
      this.nodes.set(n.metadata.name, n);
      if (this.isOwn(n)) continue;
      const l = this.toLease(n);
      if (l) leases.push(l);
    }
    if (this.ownLease) leases.push(this.ownLease);
    return { leases, cursor: list.metadata.resourceVersion };
  }

  /** watchLeases: see the module comment. Ends when `signal` aborts or the store closes. */
  async *watchLeases(cursor: string, signal?: AbortSignal): AsyncIterable<LeaseWatchResult> {
    const sig = signal ? AbortSignal.any([signal, this.closed.signal]) : this.closed.signal;
    let rv = cursor;
    let delay = 1000;
    while (!sig.aborted) {
      if (rv === '') {
        let listing: LeaseListing;
        try {
          listing = await this.listLeases();
        } catch (e) {
          if (!(e instanceof StoreError) || sig.aborted) throw e;
          this.warn(`could not list nodes; retrying in ${delay} ms: ${e.message}`);
          await sleep(delay, undefined, { signal: sig }).catch(() => undefined);
          delay = Math.min(delay * 2, 5000);
          continue;
        }
        rv = listing.cursor;
        yield { events: [], snapshot: listing.leases, cursor: rv };
      }
      const q =
        `/api/v1/nodes?allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(rv)}` +
        `&timeoutSeconds=${this.o.watchTimeoutSeconds ?? 300}`;
      try {
        for await (const ev of this.client.watch<KubeNode & KubeStatusLike>(q, sig)) {
          delay = 1000;
          if (ev.type === 'ERROR') {
            const st = ev.object as KubeStatusLike;
            if (st.code === 410) {
              // Our resourceVersion is too old (etcd compacted): relist.
              rv = '';
              break;
            }
            throw new StoreError(`node watch error: ${st.code ?? '?'} ${st.message ?? ''}`);
          }
          const n = ev.object as KubeNode;
          if (n.metadata?.resourceVersion) rv = n.metadata.resourceVersion;
          if (ev.type === 'BOOKMARK') continue;
          const events = this.apply(ev.type, n);
          if (events.length > 0) yield { events, cursor: rv };
        }
      } catch (e) {
        if (sig.aborted) return;
        if (e instanceof KubeApiError && e.status === 410) {
          rv = '';
          continue;
        }
        if (!(e instanceof StoreError)) throw e;
        this.warn(`node watch interrupted; resuming from resourceVersion ${rv} in ${delay} ms: ${e.message}`);
        await sleep(delay, undefined, { signal: sig }).catch(() => undefined);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** apply updates the node cache and returns the lease events flannel's handlers would send. */
  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', n: KubeNode): LeaseEvent[] {
    const name = n.metadata.name;
    const old = this.nodes.get(name);
    if (type === 'DELETED') {
      this.nodes.delete(name);
      if (this.isOwn(n)) return [];
      const l = this.toLease(n);
      return l ? [{ type: 'removed', lease: l }] : [];
    }
    this.nodes.set(name, n);
    if (this.isOwn(n)) return [];
    if (!isManaged(n, this.annotations)) return [];
    if (old && isManaged(old, this.annotations) && !peerFieldsChanged(old, n, this.annotations)) return [];
    const l = this.toLease(n);
    return l ? [{ type: 'added', lease: l }] : [];
  }

  async close(): Promise<void> {
    this.closed.abort();
    this.client.close();
  }
}

interface KubeStatusLike {
  readonly code?: number;
  readonly message?: string;
}
