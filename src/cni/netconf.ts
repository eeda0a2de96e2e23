/**
 * netconf: the `flannel` plugin's own config and the delegate config it renders from subnet.env,
 * as flannel-io/cni-plugin does (`flannel.go` loadFlannelNetConf/cmdAdd, `flannel_linux.go`
 * doCmdAdd/getDelegateIPAM):
 *   - keys: `subnetFile` (default /run/flannel/subnet.env), `dataDir` (default /var/lib/cni/flannel),
 *     `delegate`, `ipam`, `runtimeConfig`, plus the standard `name`, `cniVersion`, `type`;
 *   - the delegate: the given map, `name` = the network's name, `type` default `bridge`,
 *     `ipMasq` default !FLANNEL_IPMASQ (if flanneld does not masquerade, the bridge does), `mtu`
 *     default FLANNEL_MTU, `isGateway` default true for a bridge, `cniVersion` copied, runtimeConfig
 *     passed through; a delegate may not set `name` or `ipam`;
 *   - its `ipam`: the plugin's `ipam` map, `type` default `host-local`, `ranges` one per family from
 *     FLANNEL_SUBNET / FLANNEL_IPV6_SUBNET, `routes` = ipam.routes then one per FLANNEL_NETWORK entry.
 */
import { CniError } from '../errors';
import { CNI_ERR } from './skel';
import { FlannelSubnetEnv, parseGoCidr } from './subnet-env';

/** DEFAULT_SUBNET_FILE is where flannel's plugin reads subnet.env by default (flanneld's --subnet-file default). */
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';
/** DEFAULT_DATA_DIR is where flannel's plugin saves each container's delegate config by default. */
export const DEFAULT_DATA_DIR = '/var/lib/cni/flannel';

type JsonMap = Record<string, unknown>;

/** FlannelNetConf is the `flannel` plugin's config (one entry of a conflist, as the runtime sends it). */
export interface FlannelNetConf {
  readonly name: string;
  readonly cniVersion: string;
  readonly subnetFile: string;
  readonly dataDir: string;
  readonly delegate: JsonMap | null;
  readonly ipam: JsonMap | null;
  readonly runtimeConfig: JsonMap | null;
  readonly prevResult: unknown;
}

function isMap(v: unknown): v is JsonMap {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** loadFlannelNetConf parses the plugin's stdin; a wrongly typed key is named with the type it needs. */
export function loadFlannelNetConf(text: string): FlannelNetConf {
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new CniError(CNI_ERR.internal, `failed to load netconf: ${(e as Error).message}`);
  }
  if (!isMap(c)) throw new CniError(CNI_ERR.internal, 'failed to load netconf: not a JSON object');
  const str = (k: string, def: string): string => {
    const v = c[k];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string')
      throw new CniError(CNI_ERR.internal, `failed to load netconf: "${k}" must be a string`);
    return v;
  };
  const map = (k: string): JsonMap | null => {
    const v = c[k];
    if (v === undefined || v === null) return null;
    if (!isMap(v))
      throw new CniError(CNI_ERR.internal, `failed to load netconf: "${k}" must be a JSON object`);
    return v;
  };
  // Go's json.Unmarshal leaves a default in place when the key is absent, and sets "" when given "".
  return {
    name: str('name', ''),
    cniVersion: str('cniVersion', ''),
    subnetFile: str('subnetFile', DEFAULT_SUBNET_FILE),
    dataDir: str('dataDir', DEFAULT_DATA_DIR),
    delegate: map('delegate'),
    ipam: map('ipam'),
    runtimeConfig: map('runtimeConfig'),
    prevResult: c.prevResult,
  };
}

/** checkDelegate applies cmdAdd's rules for a user-given `delegate` map. */
function checkDelegate(d: JsonMap): void {
  if ('type' in d && typeof d.type !== 'string')
    throw new CniError(
      CNI_ERR.internal,
      "'delegate' dictionary, if present, must have (string) 'type' field",
    );
  if ('name' in d)
    throw new CniError(
      CNI_ERR.internal,
      "'delegate' dictionary must not have 'name' field, it'll be set by flannel",
    );
  if ('ipam' in d)
    throw new CniError(
      CNI_ERR.internal,
      "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel",
    );
}

/** ipamRoutes re-reads `ipam.routes` as CNI types.Route does: `dst` a CIDR (kept as its network), `gw` an IP. */
function ipamRoutes(ipam: JsonMap): JsonMap[] {
  if (!('routes' in ipam) || ipam.routes === null) return [];
  const fail = (why: string): never => {
    throw new CniError(
      CNI_ERR.internal,
      `failed to assemble Delegate IPAM: failed to read IPAM routes: failed to parse ipam.routes: ${why}`,
    );
  };
  if (!Array.isArray(ipam.routes)) return fail('must be a list of {"dst": CIDR, "gw": IP}');
  return ipam.routes.map((r: unknown, i) => {
    if (!isMap(r) || typeof r.dst !== 'string') return fail(`routes[${i}].dst must be a CIDR string`);
    let dst: string;
    try {
      dst = parseGoCidr(r.dst);
    } catch (e) {
      return fail((e as Error).message);
    }
    const out: JsonMap = { dst };
    if (r.gw !== undefined && r.gw !== null && r.gw !== '') {
      if (typeof r.gw !== 'string') return fail(`routes[${i}].gw must be an IP string`);
      out.gw = r.gw;
    }
    for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope']) if (r[k] !== undefined) out[k] = r[k];
    return out;
  });
}

/**
 * renderDelegate builds the delegate config for ADD from the plugin config and subnet.env
 * (flannel's cmdAdd + doCmdAdd); throws CniError with flannel's messages.
 */
export function renderDelegate(n: FlannelNetConf, env: FlannelSubnetEnv): JsonMap {
  const d: JsonMap = { ...(n.delegate ?? {}) };
  checkDelegate(d);
  if (n.runtimeConfig) d.runtimeConfig = n.runtimeConfig;
  d.name = n.name;
  if (!('type' in d)) d.type = 'bridge';
  if (!('ipMasq' in d)) d.ipMasq = !env.ipmasq;
  if (!('mtu' in d)) d.mtu = env.mtu;
  if (d.type === 'bridge' && !('isGateway' in d)) d.isGateway = true;
  if (n.cniVersion !== '') d.cniVersion = n.cniVersion;
  const ipam: JsonMap = { ...(n.ipam ?? {}) };
  if (!('type' in ipam)) ipam.type = 'host-local';
  const ranges: JsonMap[][] = [];
  if (env.subnet) ranges.push([{ subnet: env.subnet }]);
  if (env.ip6Subnet) ranges.push([{ subnet: env.ip6Subnet }]);
  ipam.ranges = ranges;
  ipam.routes = [
    ...ipamRoutes(ipam),
    ...env.networks.map((dst) => ({ dst })),
    ...env.ip6Networks.map((dst) => ({ dst })),
  ];
  d.ipam = ipam;
  return d;
}
