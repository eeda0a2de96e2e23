/**
 * annotations: flannel's Node annotations, the kube subnet manager's "lease" format
 * (flannel `pkg/subnet/kube/annotations.go`, `kube.go` nodeToLease/AcquireLease/CompleteLease).
 *
 * Keys, for the default prefix `flannel.alpha.coreos.com`:
 *   flannel.alpha.coreos.com/backend-type          "vxlan" (udp: "")
 *   flannel.alpha.coreos.com/backend-data          raw JSON: {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"} (udp: null)
 *   flannel.alpha.coreos.com/public-ip             the node's public IP (or public-ip-overwrite's value)
 *   flannel.alpha.coreos.com/public-ip-overwrite   set by the operator: advertised instead of ours
 *   flannel.alpha.coreos.com/kube-subnet-manager   "true" marks a node as a flannel peer
 * A prefix without a slash gets `/` appended; one that ends in neither `/` nor `-` gets `-`
 * (`example.com/flannel` -> `example.com/flannel-backend-type`). The lease subnet is the node's
 * `spec.podCIDR`, or the first IPv4 entry of `spec.podCIDRs`.
 *
 * Patches are what client-go's CreateTwoWayMergePatch produces for an annotation-only change:
 * `{"metadata":{"annotations":{...}}}` with only the changed keys, sorted (Go marshals maps sorted),
 * strings escaped as Go's encoding/json escapes them.
 */

import { ipv4Mask, Ipv4Net, parseIpv4Cidr, parseIpv4 } from '../../net/addr';
import { Lease, LeaseAttrs, makeSubnetKey } from '../lease';

/** KUBE_ANNOTATION_PREFIX is flanneld's `--kube-annotation-prefix` default. */
export const KUBE_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';
/** KUBE_NET_CONFIG_PATH is flanneld's `--net-config-path` default (the kube-flannel ConfigMap). */
export const KUBE_NET_CONFIG_PATH = '/etc/kube-flannel/net-conf.json';

