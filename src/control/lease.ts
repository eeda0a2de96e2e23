/**
 * lease: flannel's subnet lease — the store key naming a subnet and the JSON value describing the
 * node that holds it (flannel `pkg/lease/lease.go` LeaseAttrs, `pkg/subnet/subnet.go` MakeSubnetKey).
 *
 * Encoding is byte-for-byte what flannel's Go json.Marshal writes: keys in struct order
 * `PublicIP`, `PublicIPv6` (always present, `null` when unset), `BackendType`, `BackendData`,
 * `BackendV6Data` (the last three omitted when empty). Decoding is Go-tolerant: keys match
 * case-insensitively, unknown keys are ignored, older forms without `PublicIPv6` or `VNI` are
 * accepted. Values come from the store and are untrusted: any input yields a lease or a
 * FormatError, never a crash.
 */

import { FormatError } from '../errors';
import {
  Ipv4Net,
  Ipv6Net,
  u32ToIpv4,
  formatIpv6,
  ipv4Mask,
  ipv6Mask,
  ipv4NetToString,
  ipv6NetToString,
  parseIpv4,
  parseIpv6,
} from '../net/addr';

/** LeaseAttrs is the lease value: who holds the subnet and how to reach it. */
export interface LeaseAttrs {
  /** Underlay IPv4 of the node, dotted quad. */
  readonly publicIp: string;
  /** Underlay IPv6 of the node, or null (flannel writes `"PublicIPv6":null`). */
  readonly publicIpv6: string | null;
  /** `vxlan`, `udp` leases have none (empty string), other flannel backends their own name. */
  readonly backendType: string;
  /** Backend-specific JSON value as parsed (vxlan: `{VNI, VtepMAC}`), or null when absent. */
  readonly backendData: unknown;
  /** Backend data for the IPv6 side (vxlan: the flannel-v6 device's `{VNI, VtepMAC}`), or null. */
  readonly backendV6Data: unknown;
}

/** Lease is one subnet lease as read from (or written to) the store. */
export interface Lease {
  /** The store key under `<prefix>/subnets/`, e.g. `10.244.1.0-24`. */
  readonly key: string;
  /** The IPv4 subnet, or null for an IPv6-only lease. */
  readonly subnet: Ipv4Net | null;
  /** The IPv6 subnet, or null. */
  readonly ipv6Subnet: Ipv6Net | null;
  readonly attrs: LeaseAttrs;
  /** When the lease expires, or null when the store reports no expiry. */
  readonly expiration: Date | null;
}

