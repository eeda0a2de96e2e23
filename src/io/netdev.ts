/**
 * netdev: control-path wrappers around iproute2 (`ip`) for interface setup: addresses, MTU,
 * link state, routes (including `via ... onlink`, as flannel's VXLAN backend installs them),
 * link deletion. Async (child_process.execFile), never on the packet path.
 *
 * Errors: a failing `ip` becomes SystemError(`ip <args>`, errno name guessed from iproute2's
 * message, stderr); a missing `ip` binary becomes ToolMissingError.
 */
import { execFile } from 'node:child_process';
import { SystemError, ToolMissingError } from '../errors';

/** NetdevOptions select where a command runs. */
export interface NetdevOptions {
  /** Run in this named network namespace (`ip -n NS ...`) instead of the current one. */
  netns?: string;
}

/** RouteSpec describes one route for addRoute/replaceRoute/delRoute. */
export interface RouteSpec {
  /** Destination prefix, e.g. `10.244.1.0/24` (or `default`). */
  dst: string;
  /** Output device. */
  dev?: string;
  /** Gateway address. */
  via?: string;
  /** `onlink`: treat `via` as directly reachable on `dev` (flannel VXLAN routes). */
  onlink?: boolean;
  /** Preferred source address. */
  src?: string;
  /** Per-route MTU. */
  mtu?: number;
  /** Route metric. */
  metric?: number;
}

// iproute2 prints strerror() text; map the common ones back to errno names.
const STDERR_ERRNO: ReadonlyArray<[RegExp, string]> = [
  [/File exists/i, 'EEXIST'],
  [/Cannot find device|No such device/i, 'ENODEV'],
  [/Operation not permitted/i, 'EPERM'],
  [/Permission denied/i, 'EACCES'],
  [/No such process/i, 'ESRCH'],
  [/No such file or directory/i, 'ENOENT'],
  [/Invalid argument/i, 'EINVAL'],
  [/Network is unreachable/i, 'ENETUNREACH'],
  [/Nexthop has invalid gateway/i, 'EINVAL'],
  [/Cannot assign requested address/i, 'EADDRNOTAVAIL'],
  [/Device or resource busy/i, 'EBUSY'],
  [/Numerical result out of range/i, 'ERANGE'],
];

/** errnoFromIpStderr guesses the errno name behind an iproute2 error message ('UNKNOWN' if none). */
export function errnoFromIpStderr(stderr: string): string {
  for (const [re, name] of STDERR_ERRNO) if (re.test(stderr)) return name;
  return 'UNKNOWN';
}

/** ip runs `ip [-n NS] ...args` and resolves with stdout. */
export function ip(args: readonly string[], opts: NetdevOptions = {}): Promise<string> {
  const argv = opts.netns ? ['-n', opts.netns, ...args] : [...args];
  return new Promise((resolve, reject) => {
    execFile('ip', argv, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(stdout);
        return;
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new ToolMissingError('ip', 'apt-get install iproute2'));
        return;
      }
      const text = (stderr || err.message).trim();
      reject(new SystemError(`ip ${argv.join(' ')}`, errnoFromIpStderr(text), text));
    });
  });
}

/** addAddress adds `cidr` (e.g. `10.244.1.0/32` or `10.244.1.1/24`) to `dev`. */
export async function addAddress(dev: string, cidr: string, opts?: NetdevOptions): Promise<void> {
  await ip(['addr', 'add', cidr, 'dev', dev], opts);
}

/** setAddress is `ip addr replace`: like addAddress but not an error when it is already there. */
export async function setAddress(dev: string, cidr: string, opts?: NetdevOptions): Promise<void> {
  await ip(['addr', 'replace', cidr, 'dev', dev], opts);
}

/** delAddress removes `cidr` from `dev`. */
export async function delAddress(dev: string, cidr: string, opts?: NetdevOptions): Promise<void> {
  await ip(['addr', 'del', cidr, 'dev', dev], opts);
}

/** setMtu sets the MTU of `dev`. */
export async function setMtu(dev: string, mtu: number, opts?: NetdevOptions): Promise<void> {
  await ip(['link', 'set', 'dev', dev, 'mtu', String(mtu)], opts);
}

