/**
 * kube-nodes: how `weft doctor` reads this node's Node object in Kubernetes mode. With
 * `--kube-subnet-mgr`, openStore returns the Kubernetes-backed store (src/control/kube/kube-store.ts),
 * which already knows flanneld's node-name rule (`NODE_NAME`, else the `spec.nodeName` of pod
 * `POD_NAMESPACE/POD_NAME`) and has the API client. Doctor uses that store through the two methods
 * it needs, found on the object itself, so this module depends on no particular client file and
 * a build without Kubernetes support simply reports the check as skipped.
 */
import type { WeftFlags } from '../control';
import type { LeaseStore } from '../control';
import type { KubeNodeSpec, NodeReader } from './checks/podcidr';

/** NodeStore is the part of the Kubernetes store doctor uses. */
interface NodeStore {
  nodeName(): Promise<string>;
  getNode(name: string): Promise<{ spec?: KubeNodeSpec }>;
}

function isNodeStore(s: unknown): s is NodeStore {
  const o = s as Partial<NodeStore> | null;
  return !!o && typeof o.nodeName === 'function' && typeof o.getNode === 'function';
}

/** kubeMode tells whether the flags select flanneld's Kubernetes subnet manager. */
export function kubeMode(flags: WeftFlags): boolean {
  return (flags as unknown as { kubeSubnetMgr?: unknown }).kubeSubnetMgr === true;
}

/** KubeAccess is the node name (or why there is none) and a reader of Nodes. */
export interface KubeAccess {
  /** The node's name; '' when NODE_NAME (or POD_NAME/POD_NAMESPACE) is missing. */
  readonly nodeName: string;
  readonly reader: NodeReader;
}

/**
 * kubeAccess returns the node name and a reader over `store`, or null when the store has no
 * Kubernetes client. A 404 from the API reads as "no such Node".
 */
export async function kubeAccess(store: LeaseStore | null): Promise<KubeAccess | null> {
  if (!isNodeStore(store)) return null;
  let nodeName = '';
  try {
    nodeName = await store.nodeName();
  } catch (e) {
    // A missing NODE_NAME is a finding of its own (checkPodCidr); other errors reach the reader.
    if ((e as { field?: string }).field !== 'NODE_NAME') throw e;
  }
  return {
    nodeName,
    reader: {
      async readNode(name) {
        try {
          return (await store.getNode(name)).spec ?? {};
        } catch (e) {
          if ((e as { status?: number }).status === 404) return null;
          throw e;
        }
      },
    },
  };
}