/** VxlanBackendData is the vxlan backend's lease data. */
export interface VxlanBackendData {
  /** VNI the node uses; null in leases from flannel < v0.14 (receivers ignore it anyway). */
  readonly vni: number | null;
  /** VTEP MAC, lower-case colon form. */
  readonly vtepMac: string;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** normalizeMac returns the lower-case colon form of a 6-byte MAC (accepting `-` too), or null. */
export function normalizeMac(s: string): string | null {
  const m = s.toLowerCase().replace(/-/g, ':');
  return MAC_RE.test(m) ? m : null;
}

/** vxlanLeaseData builds BackendData for a vxlan lease, keys in flannel's order. */
export function vxlanLeaseData(vni: number, vtepMac: string): { VNI: number; VtepMAC: string } {
  const mac = normalizeMac(vtepMac);
  if (mac === null) throw new FormatError(`bad VTEP MAC "${vtepMac}"`);
  return { VNI: vni, VtepMAC: mac };
}

/** Go's encoding/json escapes <, > and & in strings; JSON.stringify does not. */
function goJson(v: unknown): string {
  return JSON.stringify(v).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** encodeLeaseAttrs writes the lease value exactly as flannel's json.Marshal(LeaseAttrs) does. */
export function encodeLeaseAttrs(a: LeaseAttrs): string {
  let s = `{"PublicIP":${goJson(a.publicIp)},"PublicIPv6":${a.publicIpv6 === null ? 'null' : goJson(a.publicIpv6)}`;
  if (a.backendType !== '') s += `,"BackendType":${goJson(a.backendType)}`;
  if (a.backendData !== null && a.backendData !== undefined) s += `,"BackendData":${goJson(a.backendData)}`;
  if (a.backendV6Data !== null && a.backendV6Data !== undefined)
    s += `,"BackendV6Data":${goJson(a.backendV6Data)}`;
  return s + '}';
}

function ciField(obj: Record<string, unknown>, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** decodeLeaseAttrs parses a lease value; throws FormatError on anything flannel could not use. */
export function decodeLeaseAttrs(text: string | Buffer): LeaseAttrs {
  let v: unknown;
  try {
    v = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch {
    throw new FormatError('lease value is not valid JSON');
  }
  if (!isObject(v)) throw new FormatError('lease value is not a JSON object');
  const pub = ciField(v, 'PublicIP');
  if (typeof pub !== 'string' || parseIpv4(pub) === null)
    throw new FormatError('lease PublicIP is not an IPv4 address');
  const pub6 = ciField(v, 'PublicIPv6');
  if (pub6 !== undefined && pub6 !== null && (typeof pub6 !== 'string' || parseIpv6(pub6) === null)) {
    throw new FormatError('lease PublicIPv6 is not an IPv6 address');
  }
  const bt = ciField(v, 'BackendType');
  if (bt !== undefined && bt !== null && typeof bt !== 'string')
    throw new FormatError('lease BackendType is not a string');
  const bd = ciField(v, 'BackendData');
  const bd6 = ciField(v, 'BackendV6Data');
  return {
    publicIp: u32ToIpv4(parseIpv4(pub)!),
    publicIpv6: typeof pub6 === 'string' ? formatIpv6(parseIpv6(pub6)!) : null,
    backendType: typeof bt === 'string' ? bt : '',
    backendData: bd === undefined ? null : bd,
    backendV6Data: bd6 === undefined ? null : bd6,
  };
}

/**
 * vxlanDataOf reads a vxlan BackendData value (or BackendV6Data); null when it is absent or
 * unusable (no valid VtepMAC). A missing or bad VNI is tolerated, as flannel receivers ignore it.
 */
export function vxlanDataOf(data: unknown): VxlanBackendData | null {
  if (!isObject(data)) return null;
  const mac = ciField(data, 'VtepMAC');
  if (typeof mac !== 'string') return null;
  const norm = normalizeMac(mac);
  if (norm === null) return null;
  const vni = ciField(data, 'VNI');
  return {
    vni: typeof vni === 'number' && Number.isInteger(vni) && vni >= 0 && vni <= 0xffffff ? vni : null,
    vtepMac: norm,
  };
}

/** makeSubnetKey names a lease: `10.244.1.0-24`, dual stack `10.244.1.0-24&fd00:1::-64`. */
export function makeSubnetKey(sn: Ipv4Net | null, sn6: Ipv6Net | null = null): string {
  // flannel prints an empty IP4Net as 0.0.0.0-0 for IPv6-only leases.
  const v4 = sn ? `${u32ToIpv4(sn.ip)}-${sn.prefixLen}` : '0.0.0.0-0';
  return sn6 ? `${v4}&${formatIpv6(sn6.ip)}-${sn6.prefixLen}` : v4;
}

/** flannel's parse regex, unanchored at the start so it applies to a whole key path too. */
const SUBNET_KEY_RE = /(\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/**
 * parseSubnetKey reads a key (or a full key path) back into its subnets; null when it does not
 * match flannel's pattern or names a network with host bits set (flannel skips such keys).
 */
export function parseSubnetKey(key: string): { subnet: Ipv4Net | null; ipv6Subnet: Ipv6Net | null } | null {
  const m = SUBNET_KEY_RE.exec(key);
  if (!m) return null;
  const ip = parseIpv4(m[1]!);
  const len = Number(m[2]);
  if (ip === null || m[2]!.length > 2 || len > 32) return null;
  if ((ip & ipv4Mask(len)) >>> 0 !== ip) return null;
  const subnet = ip === 0 && len === 0 ? null : { ip, prefixLen: len };
  let ipv6Subnet: Ipv6Net | null = null;
  if (m[3] !== undefined) {
    const ip6 = parseIpv6(m[3]);
    const len6 = Number(m[4]);
    if (ip6 === null || m[4]!.length > 3 || len6 > 128) return null;
    if ((ip6 & ipv6Mask(len6)) !== ip6) return null;
    ipv6Subnet = { ip: ip6, prefixLen: len6 };
  }
  if (subnet === null && ipv6Subnet === null) return null;
  return { subnet, ipv6Subnet };
}

/** leaseFromKeyValue builds a Lease from a store key and value; throws FormatError when unusable. */
export function leaseFromKeyValue(key: string, value: string | Buffer, expiration: Date | null): Lease {
  const nets = parseSubnetKey(key);
  if (nets === null) throw new FormatError(`"${key}" is not a subnet key`);
  const name = key.slice(key.lastIndexOf('/') + 1);
  return {
    key: name,
    subnet: nets.subnet,
    ipv6Subnet: nets.ipv6Subnet,
    attrs: decodeLeaseAttrs(value),
    expiration,
  };
}

/** describeLease is a one-line summary for logs: `10.244.1.0/24 via 192.0.2.3 (vxlan)`. */
export function describeLease(l: Lease): string {
  const nets = [l.subnet && ipv4NetToString(l.subnet), l.ipv6Subnet && ipv6NetToString(l.ipv6Subnet)]
    .filter(Boolean)
    .join(',');
  return `${nets} via ${l.attrs.publicIp} (${l.attrs.backendType || 'udp'})`;
}
