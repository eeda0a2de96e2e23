/**
 * net-config: flannel's network configuration JSON (`<prefix>/config` in the store, or the file
 * given with `--net-config-path`), parsed and validated with flannel's defaults and rules.
 *
 * Sources: flannel `pkg/subnet/config.go` (Config, CheckNetworkConfig), `pkg/backend/manager.go`
 * (Type lower-cased), `pkg/backend/vxlan/vxlan.go` (VXLANConfig), `pkg/backend/udp/udp_amd64.go`,
 * `pkg/backend/hostgw/hostgw.go` (no options).
 * Keys match case-insensitively and unknown keys are ignored, as Go's encoding/json does.
 * Where flannel is silent weft adds checks (SubnetMin <= SubnetMax, port ranges, VNI 24-bit) so
 * a bad config fails at startup with a ConfigError naming the field, never later on the wire.
 */

import { ConfigError } from '../errors';
import { UDP_OVERHEAD, VXLAN_OVERHEAD } from '../encap/constants';
import {
  Ipv4Net,
  Ipv6Net,
  u32ToIpv4,
  formatIpv6,
  ipv4Mask,
  ipv6Mask,
  parseIpv4,
  parseIpv6,
  parseIpv4Cidr,
  parseIpv6Cidr,
} from '../net/addr';

/** DEFAULT_VXLAN_PORT is the Linux kernel's VXLAN default, used when `Backend.Port` is 0. */
export const DEFAULT_VXLAN_PORT = 8472;
/** DEFAULT_UDP_PORT is flannel's udp backend default port. */
export const DEFAULT_UDP_PORT = 8285;
/** DEFAULT_VNI is flannel's vxlan default VNI. */
export const DEFAULT_VNI = 1;
/** MAX_VNI is the largest 24-bit VNI (RFC 7348 §5). */
export const MAX_VNI = 0xffffff;
/** VXLAN_MTU_OVERHEAD = outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14): VXLAN_OVERHEAD. */
export const VXLAN_MTU_OVERHEAD = VXLAN_OVERHEAD;
/** UDP_MTU_OVERHEAD = outer IPv4 (20) + UDP (8): UDP_OVERHEAD. */
export const UDP_MTU_OVERHEAD = UDP_OVERHEAD;

/** WEFT_BACKENDS names the backend types weft implements, for errors. */
const WEFT_BACKENDS = 'must be "vxlan", "udp" or "host-gw" (the backends weft implements)';

/**
 * Backend types flannel registers (or registered) that weft does not implement, each with what it
 * does, so the refusal tells the operator what they asked for and what to use instead.
 */
const FLANNEL_ONLY_BACKENDS: Readonly<Record<string, string>> = {
  ipip: 'IP-in-IP tunnels through the kernel\'s ipip device; use "vxlan" (or "host-gw" on one L2)',
  ipsec: 'IPsec (ESP) encryption with strongSwan; weft has no encryption',
  wireguard: "WireGuard encryption through the kernel's wireguard device; weft has no encryption",
  alloc: 'subnet allocation only, with no data path',
  extension: 'an external program run as the data path',
  'tencent-vpc': 'cloud routes in a Tencent Cloud VPC',
  'aws-vpc': 'cloud routes in an AWS VPC route table (removed from flannel)',
  gce: 'cloud routes in a Google Compute Engine network (removed from flannel)',
  'ali-vpc': 'cloud routes in an Alibaba Cloud VPC (removed from flannel)',
};

/** VxlanBackendConfig is `Backend` with `Type: "vxlan"`, defaults applied. */
export interface VxlanBackendConfig {
  readonly type: 'vxlan';
  /** 24-bit VNI, default 1. */
  readonly vni: number;
  /** UDP destination port; flannel's 0 is resolved to 8472. */
  readonly port: number;
  /** Underlay MTU to assume; null = use the external interface's MTU (flannel's default). */
  readonly mtu: number | null;
  /** flannel's DirectRouting: peers on the same L2 get plain routed traffic. */
  readonly directRouting: boolean;
  /** Windows-only in flannel; kept for fidelity, unused on Linux. */
  readonly macPrefix: string;
}

/** UdpBackendConfig is `Backend` with `Type: "udp"`, defaults applied. */
export interface UdpBackendConfig {
  readonly type: 'udp';
  /** UDP port every node listens on and sends to, default 8285. */
  readonly port: number;
}