/** annotationPrefixRule is flannel's newAnnotations check: the broken rule, or null. */
export function annotationPrefixRule(prefix: string): string | null {
  return (prefix.match(/\//g) ?? []).length > 1 ? 'can contain at most a single slash' : null;
}

/** Annotations are the annotation keys for one prefix. */
export interface Annotations {
  readonly subnetKubeManaged: string;
  readonly backendData: string;
  readonly backendV6Data: string;
  readonly backendType: string;
  readonly backendPublicIp: string;
  readonly backendPublicIpv6: string;
  readonly backendPublicIpOverwrite: string;
  readonly backendPublicIpv6Overwrite: string;
}

/** annotationKeys is flannel's newAnnotations (the prefix must pass annotationPrefixRule). */
export function annotationKeys(prefix: string = KUBE_ANNOTATION_PREFIX): Annotations {
  let p = prefix;
  if (!p.includes('/')) p += '/';
  if (!p.endsWith('/') && !p.endsWith('-')) p += '-';
  return {
    subnetKubeManaged: p + 'kube-subnet-manager',
    backendData: p + 'backend-data',
    backendV6Data: p + 'backend-v6-data',
    backendType: p + 'backend-type',
    backendPublicIp: p + 'public-ip',
    backendPublicIpv6: p + 'public-ipv6',
    backendPublicIpOverwrite: p + 'public-ip-overwrite',
    backendPublicIpv6Overwrite: p + 'public-ipv6-overwrite',
  };
}

/** KubeNode is the part of a v1.Node the subnet manager reads. */
export interface KubeNode {
  readonly metadata: {
    readonly name: string;
    readonly resourceVersion?: string;
    readonly annotations?: Readonly<Record<string, string>> | null;
  };
  readonly spec?: { readonly podCIDR?: string; readonly podCIDRs?: readonly string[] | null } | null;
  readonly status?: {
    readonly conditions?: ReadonlyArray<{
      type: string;
      status: string;
      reason?: string;
      message?: string;
    }> | null;
  } | null;
}

/** annotationsOf returns a node's annotations ({} when it has none). */
export function annotationsOf(n: KubeNode): Readonly<Record<string, string>> {
  return n.metadata.annotations ?? {};
}

/** isManaged is flannel's check that a node runs a kube subnet manager. */
export function isManaged(n: KubeNode, a: Annotations): boolean {
  return annotationsOf(n)[a.subnetKubeManaged] === 'true';
}

/**
 * podCidrOf is nodeToLease's subnet: `spec.podCIDR` when `podCIDRs` is empty, else the first IPv4
 * entry of `podCIDRs` (more than two entries is an error). Returns the text, or an error string.
 */
export function podCidrOf(n: KubeNode): { cidr: Ipv4Net | null; text: string } | { error: string } {
  const list = n.spec?.podCIDRs ?? [];
  const name = n.metadata.name;
  if (list.length === 0) {
    const t = n.spec?.podCIDR ?? '';
    const c = parseIpv4Cidr(t);
    if (c === null) return { error: `invalid CIDR address: ${t}` };
    return { cidr: c, text: t };
  }
  if (list.length > 2) return { error: `node "${name}" pod cidrs should be IPv4/IPv6 only or dualstack` };
  for (const t of list) {
    const c = parseIpv4Cidr(t);
    if (c !== null) return { cidr: c, text: t };
  }
  return { cidr: null, text: '' };
}

/** parseBackendData is the raw annotation as lease BackendData: parsed JSON, or the raw text when not JSON. */
function parseBackendData(raw: string | undefined): unknown {
  if (raw === undefined || raw === '' || raw === 'null') return null;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/**
 * nodeToLease is flannel's nodeToLease (IPv4): the lease a peer node advertises, or an error text
 * (flannel logs `Error turning node %q to lease` and skips the node).
 */
export function nodeToLease(n: KubeNode, a: Annotations): Lease | { error: string } {
  const ann = annotationsOf(n);
  const pub = ann[a.backendPublicIp] ?? '';
  if (parseIpv4(pub) === null) return { error: `failed to parse IP address "${pub}"` };
  const c = podCidrOf(n);
  if ('error' in c) return c;
  if (c.cidr === null) return { error: `node "${n.metadata.name}" has no IPv4 pod CIDR` };
  const attrs: LeaseAttrs = {
    publicIp: pub,
    publicIpv6: null,
    backendType: ann[a.backendType] ?? '',
    backendData: parseBackendData(ann[a.backendData]),
    backendV6Data: null,
  };
  return { key: makeSubnetKey(c.cidr), subnet: c.cidr, ipv6Subnet: null, attrs, expiration: null };
}

/** peerFieldsChanged is flannel's update filter: backend-data, backend-type or public-ip differ. */
export function peerFieldsChanged(o: KubeNode | undefined, n: KubeNode, a: Annotations): boolean {
  if (!o) return true;
  const x = annotationsOf(o);
  const y = annotationsOf(n);
  return (
    x[a.backendData] !== y[a.backendData] ||
    x[a.backendType] !== y[a.backendType] ||
    x[a.backendPublicIp] !== y[a.backendPublicIp]
  );
}

/** backendDataText is the annotation text flannel writes for a lease's BackendData (RawMessage). */
export function backendDataText(data: unknown): string {
  return data === null || data === undefined ? 'null' : goJson(data);
}

/**
 * desiredAnnotations is AcquireLease's rewrite (IPv4): the values flannel stores on its own node,
 * or null when they are already there. vxlan's backend-data is written only when not `null`.
 */
export function desiredAnnotations(
  n: KubeNode,
  a: Annotations,
  attrs: LeaseAttrs,
): { set: Record<string, string>; overwrite: string | null } | null {
  const ann = annotationsOf(n);
  const bd = backendDataText(attrs.backendData);
  const overwrite = ann[a.backendPublicIpOverwrite] ?? '';
  const stale =
    ann[a.backendData] !== bd ||
    ann[a.backendType] !== attrs.backendType ||
    ann[a.backendPublicIp] !== attrs.publicIp ||
    ann[a.subnetKubeManaged] !== 'true' ||
    (overwrite !== '' && overwrite !== attrs.publicIp);
  if (!stale) return null;
  const want: Record<string, string> = { ...ann };
  want[a.backendType] = attrs.backendType;
  if ((attrs.backendType === 'vxlan' && bd !== 'null') || attrs.backendType !== 'vxlan') {
    want[a.backendData] = bd;
    want[a.backendPublicIp] = overwrite !== '' ? overwrite : attrs.publicIp;
  }
  want[a.subnetKubeManaged] = 'true';
  const set: Record<string, string> = {};
  for (const k of Object.keys(want).sort()) if (ann[k] !== want[k]) set[k] = want[k]!;
  return { set, overwrite: overwrite !== '' ? overwrite : null };
}

/** annotationPatch is the strategic-merge patch body for `set` (keys sorted, Go's escaping). */
export function annotationPatch(set: Readonly<Record<string, string>>): string {
  const body = Object.keys(set)
    .sort()
    .map((k) => `${goJson(k)}:${goJson(set[k])}`)
    .join(',');
  return `{"metadata":{"annotations":{${body}}}}`;
}

/** goTime is metav1.Time's JSON form: RFC 3339 in UTC, whole seconds. */
export function goTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** networkUnavailablePatch is CompleteLease's status patch (NetworkUnavailable=False, FlannelIsUp). */
export function networkUnavailablePatch(now: Date): string {
  const t = goTime(now);
  return (
    `{"status":{"conditions":[{"type":"NetworkUnavailable","status":"False",` +
    `"lastHeartbeatTime":"${t}","lastTransitionTime":"${t}",` +
    `"reason":"FlannelIsUp","message":"Flannel is running on this node"}]}}`
  );
}

/** storedVtepMac is GetStoredMacAddresses (IPv4): the VtepMAC in our node's backend-data, or null. */
export function storedVtepMac(n: KubeNode, prefix: string): string | null {
  // flannel builds the key as prefix + "/backend-data" (a prefix with its own slash never matches).
  const raw = annotationsOf(n)[`${prefix}/backend-data`];
  if (raw === undefined) return null;
  try {
    const v = JSON.parse(raw) as { VtepMAC?: unknown };
    return typeof v?.VtepMAC === 'string' ? v.VtepMAC : null;
  } catch {
    return null;
  }
}

/** cidrContains is flannel's containsCIDR: `inner` lies inside `outer`. */
export function cidrContains(outer: Ipv4Net, inner: Ipv4Net): boolean {
  return inner.prefixLen >= outer.prefixLen && (inner.ip & ipv4Mask(outer.prefixLen)) >>> 0 === outer.ip;
}

/** Go's encoding/json escapes <, > and & (and U+2028/9) in strings; JSON.stringify does not. */
function goJson(v: unknown): string {
  return JSON.stringify(v).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
