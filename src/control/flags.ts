/**
 * flags: flanneld's command-line flags (flannel `main.go`) plus weft's own, each also settable as
 * `FLANNELD_<NAME>` (upper snake case, as flannel's `flagutil.SetFlagsFromEnv(…, "FLANNELD")`).
 *
 * Parsing follows Go's `flag` package, which flanneld uses: `-flag` or `--flag`, `--flag=value` or
 * `--flag value` (non-booleans only), booleans as `--ip-masq` or `--ip-masq=false` with
 * strconv.ParseBool's spellings. A flag given on the command line wins over its environment variable.
 * Repeatable flags (`--iface`) collect every occurrence; from the environment they take one value.
 * Unknown flags and missing values are UsageErrors; a bad value is a ConfigError naming the flag.
 */

import { ConfigError, UsageError } from '../errors';
import { parseIpv4, parseIpv6 } from '../net/addr';
import {
  DEFAULT_SRC_PORT_RANGE,
  SRC_PORT_MODES,
  srcPortRangeRule,
  DEFAULT_SRC_PORT_MODE,
  type SrcPortMode,
} from '../dataplane/src-port';
import { workersRule } from '../dataplane/workers';
import { KUBE_ANNOTATION_PREFIX, KUBE_NET_CONFIG_PATH, annotationPrefixRule } from './kube/annotations';
import { chooseStore } from './store-choice';

/** FlagKind is how a flag's value is parsed. */
export type FlagKind = 'string' | 'bool' | 'int' | 'list' | 'repeat';

/** FlagSpec describes one flag: its name without dashes, kind, default and help text. */
export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly default: string | boolean | number | string[];
  readonly help: string;
  /** Extra validation of the parsed value; return a rule text when it is bad. */
  readonly check?: (value: never) => string | null;
  /** true for weft's additions (not in flanneld). */
  readonly weft?: boolean;
}

const ipv4OrEmpty = (v: string): string | null =>
  v === '' || parseIpv4(v) !== null ? null : 'must be an IPv4 address';
const ipv6OrEmpty = (v: string): string | null =>
  v === '' || parseIpv6(v) !== null ? null : 'must be an IPv6 address';
const port = (v: number): string | null =>
  v >= 0 && v <= 65535 ? null : 'must be a port number in 0..65535 (0 = disabled)';
const oneOf =
  (...allowed: string[]) =>
  (v: string): string | null =>
    allowed.includes(v) ? null : `must be one of: ${allowed.join(', ')}`;

