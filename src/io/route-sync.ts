/**
 * route-sync: kernel routes as a desired set, programmed in batches, with a record of ownership.
 * Control path only, never on the forwarding path. The kernel is reached through RouteSyncDeps:
 * by default an rtnetlink socket (rtnetlink-deps.ts: no child process, so no fork() of this large
 * process while its forwarding threads run); `ip` (ipDeps) when that socket cannot be opened (a
 * seccomp profile, an addon built without it) or `WEFT_ROUTE_IO=ip`, with the reason logged once.
 *
 * Stages of `sync(group, want)`:
 *   1. diff `want` against what this group installed: deletes, replaces (same prefix, new next hop)
 *      and candidates (prefixes nobody in this process installed)
 *   2. for candidates only, read the main table once (`route show table main [root SCOPE]`)
 *      and refuse any candidate whose prefix is held by a route weft did not install (same prefix,
 *      any metric), or, for `exclusive` groups, that would cover such a route: weft never replaces
 *      a route it did not install
 *   3. one batch for the whole diff: deletes, then replaces, then adds (`add`, not `replace`, so a
 *      route that appeared since stage 2 makes the add fail instead of being overwritten); each
 *      operation succeeds or fails on its own, with iproute2's message (`RTNETLINK answers: ...`)
 *
 * Every route weft installs carries `proto 87` (WEFT_ROUTE_PROTO), and deletes name it too: the
 * kernel then deletes only a route weft installed, never one somebody put in its place. Routes
 * with that protocol found in the table (left by a weft that was killed) count as weft's and are
 * replaced, not refused. Removing a route therefore restores exactly what was there before: the
 * prefix was free when weft added it, and whatever else was in the table was never touched.
 * Groups (`tun`, `direct`, `network`, ...) let several owners share one record (and one check):
 * a prefix held by one group is a conflict for another.
 *
 * routeGetMany (`ip route get` for many destinations: DirectRouting's classification) takes the
 * same path: rtnetlink lookups, or one `ip -j -force -batch -` under the same switch.
 */

import { spawn } from 'node:child_process';
import { ConfigError, ToolMissingError } from '../errors';
import { errnoFromIpStderr, routeArgs, type RouteSpec } from './netdev';
import { tryIpv4ToU32 } from '../net/addr';
import { nativeTransport, netlinkDeps, type NetlinkTransport } from './rtnetlink-deps';

/** WEFT_ROUTE_PROTO is the rtnetlink protocol number on every route weft installs. */
export const WEFT_ROUTE_PROTO = 87;

/** KernelRoute is one route weft wants: a prefix and where it goes. */
export interface KernelRoute {
  /** Destination prefix in canonical `A.B.C.D/N` form. */
  readonly dst: string;
  readonly dev?: string;
  readonly via?: string;
  readonly onlink?: boolean;
}

/** TableRoute is one route read back from the kernel's main table (the fields the check uses). */
export interface TableRoute {
  readonly dst: string;
  readonly dev?: string;
  readonly gateway?: string;
  readonly protocol?: string;
  readonly type?: string;
}

/** RouteOp is one change to the main table: `add` (fails if the prefix is taken), `replace`, `del`. */
export interface RouteOp {
  readonly kind: 'add' | 'replace' | 'del';
  readonly route: KernelRoute;
}

/** BatchOutcome is the result of one batch: a failed operation's 0-based index -> message. */
export interface BatchOutcome {
  readonly failed: ReadonlyMap<number, string>;
}

/**
 * RouteSyncDeps are the two kernel calls: apply operations (each on its own: one failing never
 * stops the others; messages as iproute2 prints them, `RTNETLINK answers: File exists`) and read
 * the main table (optionally only the prefixes inside `scope`). rtnetlink-deps.ts (default) and
 * ipDeps implement them; unit tests fake them.
 */