/**
 * HostGwBackendConfig is `Backend` with `Type: "host-gw"` (flannel `pkg/backend/hostgw`): no
 * encapsulation, a kernel route `<subnet> via <PublicIP> dev <iface>` per host-gw lease. It has
 * no options.
 */
export interface HostGwBackendConfig {
  readonly type: 'host-gw';
}

/** BackendConfig is one of the backends weft implements. */
export type BackendConfig = VxlanBackendConfig | UdpBackendConfig | HostGwBackendConfig;

/** NetworkConfig is a validated flannel network config, every default filled in. */
export interface NetworkConfig {
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly enableNFTables: boolean;
  /** The cluster IPv4 network (null when EnableIPv4 is false). */
  readonly network: Ipv4Net | null;
  readonly subnetLen: number;
  /** First and last IPv4 subnet addresses allocation may use (host-order u32). */
  readonly subnetMin: number;
  readonly subnetMax: number;
  /** The cluster IPv6 network (null when EnableIPv6 is false). */
  readonly ipv6Network: Ipv6Net | null;
  readonly ipv6SubnetLen: number;
  readonly ipv6SubnetMin: bigint;
  readonly ipv6SubnetMax: bigint;
  readonly backend: BackendConfig;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Go's encoding/json: an exact key match wins, else the first case-insensitive one. */
function field(obj: JsonObject, name: string): Json | undefined {
  if (Object.prototype.hasOwnProperty.call(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function optBool(obj: JsonObject, name: string, path: string, dflt: boolean): boolean {
  const v = field(obj, name);
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new ConfigError(path, 'must be a boolean (true or false)');
  return v;
}

function optInt(obj: JsonObject, name: string, path: string, min: number, max: number): number | null {
  const v = field(obj, name);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(path, `must be an integer in ${min}..${max}`, `got ${JSON.stringify(v)}`);
  }
  return v;
}

function optString(obj: JsonObject, name: string, path: string): string | null {
  const v = field(obj, name);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new ConfigError(path, 'must be a string');
  return v;
}

/**
 * parseNetworkConfig parses and validates flannel's network config JSON (text or bytes).
 * Throws ConfigError(field, rule) for the first problem found; never returns a partial config.
 */
export function parseNetworkConfig(input: string | Buffer): NetworkConfig {
  let root: unknown;
  try {
    root = JSON.parse(typeof input === 'string' ? input : input.toString('utf8'));
  } catch (e) {
    throw new ConfigError('config', 'must be valid JSON', (e as Error).message);
  }
  if (!isObject(root)) throw new ConfigError('config', 'must be a JSON object');

  const enableIPv4 = optBool(root, 'EnableIPv4', 'EnableIPv4', true);
  const enableIPv6 = optBool(root, 'EnableIPv6', 'EnableIPv6', false);
  const enableNFTables = optBool(root, 'EnableNFTables', 'EnableNFTables', false);
  if (!enableIPv4 && !enableIPv6) {
    throw new ConfigError('EnableIPv4', 'at least one of EnableIPv4 and EnableIPv6 must be true');
  }

  const v4 = enableIPv4 ? checkIPv4(root) : null;
  const v6 = enableIPv6 ? checkIPv6(root) : null;
  const backend = parseBackend(field(root, 'Backend'));
  if (enableIPv6 && backend.type === 'udp') {
    throw new ConfigError('EnableIPv6', 'must be false with the udp backend (flannel-UDP carries IPv4 only)');
  }
  return {
    enableIPv4,
    enableIPv6,
    enableNFTables,
    network: v4?.network ?? null,
    subnetLen: v4?.subnetLen ?? 0,
    subnetMin: v4?.subnetMin ?? 0,
    subnetMax: v4?.subnetMax ?? 0,
    ipv6Network: v6?.network ?? null,
    ipv6SubnetLen: v6?.subnetLen ?? 0,
    ipv6SubnetMin: v6?.subnetMin ?? 0n,
    ipv6SubnetMax: v6?.subnetMax ?? 0n,
    backend,
  };
}

function checkIPv4(root: JsonObject): {
  network: Ipv4Net;
  subnetLen: number;
  subnetMin: number;
  subnetMax: number;
} {
  const text = optString(root, 'Network', 'Network');
  if (text === null) {
    throw new ConfigError(
      'Network',
      'is required when EnableIPv4 is true (an IPv4 CIDR such as "10.244.0.0/16")',
    );
  }
  const network = parseIpv4Cidr(text);
  if (!network)
    throw new ConfigError('Network', 'must be an IPv4 CIDR such as "10.244.0.0/16"', `got "${text}"`);
  const p = network.prefixLen;
  let subnetLen = optInt(root, 'SubnetLen', 'SubnetLen', 0, 128) ?? 0;
  if (subnetLen === 0) {
    // flannel: /22 or wider networks get /24 subnets; narrower ones get four subnets.
    if (p <= 22) subnetLen = 24;
    else if (p <= 28) subnetLen = p + 2;
    else throw new ConfigError('Network', 'network is too small. Minimum useful network prefix is /28', text);
  } else if (subnetLen > 30) {
    throw new ConfigError('SubnetLen', 'SubnetLen must be less than /31', `got ${subnetLen}`);
  } else if (subnetLen < p + 2) {
    throw new ConfigError(
      'SubnetLen',
      `must be between ${p + 2} and 30 when Network is /${p} (network must be able to accommodate at least four subnets)`,
      `got ${subnetLen}`,
    );
  }
  const size = 2 ** (32 - subnetLen);
  const netEnd = network.ip + 2 ** (32 - p); // one past the network, may be 2^32
  const mask = ipv4Mask(subnetLen);
  const bound = (name: string, dflt: number): number => {
    const s = optString(root, name, name);
    if (s === null) return dflt;
    const ip = parseIpv4(s);
    if (ip === null) throw new ConfigError(name, 'must be an IPv4 address', `got "${s}"`);
    if (ip < network.ip || ip >= netEnd) {
      throw new ConfigError(name, `${name} is not in the range of the Network`, `${s} is outside ${text}`);
    }
    if ((ip & mask) >>> 0 !== ip) {
      throw new ConfigError(
        name,
        `${name} is not on a SubnetLen boundary`,
        `${s} is not a multiple of /${subnetLen}`,
      );
    }
    return ip;
  };
  const subnetMin = bound('SubnetMin', network.ip + size);
  const subnetMax = bound('SubnetMax', netEnd - size);
  if (subnetMin > subnetMax) {
    throw new ConfigError(
      'SubnetMin',
      'must not be greater than SubnetMax',
      `${u32ToIpv4(subnetMin)} > ${u32ToIpv4(subnetMax)}`,
    );
  }
  return { network, subnetLen, subnetMin, subnetMax };
}

function checkIPv6(root: JsonObject): {
  network: Ipv6Net;
  subnetLen: number;
  subnetMin: bigint;
  subnetMax: bigint;
} {
  const text = optString(root, 'IPv6Network', 'IPv6Network');
  if (text === null) {
    throw new ConfigError(
      'IPv6Network',
      'is required when EnableIPv6 is true (an IPv6 CIDR such as "fd00:10:244::/56")',
    );
  }
  const network = parseIpv6Cidr(text);
  if (!network || text.indexOf(':') < 0) {
    throw new ConfigError('IPv6Network', 'must be an IPv6 CIDR such as "fd00:10:244::/56"', `got "${text}"`);
  }
  const p = network.prefixLen;
  let subnetLen = optInt(root, 'IPv6SubnetLen', 'IPv6SubnetLen', 0, 128) ?? 0;
  if (subnetLen === 0) {
    if (p <= 62) subnetLen = 64;
    else if (p <= 124) subnetLen = p + 2;
    else
      throw new ConfigError(
        'IPv6Network',
        'IPv6Network is too small. Minimum useful network prefix is /124',
        text,
      );
  } else if (subnetLen > 126) {
    throw new ConfigError('IPv6SubnetLen', 'SubnetLen must be less than /127', `got ${subnetLen}`);
  } else if (subnetLen < p + 2) {
    throw new ConfigError(
      'IPv6SubnetLen',
      `must be between ${p + 2} and 126 when IPv6Network is /${p} (network must be able to accommodate at least four subnets)`,
      `got ${subnetLen}`,
    );
  }
  const size = 1n << BigInt(128 - subnetLen);
  const netEnd = network.ip + (1n << BigInt(128 - p));
  const mask = ipv6Mask(subnetLen);
  const bound = (name: string, dflt: bigint): bigint => {
    const s = optString(root, name, name);
    if (s === null) return dflt;
    const ip = s.indexOf(':') >= 0 ? parseIpv6(s) : null;
    if (ip === null) throw new ConfigError(name, 'must be an IPv6 address', `got "${s}"`);
    if (ip < network.ip || ip >= netEnd) {
      throw new ConfigError(
        name,
        `${name} is not in the range of the IPv6Network`,
        `${s} is outside ${text}`,
      );
    }
    if ((ip & mask) !== ip) {
      throw new ConfigError(
        name,
        `${name} is not on a IPv6SubnetLen boundary`,
        `${s} is not a multiple of /${subnetLen}`,
      );
    }
    return ip;
  };
  const subnetMin = bound('IPv6SubnetMin', network.ip + size);
  const subnetMax = bound('IPv6SubnetMax', netEnd - size);
  if (subnetMin > subnetMax) {
    throw new ConfigError(
      'IPv6SubnetMin',
      'must not be greater than IPv6SubnetMax',
      `${formatIpv6(subnetMin)} > ${formatIpv6(subnetMax)}`,
    );
  }
  return { network, subnetLen, subnetMin, subnetMax };
}

function parseBackend(raw: Json | undefined): BackendConfig {
  // flannel's parseBackendType: a missing Backend means udp (issue #1221), not vxlan as the docs say.
  if (raw === undefined || raw === null) return { type: 'udp', port: DEFAULT_UDP_PORT };
  if (!isObject(raw)) throw new ConfigError('Backend', 'must be a JSON object such as {"Type":"vxlan"}');
  const typeText = optString(raw, 'Type', 'Backend.Type');
  const type = (typeText ?? '').toLowerCase();
  if (type === 'vxlan') {
    const gbp = optBool(raw, 'GBP', 'Backend.GBP', false);
    if (gbp)
      throw new ConfigError('Backend.GBP', 'must be false: weft does not implement VXLAN Group Based Policy');
    const learning = optBool(raw, 'Learning', 'Backend.Learning', false);
    if (learning)
      throw new ConfigError('Backend.Learning', 'must be false: weft uses static neighbours as flannel does');
    const macPrefix = optString(raw, 'MacPrefix', 'Backend.MacPrefix') ?? '0E-2A';
    if (!/^[0-9A-Fa-f]{2}-[0-9A-Fa-f]{2}$/.test(macPrefix)) {
      throw new ConfigError(
        'Backend.MacPrefix',
        'must be two hex bytes joined by "-", such as "0E-2A"',
        `got "${macPrefix}"`,
      );
    }
    const port = optInt(raw, 'Port', 'Backend.Port', 0, 65535) ?? 0;
    return {
      type: 'vxlan',
      vni: optInt(raw, 'VNI', 'Backend.VNI', 0, MAX_VNI) ?? DEFAULT_VNI,
      port: port === 0 ? DEFAULT_VXLAN_PORT : port,
      // An underlay below 68 + 50 could not carry the smallest IPv4 packet every host must accept.
      mtu: optInt(raw, 'MTU', 'Backend.MTU', 68 + VXLAN_MTU_OVERHEAD, 65535),
      directRouting: optBool(raw, 'DirectRouting', 'Backend.DirectRouting', false),
      macPrefix,
    };
  }
  if (type === 'udp') {
    return { type: 'udp', port: optInt(raw, 'Port', 'Backend.Port', 1, 65535) ?? DEFAULT_UDP_PORT };
  }
  if (type === 'host-gw') return { type: 'host-gw' };
  if (typeText === null || type === '') {
    throw new ConfigError('Backend.Type', 'is required: "vxlan", "udp" or "host-gw"');
  }
  const what = FLANNEL_ONLY_BACKENDS[type];
  if (what !== undefined) {
    throw new ConfigError(
      'Backend.Type',
      WEFT_BACKENDS,
      `weft does not implement flannel's "${type}" backend: ${what}`,
    );
  }
  throw new ConfigError('Backend.Type', WEFT_BACKENDS, `unknown backend type "${typeText}"`);
}

/**
 * backendMtu is flannel's `MTU()` for subnet.env and the TUN device: the underlay MTU minus the
 * encapsulation overhead (vxlan: Backend.MTU if set, else the interface MTU, minus 50; udp: minus
 * 28; host-gw: the interface MTU, as nothing is added).
 */
export function backendMtu(cfg: NetworkConfig, ifaceMtu: number): number {
  if (cfg.backend.type === 'vxlan') return (cfg.backend.mtu ?? ifaceMtu) - VXLAN_MTU_OVERHEAD;
  if (cfg.backend.type === 'host-gw') return ifaceMtu;
  return ifaceMtu - UDP_MTU_OVERHEAD;
}