/** FLAG_SPECS lists every flag weft accepts, flanneld's first, in flanneld's help order. */
export const FLAG_SPECS: readonly FlagSpec[] = [
  {
    name: 'etcd-endpoints',
    kind: 'list',
    default: ['http://127.0.0.1:4001', 'http://127.0.0.1:2379'],
    help: 'a comma-delimited list of etcd endpoints',
  },
  {
    name: 'etcd-prefix',
    kind: 'string',
    default: '/coreos.com/network',
    help: 'etcd prefix',
    check: (v: string) => (v.startsWith('/') ? null : 'must start with "/"'),
  },
  {
    name: 'etcd-keyfile',
    kind: 'string',
    default: '',
    help: 'SSL key file used to secure etcd communication',
  },
  {
    name: 'etcd-certfile',
    kind: 'string',
    default: '',
    help: 'SSL certification file used to secure etcd communication',
  },
  {
    name: 'etcd-cafile',
    kind: 'string',
    default: '',
    help: 'SSL Certificate Authority file used to secure etcd communication',
  },
  { name: 'etcd-username', kind: 'string', default: '', help: 'username for BasicAuth to etcd' },
  { name: 'etcd-password', kind: 'string', default: '', help: 'password for BasicAuth to etcd' },
  {
    name: 'iface',
    kind: 'repeat',
    default: [],
    help: 'interface to use (IP or name) for inter-host communication; may be repeated',
  },
  {
    name: 'iface-regex',
    kind: 'repeat',
    default: [],
    help: 'regex expression to match the first interface to use (IP or name); may be repeated',
  },
  {
    name: 'iface-can-reach',
    kind: 'string',
    default: '',
    help: 'detect the interface to use by the route to this IP',
    check: ipv4OrEmpty,
  },
  {
    name: 'public-ip',
    kind: 'string',
    default: '',
    help: 'IP accessible by other nodes for inter-host communication',
    check: ipv4OrEmpty,
  },
  {
    name: 'public-ipv6',
    kind: 'string',
    default: '',
    help: 'IPv6 accessible by other nodes for inter-host communication',
    check: ipv6OrEmpty,
  },
  {
    name: 'subnet-file',
    kind: 'string',
    default: '/run/flannel/subnet.env',
    help: 'filename where env variables (subnet, MTU, ...) will be written to',
    check: (v: string) => (v !== '' ? null : 'must not be empty'),
  },
  {
    name: 'net-config-path',
    kind: 'string',
    default: '',
    help: `path to the network configuration file; empty = read <etcd-prefix>/config from the store (weft default), ${KUBE_NET_CONFIG_PATH} with --kube-subnet-mgr`,
  },
  {
    name: 'subnet-lease-renew-margin',
    kind: 'int',
    default: 60,
    help: 'subnet lease renewal margin, in minutes, ranging from 1 to 1439',
    check: (v: number) => (v >= 1 && v <= 1439 ? null : 'must be in 1..1439 (minutes)'),
  },
  {
    name: 'ip-masq',
    kind: 'bool',
    default: false,
    help: 'setup IP masquerade rule for traffic destined outside of overlay network',
  },
  {
    name: 'ip-masq-fully-random-disable',
    kind: 'bool',
    default: false,
    help: 'disable --random-fully in the MASQUERADE rule',
  },
  {
    name: 'iptables-resync',
    kind: 'int',
    default: 5,
    help: 'resync period for iptables rules, in seconds',
    check: (v: number) => (v >= 1 ? null : 'must be at least 1 (seconds)'),
  },
  {
    name: 'iptables-forward-rules',
    kind: 'bool',
    default: true,
    help: 'add default accept rules to FORWARD chain in iptables',
  },
  {
    name: 'ip-blackhole-route',
    kind: 'bool',
    default: false,
    help: 'add a blackhole route for the node podCIDR',
  },
  {
    name: 'healthz-ip',
    kind: 'string',
    default: '0.0.0.0',
    help: 'the IP address for healthz server to listen',
    check: ipv4OrEmpty,
  },
  {
    name: 'healthz-port',
    kind: 'int',
    default: 0,
    help: 'the port for healthz server to listen (0 to disable)',
    check: port,
  },
  {
    name: 'v',
    kind: 'int',
    default: 0,
    help: 'log level for V logs',
    check: (v: number) => (v >= 0 ? null : 'must be >= 0'),
  },
  { name: 'version', kind: 'bool', default: false, help: 'print version and exit' },
  // Kubernetes subnet manager (flannel main.go; pkg/subnet/kube).
  {
    name: 'kube-subnet-mgr',
    kind: 'bool',
    default: false,
    help: 'contact the Kubernetes API for subnet assignment instead of etcd',
  },
  {
    name: 'kube-api-url',
    kind: 'string',
    default: '',
    help: 'Kubernetes API server URL. Does not need to be specified if flannel is running in a pod.',
  },
  {
    name: 'kubeconfig-file',
    kind: 'string',
    default: '',
    help: 'kubeconfig file location. Does not need to be specified if flannel is running in a pod.',
  },
  {
    name: 'kube-annotation-prefix',
    kind: 'string',
    default: KUBE_ANNOTATION_PREFIX,
    help: 'Kubernetes annotation prefix. Can contain single slash "/", otherwise it will be appended at the end.',
    check: (v: string) => annotationPrefixRule(v),
  },
  {
    name: 'set-node-network-unavailable',
    kind: 'bool',
    default: true,
    help: 'set NodeNetworkUnavailable after ready',
  },
  {
    name: 'store',
    kind: 'string',
    default: 'embedded',
    help: 'lease store: embedded (a shared directory, no server) or etcd; an --etcd-* flag alone selects etcd, --store-dir alone embedded',
    check: oneOf('embedded', 'etcd'),
    weft: true,
  },
  {
    name: 'store-dir',
    kind: 'string',
    default: '/var/lib/weft/store',
    help: 'directory of the embedded store (holds <etcd-prefix>/config and subnets/)',
    weft: true,
  },
  {
    name: 'subnet-lease-ttl',
    kind: 'int',
    default: 86400,
    help: 'lifetime of a subnet lease, in seconds (flannel: 86400)',
    check: (v: number) => (v >= 5 ? null : 'must be at least 5 (seconds)'),
    weft: true,
  },
  {
    name: 'metrics-ip',
    kind: 'string',
    default: '0.0.0.0',
    help: 'the IP address for the Prometheus /metrics server',
    check: ipv4OrEmpty,
    weft: true,
  },
  {
    name: 'metrics-port',
    kind: 'int',
    default: 0,
    help: 'the port for the Prometheus /metrics server (0 to disable)',
    check: port,
    weft: true,
  },
  {
    name: 'io',
    kind: 'string',
    default: 'batch',
    help: 'UDP I/O: batch (native recvmmsg/sendmmsg) or dgram (Node dgram)',
    check: oneOf('batch', 'dgram'),
    weft: true,
  },
  {
    name: 'src-port',
    kind: 'string',
    default: DEFAULT_SRC_PORT_MODE,
    help: 'outer UDP source port (vxlan backend; udp keeps its port): flow (a hash of the inner flow, RFC 7348 §5, as kernel VXLAN: 16 UDP sockets per worker on ports spread over --src-port-range, UDP GSO kept; given with --io dgram: a raw socket, CAP_NET_RAW) or fixed (the bound port; the default with --io dgram)',
    check: oneOf(...SRC_PORT_MODES),
    weft: true,
  },
  {
    name: 'vxlan-rco',
    kind: 'bool',
    default: false,
    help: 'VXLAN Remote Checksum Offload (draft-herbert-vxlan-rco, Linux remcsumtx+remcsumrx): send inner TCP/UDP checksums partial for the peer to finish, and accept such frames; every peer must have it (a kernel peer: ip link ... vxlan ... remcsumtx remcsumrx)',
    weft: true,
  },
  {
    name: 'src-port-range',
    kind: 'string',
    default: DEFAULT_SRC_PORT_RANGE,
    help: 'MIN-MAX range of outer UDP source ports for --src-port flow',
    check: srcPortRangeRule,
    weft: true,
  },
  {
    name: 'workers',
    kind: 'int',
    default: 1,
    help: 'forwarding workers: the TUN is opened multi-queue, one queue per worker thread',
    check: workersRule,
    weft: true,
  },
  {
    name: 'vtep-state-dir',
    kind: 'string',
    default: '/var/lib/weft',
    help: 'directory where the VTEP MAC is kept so it is stable across restarts',
    weft: true,
  },
];