export interface RouteSyncDeps {
  runBatch(ops: readonly RouteOp[]): Promise<BatchOutcome>;
  listRoutes(scope: string | null): Promise<TableRoute[]>;
}

/** RouteSyncOptions configures a RouteSync. */
export interface RouteSyncOptions {
  /** Run in this named network namespace. */
  readonly netns?: string;
  /** Read back only routes inside this prefix (e.g. the cluster Network); default the whole table. */
  readonly scope?: string;
  readonly deps?: RouteSyncDeps;
  /** Told once per process when routes go through `ip` because rtnetlink cannot be used. */
  readonly log?: { warn(msg: string, fields?: Record<string, unknown>): void };
}

/** ROUTE_IO_ENV selects how routes are programmed: `netlink` (default) or `ip`. */
export const ROUTE_IO_ENV = 'WEFT_ROUTE_IO';

let fallbackLogged = false;

/** parseRouteIo reads WEFT_ROUTE_IO: `netlink` (unset) or `ip`; anything else is a ConfigError. */
export function parseRouteIo(value: string | undefined): 'netlink' | 'ip' {
  const v = value ?? 'netlink';
  if (v !== 'netlink' && v !== 'ip') throw new ConfigError(ROUTE_IO_ENV, 'must be netlink or ip', v);
  return v;
}

/**
 * openNetlink opens an rtnetlink socket in `netns`, or returns null when it cannot be opened
 * (the reason logged once per process: the caller goes through `ip`).
 */
function openNetlink(netns: string | undefined, log: RouteSyncOptions['log']): NetlinkTransport | null {
  try {
    return nativeTransport(netns);
  } catch (e) {
    if (!fallbackLogged) {
      fallbackLogged = true;
      const reason = e instanceof Error ? e.message : String(e);
      const msg = 'cannot open an rtnetlink socket; programming routes with ip -batch';
      if (log) log.warn(msg, { reason });
      else process.stderr.write(`weft: ${msg}: ${reason}\n`);
    }
    return null;
  }
}

/**
 * routeDeps picks the kernel calls: rtnetlink unless `WEFT_ROUTE_IO=ip` or the socket cannot be
 * opened, then `ip` (the reason logged once per process). A bad WEFT_ROUTE_IO is a ConfigError.
 */
export function routeDeps(
  netns: string | undefined,
  log: RouteSyncOptions['log'],
  env: NodeJS.ProcessEnv = process.env,
): { deps: RouteSyncDeps; io: 'netlink' | 'ip' } {
  if (parseRouteIo(env[ROUTE_IO_ENV]) === 'ip') return { deps: ipDeps(netns), io: 'ip' };
  const t = openNetlink(netns, log);
  if (t === null) return { deps: ipDeps(netns), io: 'ip' };
  return { deps: netlinkDeps(netns, t), io: 'netlink' };
}

/** RouteConflict is a wanted route refused because a route weft did not install holds its place. */
export interface RouteConflict {
  readonly route: KernelRoute;
  /** The route in the way, as `ip route` would print its essentials. */
  readonly holder: string;
}

/** RouteSyncResult tells what one sync did. */
export interface RouteSyncResult {
  added: number;
  replaced: number;
  deleted: number;
  readonly conflicts: RouteConflict[];
  readonly errors: Array<{ route: KernelRoute; op: 'add' | 'replace' | 'del'; error: string }>;
}

interface Owned {
  readonly group: string;
  readonly route: KernelRoute;
}

function sameRoute(a: KernelRoute, b: KernelRoute): boolean {
  return a.dev === b.dev && a.via === b.via && (a.onlink === true) === (b.onlink === true);
}

function parsePrefix(s: string): { ip: number; len: number } | null {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const len = slash < 0 ? 32 : Number(s.slice(slash + 1));
  const parts = addr.split('.');
  if (parts.length !== 4 || !(len >= 0 && len <= 32)) return null;
  let ip = 0;
  for (const p of parts) {
    const n = Number(p);
    if (!(n >= 0 && n <= 255) || p === '') return null;
    ip = ip * 256 + n;
  }
  return { ip, len };
}

