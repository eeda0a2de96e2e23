/**
 * iface: choosing the external interface and public IP, as flanneld does (`main.go` and
 * `pkg/ipmatch` LookupExtIface): every `--iface` (names or IPs) in order, then every
 * `--iface-regex` (matched against addresses first, then names), then `--iface-can-reach` (the
 * interface of the route to that IP); the first match wins, and none matching is an error. With
 * none of these flags, the interface of the default route. `--public-ip` overrides the advertised
 * address (e.g. behind NAT); without interface flags the interface that owns `--public-ip` is used,
 * as flanneld does, but where flanneld exits when none owns it weft falls back to the default-route
 * interface and says so (`note`).
 */
import { ConfigError } from '../errors';
import * as netdev from '../io/netdev';

/** ExtIface is the interface weft sends and receives overlay traffic on. */
export interface ExtIface {
  /** Interface name, e.g. `eth0`. */
  readonly name: string;
  /** Its first IPv4 address: what the UDP socket binds to. */
  readonly addr: string;
  /** Its MTU (the underlay MTU). */
  readonly mtu: number;
  /** The address published in the lease (`--public-ip`, else `addr`). */
  readonly publicIp: string;
  /** Where the choice differs from flanneld's, a warning for the log. */
  readonly note?: string;
}

/** IfaceFlags are the flags iface selection reads. */
export interface IfaceFlags {
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach: string;
  readonly publicIp: string;
}

/** LinkAddrs is one interface as `ip -j -4 addr show` reports it. */
export interface LinkAddrs {
  readonly ifname: string;
  readonly mtu: number;
  readonly addrs: readonly string[];
}

/** listLinks returns every interface with its IPv4 addresses (control path, runs `ip`). */
export async function listLinks(): Promise<LinkAddrs[]> {
  const out = await netdev.ip(['-j', '-4', 'addr', 'show']);
  const links = JSON.parse(out || '[]') as Array<{
    ifname: string;
    mtu: number;
    addr_info?: Array<{ local?: string }>;
  }>;
  return links.map((l) => ({
    ifname: l.ifname,
    mtu: l.mtu,
    addrs: (l.addr_info ?? []).map((a) => a.local).filter((a): a is string => typeof a === 'string'),
  }));
}

async function routeDev(args: string[]): Promise<string | null> {
  try {
    const out = await netdev.ip(['-j', '-4', 'route', ...args]);
    const routes = JSON.parse(out || '[]') as Array<{ dev?: string }>;
    return routes.find((r) => r.dev)?.dev ?? null;
  } catch {
    return null;
  }
}

function pick(l: LinkAddrs, flag: string, publicIp: string, preferAddr?: string): ExtIface {
  const addr = preferAddr ?? l.addrs[0];
  if (!addr) throw new ConfigError(flag, `interface ${l.ifname} has no IPv4 address`);
  return { name: l.ifname, addr, mtu: l.mtu, publicIp: publicIp || addr };
}

/**
 * selectExtIface applies flanneld's rules to `links` (from listLinks); `routeLookup` answers
 * "which device routes to X" (`default` for the default route). Throws ConfigError naming the flag.
 */
export async function selectExtIface(
  f: IfaceFlags,
  links: readonly LinkAddrs[],
  routeLookup: (dst: string) => Promise<string | null> = (dst) =>
    routeDev(dst === 'default' ? ['show', 'default'] : ['get', dst]),
): Promise<ExtIface> {
  // flanneld (main.go) tries every --iface, then every --iface-regex, then --iface-can-reach,
  // and fails only when none of the given ones matched.
  if (f.iface.length > 0 || f.ifaceRegex.length > 0 || f.ifaceCanReach) {
    for (const want of f.iface) {
      const byAddr = links.find((l) => l.addrs.includes(want));
      if (byAddr) return pick(byAddr, '--iface', f.publicIp, want);
      const byName = links.find((l) => l.ifname === want);
      if (byName) return pick(byName, '--iface', f.publicIp);
    }
    for (const src of f.ifaceRegex) {
      let re: RegExp;
      try {
        re = new RegExp(src);
      } catch (e) {
        throw new ConfigError(
          '--iface-regex',
          'must be a valid regular expression',
          `${src}: ${(e as Error).message}`,
        );
      }
      for (const l of links) {
        const a = l.addrs.find((x) => re.test(x));
        if (a) return pick(l, '--iface-regex', f.publicIp, a);
      }
      const byName = links.find((l) => re.test(l.ifname) && l.addrs.length > 0);
      if (byName) return pick(byName, '--iface-regex', f.publicIp);
    }
    if (f.ifaceCanReach) {
      const dev = await routeLookup(f.ifaceCanReach);
      const l = dev ? links.find((x) => x.ifname === dev) : undefined;
      if (l) return pick(l, '--iface-can-reach', f.publicIp);
    }
    const tried = [
      ...f.iface.map((v) => `--iface ${v}`),
      ...f.ifaceRegex.map((v) => `--iface-regex ${v}`),
      ...(f.ifaceCanReach ? [`--iface-can-reach ${f.ifaceCanReach}`] : []),
    ];
    const field =
      f.iface.length > 0 ? '--iface' : f.ifaceRegex.length > 0 ? '--iface-regex' : '--iface-can-reach';
    throw new ConfigError(
      field,
      'must match a local interface with an IPv4 address (by name or address, by regex, or by the route to an address)',
      `none matched: ${tried.join(', ')}`,
    );
  }
  if (f.publicIp) {
    const owner = links.find((l) => l.addrs.includes(f.publicIp));
    if (owner) return pick(owner, '--public-ip', f.publicIp, f.publicIp);
  }
  const dev = await routeLookup('default');
  const l = dev ? links.find((x) => x.ifname === dev) : undefined;
  if (!l) {
    throw new ConfigError('--iface', 'must be given: there is no default route to pick the interface from');
  }
  const ext = pick(l, '--iface', f.publicIp);
  if (!f.publicIp) return ext;
  return {
    ...ext,
    note: `no interface has --public-ip ${f.publicIp}, so weft uses the default-route interface ${ext.name}; flanneld would exit here (give --iface to choose the interface)`,
  };
}