/** WeftFlags is the typed result of parseFlags: one property per flag, camelCase. */
export interface WeftFlags {
  etcdEndpoints: string[];
  etcdPrefix: string;
  etcdKeyfile: string;
  etcdCertfile: string;
  etcdCafile: string;
  etcdUsername: string;
  etcdPassword: string;
  iface: string[];
  ifaceRegex: string[];
  ifaceCanReach: string;
  publicIp: string;
  publicIpv6: string;
  subnetFile: string;
  netConfigPath: string;
  /** Minutes. */
  subnetLeaseRenewMargin: number;
  ipMasq: boolean;
  ipMasqFullyRandomDisable: boolean;
  iptablesResync: number;
  iptablesForwardRules: boolean;
  ipBlackholeRoute: boolean;
  healthzIp: string;
  healthzPort: number;
  v: number;
  version: boolean;
  kubeSubnetMgr: boolean;
  kubeApiUrl: string;
  kubeconfigFile: string;
  kubeAnnotationPrefix: string;
  setNodeNetworkUnavailable: boolean;
  store: 'embedded' | 'etcd';
  /** What chose `store`: `--store`, an etcd flag (`--etcd-endpoints`, `FLANNELD_ETCD_PREFIX`...), `--store-dir`, or `default`. */
  storeFrom: string;
  storeDir: string;
  /** Seconds. */
  subnetLeaseTtl: number;
  metricsIp: string;
  metricsPort: number;
  io: 'batch' | 'dgram';
  /** Outer UDP source port mode (vxlan backend). */
  srcPort: SrcPortMode;
  /** `MIN-MAX`, validated. */
  srcPortRange: string;
  /** VXLAN Remote Checksum Offload (vxlan backend). */
  vxlanRco: boolean;
  /** Forwarding workers, 1..MAX_WORKERS (one TUN queue each). */
  workers: number;
  vtepStateDir: string;
  /** Names (without dashes) of the flags set explicitly, on the command line or in the environment. */
  explicit: Set<string>;
  /** Values of extra specs passed to parseFlags, by flag name. */
  extra: Record<string, string | boolean | number | string[]>;
}