function inside(inner: { ip: number; len: number }, outer: { ip: number; len: number }): boolean {
  if (inner.len < outer.len) return false;
  const div = 2 ** (32 - outer.len);
  return Math.floor(inner.ip / div) === Math.floor(outer.ip / div);
}

function describe(r: TableRoute): string {
  const parts = [r.type && r.type !== 'unicast' ? `${r.type} ${r.dst}` : r.dst];
  if (r.gateway) parts.push(`via ${r.gateway}`);
  if (r.dev) parts.push(`dev ${r.dev}`);
  if (r.protocol) parts.push(`proto ${r.protocol}`);
  return parts.join(' ');
}

/** ipLine renders an operation as an `ip -batch` line (the ip path, and how conflicts are named). */
export function ipLine(verb: RouteOp['kind'], r: KernelRoute): string {
  const spec: RouteSpec = { dst: r.dst };
  if (r.via !== undefined) spec.via = r.via;
  if (r.dev !== undefined) spec.dev = r.dev;
  if (r.onlink === true) spec.onlink = true;
  return `route ${verb} ${routeArgs(spec).join(' ')} proto ${WEFT_ROUTE_PROTO}`;
}

/** parseBatchErrors reads iproute2's `-force -batch` stderr: each failure's message and line. */
export function parseBatchErrors(stderr: string): Map<number, string> {
  const failed = new Map<number, string>();
  let pending: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)\s*$/.exec(line);
    if (m) {
      failed.set(Number(m[1]), pending.join(' ').trim() || 'failed');
      pending = [];
    } else if (line.trim() !== '') pending.push(line.trim());
  }
  return failed;
}

function ipProcess(
  netns: string | undefined,
  args: string[],
  input: string | null,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = netns ? ['-n', netns, ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn('ip', argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT' ? new ToolMissingError('ip', 'apt-get install iproute2') : e);
    });
    child.on('close', (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
]);

/**
 * parseRouteList reads `ip route show` text (cheaper than `-j` for a table of 10,000 routes: weft's
 * own lines are recognised by their protocol and only their prefix is taken).
 */
export function parseRouteList(text: string): TableRoute[] {
  const out: TableRoute[] = [];
  const ours = ` proto ${WEFT_ROUTE_PROTO} `;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith(' ') || line.startsWith('\t')) continue; // multipath nexthops
    // weft's own route (nearly every line of a big table): `PREFIX dev ... proto 87 ...`, only the
    // prefix is needed, without splitting the line into words.
    const sp = line.indexOf(' ');
    if (sp > 0 && line.includes(ours)) {
      const first = line.slice(0, sp);
      if (!ROUTE_TYPES.has(first)) {
        out.push({ dst: first, protocol: String(WEFT_ROUTE_PROTO) });
        continue;
      }
    }
    const w = line.trim().split(/\s+/);
    let i = 0;
    let type: string | undefined;
    if (ROUTE_TYPES.has(w[0]!)) type = w[i++];
    const dst = w[i++];
    if (dst === undefined) continue;
    if ((line + ' ').includes(ours)) {
      out.push({ dst, protocol: String(WEFT_ROUTE_PROTO) });
      continue;
    }
    const r: { dst: string; type?: string; gateway?: string; dev?: string; protocol?: string } = { dst };
    if (type !== undefined) r.type = type;
    for (; i < w.length - 1; i++) {
      if (w[i] === 'via') r.gateway = w[++i]!;
      else if (w[i] === 'dev') r.dev = w[++i]!;
      else if (w[i] === 'proto') r.protocol = w[++i]!;
    }
    out.push(r);
  }
  return out;
}