/** setUp brings `dev` up. */
export async function setUp(dev: string, opts?: NetdevOptions): Promise<void> {
  await ip(['link', 'set', 'dev', dev, 'up'], opts);
}

/** setDown takes `dev` down. */
export async function setDown(dev: string, opts?: NetdevOptions): Promise<void> {
  await ip(['link', 'set', 'dev', dev, 'down'], opts);
}

/** deleteLink deletes `dev`. */
export async function deleteLink(dev: string, opts?: NetdevOptions): Promise<void> {
  await ip(['link', 'del', 'dev', dev], opts);
}

/** linkExists reports whether `dev` exists. */
export async function linkExists(dev: string, opts?: NetdevOptions): Promise<boolean> {
  try {
    await ip(['link', 'show', 'dev', dev], opts);
    return true;
  } catch (err) {
    if (err instanceof SystemError) return false;
    throw err;
  }
}

/** routeArgs renders a RouteSpec as `ip route` arguments (after the verb). */
export function routeArgs(r: RouteSpec): string[] {
  const a = [r.dst];
  if (r.via !== undefined) a.push('via', r.via);
  if (r.dev !== undefined) a.push('dev', r.dev);
  if (r.onlink === true) a.push('onlink');
  if (r.src !== undefined) a.push('src', r.src);
  if (r.metric !== undefined) a.push('metric', String(r.metric));
  if (r.mtu !== undefined) a.push('mtu', String(r.mtu));
  return a;
}

/** addRoute adds a route (EEXIST if present). */
export async function addRoute(r: RouteSpec, opts?: NetdevOptions): Promise<void> {
  await ip(['route', 'add', ...routeArgs(r)], opts);
}

/** replaceRoute adds or replaces a route. */
export async function replaceRoute(r: RouteSpec, opts?: NetdevOptions): Promise<void> {
  await ip(['route', 'replace', ...routeArgs(r)], opts);
}

/** delRoute deletes a route (ESRCH if absent). */
export async function delRoute(r: RouteSpec, opts?: NetdevOptions): Promise<void> {
  await ip(['route', 'del', ...routeArgs(r)], opts);
}

/** RouteGetResult is one route `ip -j route get` reports (the fields weft reads). */
export interface RouteGetResult {
  dst: string;
  /** Next hop, absent for a directly connected destination. */
  gateway?: string;
  dev?: string;
  prefsrc?: string;
  /** `local`, `unicast` (absent), ... */
  type?: string;
}

/** routeGet is `ip -j route get DST`: the route(s) the kernel would use for `dst`. */
export async function routeGet(dst: string, opts?: NetdevOptions): Promise<RouteGetResult[]> {
  const out = await ip(['-j', 'route', 'get', dst], opts);
  const parsed = JSON.parse(out.trim() === '' ? '[]' : out) as RouteGetResult[];
  return Array.isArray(parsed) ? parsed : [];
}

/**
 * isDirectlyConnected is flannel's `ip.DirectRouting`: `ip route get DST` returns exactly one
 * route and it has no gateway, i.e. DST is on a link of this host (same L2).
 */
export async function isDirectlyConnected(dst: string, opts?: NetdevOptions): Promise<boolean> {
  const routes = await routeGet(dst, opts);
  return routes.length === 1 && routes[0]!.gateway === undefined;
}

/** hasBlackholeRoute reports whether the main table has `blackhole DST` (exactly that prefix). */
export async function hasBlackholeRoute(dst: string, opts?: NetdevOptions): Promise<boolean> {
  const out = await ip(['-j', 'route', 'show', 'type', 'blackhole', 'exact', dst], opts);
  const routes = JSON.parse(out.trim() === '' ? '[]' : out) as Array<{ dst?: string }>;
  return routes.some((r) => r.dst === dst);
}

/**
 * addBlackholeRoute is flannel's `ip.AddBlackholeV4Route`: adds `blackhole DST` unless the main
 * table already has it. Resolves true when it added the route. Another route with the same prefix
 * and metric makes the kernel refuse (EEXIST), as it refuses flannel's netlink.RouteAdd.
 */
export async function addBlackholeRoute(dst: string, opts?: NetdevOptions): Promise<boolean> {
  if (await hasBlackholeRoute(dst, opts)) return false;
  await ip(['route', 'add', 'blackhole', dst], opts);
  return true;
}