/** envName maps a flag name to its environment variable: `etcd-endpoints` -> `FLANNELD_ETCD_ENDPOINTS`. */
export function envName(flag: string): string {
  return `FLANNELD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** camelName maps a flag name to its WeftFlags property: `etcd-endpoints` -> `etcdEndpoints`. */
export function camelName(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** parseBool accepts Go strconv.ParseBool's spellings; null when the text is none of them. */
export function parseBool(s: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return null;
}

function convert(spec: FlagSpec, raw: string, source: string): string | boolean | number | string[] {
  const where = source === 'env' ? envName(spec.name) : `--${spec.name}`;
  let value: string | boolean | number | string[];
  switch (spec.kind) {
    case 'bool': {
      const b = parseBool(raw);
      if (b === null) throw new ConfigError(where, 'must be a boolean (true/false/1/0)', `got "${raw}"`);
      value = b;
      break;
    }
    case 'int': {
      if (!/^[-+]?\d+$/.test(raw.trim())) throw new ConfigError(where, 'must be an integer', `got "${raw}"`);
      value = Number(raw.trim());
      break;
    }
    case 'list':
      value = raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      break;
    case 'repeat':
      value = [raw];
      break;
    default:
      value = raw;
  }
  if (spec.check && spec.kind !== 'repeat') {
    const rule = (spec.check as (v: unknown) => string | null)(value);
    if (rule) throw new ConfigError(where, rule, `got "${raw}"`);
  }
  return value;
}

/**
 * parseFlags turns argv (without the command name) and the environment into WeftFlags.
 * `extraSpecs` lets a command add its own flags under the same rules; their values land in `extra`.
 */
export function parseFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  extraSpecs: readonly FlagSpec[] = [],
): WeftFlags {
  const specs = new Map<string, FlagSpec>();
  for (const s of [...FLAG_SPECS, ...extraSpecs]) specs.set(s.name, s);
  const values = new Map<string, string | boolean | number | string[]>();
  const fromCli = new Set<string>();
  /** Where each given flag came from: `--name` or `FLANNELD_NAME`. */
  const where = new Map<string, string>();

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new UsageError(`unexpected argument: ${argv[i + 1]}`);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') throw new UsageError(`unexpected argument: ${arg}`);
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = specs.get(name);
    if (!spec) throw new UsageError(`unknown flag: -${arg.startsWith('--') ? '-' : ''}${name}`);
    let raw: string;
    if (eq >= 0) raw = body.slice(eq + 1);
    else if (spec.kind === 'bool') raw = 'true';
    else {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`);
      raw = argv[++i]!;
    }
    const v = convert(spec, raw, 'cli');
    if (spec.kind === 'repeat' && fromCli.has(name)) {
      values.set(name, [...(values.get(name) as string[]), ...(v as string[])]);
    } else values.set(name, v);
    fromCli.add(name);
    where.set(name, `--${name}`);
  }

  for (const spec of specs.values()) {
    if (fromCli.has(spec.name)) continue;
    const raw = env[envName(spec.name)];
    if (raw === undefined || raw === '') continue;
    values.set(spec.name, convert(spec, raw, 'env'));
    fromCli.add(spec.name);
    where.set(spec.name, envName(spec.name));
  }

  const out: Record<string, unknown> = { explicit: fromCli, extra: {} };
  for (const spec of specs.values()) {
    const v = values.has(spec.name)
      ? values.get(spec.name)!
      : Array.isArray(spec.default)
        ? [...spec.default]
        : spec.default;
    if (FLAG_SPECS.includes(spec)) out[camelName(spec.name)] = v;
    else (out.extra as Record<string, unknown>)[spec.name] = v;
  }
  const flags = out as unknown as WeftFlags;
  // flanneld's --net-config-path default is the kube-flannel ConfigMap's mount; it is only read in kube mode.
  if (flags.kubeSubnetMgr && !fromCli.has('net-config-path')) flags.netConfigPath = KUBE_NET_CONFIG_PATH;
  // TLS needs both halves, as flannel's newTlsConfig requires; a lone one is almost surely a typo.
  if ((flags.etcdKeyfile === '') !== (flags.etcdCertfile === '')) {
    const missing = flags.etcdKeyfile === '' ? '--etcd-keyfile' : '--etcd-certfile';
    throw new ConfigError(
      missing,
      'must be set together with --etcd-keyfile and --etcd-certfile (TLS client auth)',
    );
  }
  const choice = chooseStore((n) => where.get(n) ?? null, where.has('store') ? flags.store : null);
  flags.store = choice.store;
  flags.storeFrom = choice.from;
  return flags;
}

/** flagsUsage renders the flag list for a command's usage text. */
export function flagsUsage(extraSpecs: readonly FlagSpec[] = []): string {
  return [...FLAG_SPECS, ...extraSpecs]
    .map((s) => {
      const dflt = Array.isArray(s.default) ? s.default.join(',') : String(s.default);
      return `  --${s.name}${s.kind === 'bool' ? '' : ' value'}\n      ${s.help}${dflt !== '' ? ` (default ${dflt})` : ''} [${envName(s.name)}]`;
    })
    .join('\n');
}