/** ipDeps runs the real `ip` (optionally in `netns`). */
export function ipDeps(netns?: string): RouteSyncDeps {
  return {
    async runBatch(ops) {
      const lines = ops.map((o) => ipLine(o.kind, o.route));
      const r = await ipProcess(netns, ['-force', '-batch', '-'], lines.join('\n') + '\n');
      const failed = new Map<number, string>();
      for (const [line, msg] of parseBatchErrors(r.stderr)) failed.set(line - 1, msg);
      if (r.code !== 0 && failed.size === 0) {
        // ip gave up without naming a line: count every line as failed rather than guess.
        const msg = r.stderr.trim() || `ip -batch exited ${r.code}`;
        for (let i = 0; i < lines.length; i++) failed.set(i, msg);
      }
      return { failed };
    },
    async listRoutes(scope) {
      const args = ['route', 'show', 'table', 'main'];
      if (scope !== null) args.push('root', scope);
      const r = await ipProcess(netns, args, null);
      if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
      return parseRouteList(r.stdout);
    },
  };
}

/** RouteGetRoute is the route `ip -j route get DST` prints (the fields weft reads). */
export interface RouteGetRoute {
  readonly dst?: string;
  /** Next hop; absent for a destination on a link of this host. */
  readonly gateway?: string;
  readonly dev?: string;
  readonly prefsrc?: string;
  /** `local`, `broadcast`, ...; absent for unicast. */
  readonly type?: string;
}

/** RouteGetAnswer is one destination's answer: the routes the kernel would use, or the error text. */
export type RouteGetAnswer = readonly RouteGetRoute[] | string;

/**
 * routeGetMany is `ip route get` for many destinations: per destination, the routes the kernel
 * would use, or iproute2's error text (`RTNETLINK answers: Network is unreachable`). Over one
 * rtnetlink socket opened for the call (rtnetlink-deps.ts: lookups in batches, no child process)
 * when every destination is an IPv4 address; through one `ip -j -force -batch -` otherwise, or
 * with `WEFT_ROUTE_IO=ip`, or when the socket cannot be opened. Both give the same answers.
 */
export async function routeGetMany(
  dsts: readonly string[],
  netns?: string,
  opts: { env?: NodeJS.ProcessEnv; log?: RouteSyncOptions['log'] } = {},
): Promise<RouteGetAnswer[]> {
  if (dsts.length === 0) return [];
  const io = parseRouteIo((opts.env ?? process.env)[ROUTE_IO_ENV]);
  if (io === 'netlink' && dsts.every((d) => tryIpv4ToU32(d) >= 0)) {
    const t = openNetlink(netns, opts.log);
    if (t !== null) {
      try {
        return await netlinkDeps(netns, t).routeGetMany(dsts);
      } finally {
        t.close?.();
      }
    }
  }
  return ipRouteGetMany(dsts, netns);
}

/**
 * ipRouteGetMany is routeGetMany through one `ip -j -force -batch -`: iproute2 prints one JSON
 * array per successful line and `Command failed -:N` for the others.
 */
export async function ipRouteGetMany(dsts: readonly string[], netns?: string): Promise<RouteGetAnswer[]> {
  if (dsts.length === 0) return [];
  const r = await ipProcess(
    netns,
    ['-j', '-force', '-batch', '-'],
    dsts.map((d) => `route get ${d}`).join('\n') + '\n',
  );
  const failed = parseBatchErrors(r.stderr);
  const outputs = r.stdout.split('\n').filter((l) => l.trim() !== '');
  const out: RouteGetAnswer[] = [];
  let next = 0;
  for (let i = 0; i < dsts.length; i++) {
    const err = failed.get(i + 1);
    if (err !== undefined) {
      out.push(err);
      continue;
    }
    const line = outputs[next++];
    try {
      const v = JSON.parse(line ?? '') as unknown;
      out.push(Array.isArray(v) ? (v as RouteGetRoute[]) : 'unexpected output');
    } catch {
      out.push(r.code !== 0 && failed.size === 0 ? r.stderr.trim() || 'ip failed' : 'unexpected output');
    }
  }
  return out;
}

/** RouteSync programs groups of kernel routes; see the module comment. */
export class RouteSync {
  private readonly owned = new Map<string, Owned>();
  private readonly deps: RouteSyncDeps;
  private readonly scope: string | null;
  private chain: Promise<unknown> = Promise.resolve();
  /** How routes reach the kernel: `netlink`, `ip`, or `custom` (deps given). */
  readonly io: 'netlink' | 'ip' | 'custom';

  constructor(opts: RouteSyncOptions = {}) {
    if (opts.deps) {
      this.deps = opts.deps;
      this.io = 'custom';
    } else {
      const d = routeDeps(opts.netns, opts.log);
      this.deps = d.deps;
      this.io = d.io;
    }
    this.scope = opts.scope ?? null;
  }

  /** size is the number of routes this process installed and still owns. */
  get size(): number {
    return this.owned.size;
  }

  /** routesOf lists the routes `group` owns. */
  routesOf(group: string): KernelRoute[] {
    const out: KernelRoute[] = [];
    for (const o of this.owned.values()) if (o.group === group) out.push(o.route);
    return out;
  }

  /** ownerOf names the group that installed `dst`, or undefined. */
  ownerOf(dst: string): string | undefined {
    return this.owned.get(dst)?.group;
  }

  /**
   * sync makes `group` own exactly `want` (one route per prefix). Calls are serialized. With
   * `exclusive` (lease routes), a candidate is also refused when a foreign route lies inside it.
   * Rejects only when `ip` itself cannot run; refused or failed routes are in the result.
   */
  sync(
    group: string,
    want: readonly KernelRoute[],
    opts: { exclusive?: boolean } = {},
  ): Promise<RouteSyncResult> {
    const run = this.chain.then(() => this.syncNow(group, want, opts.exclusive === true));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** release deletes every route `group` installed. */
  release(group: string): Promise<RouteSyncResult> {
    return this.sync(group, []);
  }

  /**
   * recover re-adds the routes of `group` that are gone from the table (deleted by hand or by
   * another tool), as flannel's host-gw route check does. A prefix that a route weft did not
   * install holds now is given up and reported as a conflict, never replaced.
   */
  recover(group: string): Promise<RouteSyncResult & { recovered: KernelRoute[] }> {
    const run = this.chain.then(() => this.recoverNow(group));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async recoverNow(group: string): Promise<RouteSyncResult & { recovered: KernelRoute[] }> {
    const res = {
      added: 0,
      replaced: 0,
      deleted: 0,
      conflicts: [] as RouteConflict[],
      errors: [] as RouteSyncResult['errors'],
      recovered: [] as KernelRoute[],
    };
    const mine = this.routesOf(group);
    if (mine.length === 0) return res;
    const table = await this.deps.listRoutes(this.scope);
    const byDst = new Map<string, TableRoute>();
    for (const t of table) byDst.set(t.dst.includes('/') ? t.dst : `${t.dst}/32`, t);
    const missing: KernelRoute[] = [];
    for (const r of mine) {
      const t = byDst.get(r.dst);
      if (t === undefined) missing.push(r);
      else if (t.protocol !== String(WEFT_ROUTE_PROTO)) {
        this.owned.delete(r.dst);
        res.conflicts.push({ route: r, holder: describe(t) });
      }
    }
    if (missing.length === 0) return res;
    const out = await this.deps.runBatch(missing.map((route) => ({ kind: 'add' as const, route })));
    missing.forEach((r, i) => {
      const err = out.failed.get(i);
      if (err === undefined) {
        res.added++;
        res.recovered.push(r);
      } else if (errnoFromIpStderr(err) === 'EEXIST') {
        this.owned.delete(r.dst);
        res.conflicts.push({ route: r, holder: 'a route added meanwhile' });
      } else res.errors.push({ route: r, op: 'add', error: err });
    });
    return res;
  }

  private async syncNow(
    group: string,
    want: readonly KernelRoute[],
    exclusive: boolean,
  ): Promise<RouteSyncResult> {
    const res: RouteSyncResult = { added: 0, replaced: 0, deleted: 0, conflicts: [], errors: [] };
    const wanted = new Map<string, KernelRoute>();
    for (const r of want) wanted.set(r.dst, r);
    const dels: KernelRoute[] = [];
    const replaces: KernelRoute[] = [];
    let candidates: KernelRoute[] = [];
    for (const [dst, o] of this.owned) {
      if (o.group === group && !wanted.has(dst)) dels.push(o.route);
    }
    for (const r of wanted.values()) {
      const o = this.owned.get(r.dst);
      if (o === undefined) candidates.push(r);
      else if (o.group !== group)
        res.conflicts.push({
          route: r,
          holder: `weft's ${o.group} route ${ipLine('add', o.route).slice(10)}`,
        });
      else if (!sameRoute(o.route, r)) replaces.push(r);
    }

    // 2. ownership check, against the table as it is now.
    const adds: KernelRoute[] = [];
    if (candidates.length > 0) {
      const table = await this.deps.listRoutes(this.scope);
      const exact = new Map<string, TableRoute>();
      const foreign: Array<{ p: { ip: number; len: number }; r: TableRoute }> = [];
      for (const t of table) {
        const dst = t.dst === 'default' ? '0.0.0.0/0' : t.dst.includes('/') ? t.dst : `${t.dst}/32`;
        const ours = t.protocol === String(WEFT_ROUTE_PROTO) || this.owned.has(dst);
        if (ours) {
          if (!exact.has(dst)) exact.set(dst, { ...t, protocol: 'weft' });
          continue;
        }
        exact.set(dst, t);
        const p = parsePrefix(dst);
        if (p) foreign.push({ p, r: t });
      }
      for (const r of candidates) {
        const t = exact.get(r.dst);
        if (t !== undefined && t.protocol !== 'weft') {
          res.conflicts.push({ route: r, holder: describe(t) });
          continue;
        }
        if (exclusive && foreign.length > 0) {
          const p = parsePrefix(r.dst);
          const inner = p ? foreign.find((f) => inside(f.p, p)) : undefined;
          if (inner) {
            res.conflicts.push({ route: r, holder: describe(inner.r) });
            continue;
          }
        }
        // A weft route left in the table (a killed weft) is taken over with replace.
        if (t !== undefined) replaces.push(r);
        else adds.push(r);
      }
    }
    candidates = [];

    // 3. one batch: deletes, then replaces, then adds.
    const ops: RouteOp[] = [
      ...dels.map((route) => ({ kind: 'del' as const, route })),
      ...replaces.map((route) => ({ kind: 'replace' as const, route })),
      ...adds.map((route) => ({ kind: 'add' as const, route })),
    ];
    if (ops.length === 0) return res;
    const out = await this.deps.runBatch(ops);
    ops.forEach((o, i) => {
      const err = out.failed.get(i);
      if (o.kind === 'del') {
        // Gone already (with the device, or replaced by someone else's route): ours no longer.
        this.owned.delete(o.route.dst);
        if (err === undefined) res.deleted++;
        else if (errnoFromIpStderr(err) !== 'ESRCH')
          res.errors.push({ route: o.route, op: o.kind, error: err });
        return;
      }
      if (err === undefined) {
        this.owned.set(o.route.dst, { group, route: o.route });
        if (o.kind === 'add') res.added++;
        else res.replaced++;
        return;
      }
      if (o.kind === 'add' && errnoFromIpStderr(err) === 'EEXIST') {
        res.conflicts.push({ route: o.route, holder: 'a route added meanwhile' });
      } else res.errors.push({ route: o.route, op: o.kind, error: err });
    });
    return res;
  }
}
