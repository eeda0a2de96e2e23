/**
 * rtnetlink-deps: RouteSyncDeps over an rtnetlink socket, with no child process (no fork() of a
 * large process whose forwarding threads would wait on its page tables). Same semantics as the
 * `ip -force -batch -` path (route-sync.ts ipDeps): every route carries `proto 87`, deletes name
 * it, `add` is NLM_F_CREATE|NLM_F_EXCL (fails if the prefix appeared), `replace` is
 * NLM_F_CREATE|NLM_F_REPLACE, each operation is acked on its own and a failure names iproute2's
 * text (`RTNETLINK answers: File exists`), and the table read is a dump of the main table.
 *
 * Stages of `runBatch(ops)`:
 *   1. one RTM_GETLINK dump: device names -> indexes (in the socket's namespace)
 *   2. per chunk of CHUNK operations: messages written into one buffer (src/wire/rtnetlink.ts), one
 *      native send + receive-until-acked off the main thread (native/src/netlink.cc)
 *   3. each NLMSG_ERROR mapped back to its operation by sequence number
 * Chunks keep every ack inside the socket's receive buffer (an overrun would lose acks).
 *
 * `routeGetMany(dsts)` (`ip route get` for many IPv4 destinations, route-sync.ts) goes the same
 * way: one link dump, then per chunk one RTM_GETROUTE lookup per destination in one send, each
 * answered by an RTM_NEWROUTE and an ack, or by an NLMSG_ERROR, matched by sequence number.
 */
import { ConfigError, SystemError } from '../errors';
import {
  AF_INET,
  DUMP_REQUEST_SIZE,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELROUTE,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTN_NAMES,
  RTN_UNICAST,
  RTN_UNSPEC,
  RTNH_F_ONLINK,
  RTPROT_BOOT,
  RTPROT_NAMES,
  ROUTE_GET_REQUEST_SIZE,
  ROUTE_REQUEST_MAX,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  parseError,
  parseErrorText,
  parseLink,
  parseMessages,
  parseRoute,
  writeDumpRequest,
  writeRouteGetRequest,
  writeRouteRequest,
  type NetlinkMessage,
  type RouteInfo,
} from '../wire/rtnetlink';
import { tryIpv4ToU32, tryParseIpv6, u32ToIpv4 } from '../net/addr';
import { callNative, loadBinding, toSystemError, type NativeBinding } from './binding';
import type {
  BatchOutcome,
  RouteGetAnswer,
  RouteGetRoute,
  RouteOp,
  RouteSyncDeps,
  TableRoute,
} from './route-sync';

/** WEFT_ROUTE_PROTO, repeated here so that route-sync.ts can import this module without a cycle. */
const PROTO = 87;
/** Operations per send: their acks (a few hundred bytes of skb each) fit the receive buffer. */
export const NETLINK_CHUNK = 256;
/** SO_RCVBUF asked for (SO_RCVBUFFORCE with CAP_NET_ADMIN): a dump's replies and a chunk's acks. */
const RCVBUF = 4 << 20;
/** RTM_F_CLONED: a cached route, never listed by `ip route show`. */
const RTM_F_CLONED = 0x200;

/** NetlinkTransport sends a request and returns every reply message's bytes (a seam for tests). */
export interface NetlinkTransport {
  transact(request: Uint8Array, firstSeq: number, lastSeq: number, dump: boolean): Promise<Uint8Array>;
  /** strerror() text (`File exists`) and errno name (`EEXIST`) of a kernel error. */
  errnoText(errno: number): string;
  errnoName(errno: number): string;
  /** Closes the socket (a transport opened for one call); later calls fail. */
  close?(): void;
}

/** NetlinkRouteDeps are RouteSyncDeps plus route lookups over the same socket. */
export interface NetlinkRouteDeps extends RouteSyncDeps {
  /** `ip route get` for each IPv4 destination: its route, or iproute2's error text. */
  routeGetMany(dsts: readonly string[]): Promise<RouteGetAnswer[]>;
}

/**
 * nativeTransport opens an rtnetlink socket (in `netns` when given) through the addon. Throws a
 * SystemError when the socket cannot be opened (e.g. seccomp) or the addon lacks the calls.
 */
export function nativeTransport(netns?: string): NetlinkTransport {
  const b: NativeBinding = loadBinding();
  const open = b.netlinkOpen;
  const transact = b.netlinkTransact;
  if (open === undefined || transact === undefined)
    throw new SystemError(
      'netlinkOpen',
      'ENOSYS',
      'the native addon predates rtnetlink (npm run build:native)',
    );
  const fd = callNative(() => open(netns ?? null, RCVBUF));
  const t: NetlinkTransport = {
    async transact(request, first, last, dump) {
      try {
        return await transact(fd, request, first, last, dump);
      } catch (e) {
        throw toSystemError(e);
      }
    },
    errnoText: (n) => b.errnoMessage?.(n) ?? b.errnoName(n),
    errnoName: (n) => b.errnoName(n),
    close() {
      if (!sockets.unregister(t)) return;
      b.closeFd(fd);
    },
  };
  // A RouteSync's socket lives as long as it does (the daemon's: the whole run).
  sockets.register(t, fd, t);
  return t;
}

const sockets = new FinalizationRegistry<number>((fd) => {
  try {
    loadBinding().closeFd(fd);
  } catch {
    // Already closed: nothing to release.
  }
});

/** ip6OrNull parses IPv6 text into 16 fresh bytes (control path), or null. */
function ip6OrNull(s: string): Uint8Array | null {
  const b = new Uint8Array(16);
  return tryParseIpv6(s, b) ? b : null;
}

function prefixOf(s: string): { ip: number; len: number } | null {
  if (s === 'default') return { ip: 0, len: 0 };
  const slash = s.indexOf('/');
  const ip = tryIpv4ToU32(slash < 0 ? s : s.slice(0, slash));
  const lenText = slash < 0 ? '32' : s.slice(slash + 1);
  const len = /^\d{1,2}$/.test(lenText) ? Number(lenText) : NaN;
  if (ip < 0 || !(len >= 0 && len <= 32)) return null;
  return { ip, len };
}

function prefix6Of(s: string): { ip: Uint8Array; len: number } | null {
  const slash = s.indexOf('/');
  const ip = ip6OrNull(slash < 0 ? s : s.slice(0, slash));
  const lenText = slash < 0 ? '128' : s.slice(slash + 1);
  const len = /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (ip === null || !(len >= 0 && len <= 128)) return null;
  return { ip, len };
}

function routeDst(ip: number, len: number): string {
  if (len === 0) return 'default';
  return len === 32 ? u32ToIpv4(ip) : `${u32ToIpv4(ip)}/${len}`;
}

/** ipErrorText is what iproute2 prints: the kernel's extended-ack message, else strerror(). */
function ipErrorText(strerror: string, extack: string | undefined): string {
  if (extack === undefined || extack === '') return `RTNETLINK answers: ${strerror}`;
  return `Error: ${extack}${extack.endsWith('.') ? '' : '.'}`;
}

/** lookupAnswer is a lookup's RTM_NEWROUTE as `ip -j route get` prints its essentials. */
function lookupAnswer(r: RouteInfo, byIndex: ReadonlyMap<number, string>): RouteGetRoute {
  const a: { dst: string; type?: string; gateway?: string; dev?: string; prefsrc?: string } = {
    dst: routeDst(r.dst, r.dstLen),
  };
  if (r.type !== RTN_UNICAST) a.type = RTN_NAMES[r.type] ?? String(r.type);
  if (r.gateway !== undefined) a.gateway = u32ToIpv4(r.gateway);
  if (r.oif !== undefined) a.dev = byIndex.get(r.oif) ?? `if${r.oif}`;
  if (r.prefsrc !== undefined) a.prefsrc = u32ToIpv4(r.prefsrc);
  return a;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * netlinkDeps is RouteSyncDeps over `transport` (default: a native rtnetlink socket in `netns`).
 * Calls are serialized on the socket.
 */
export function netlinkDeps(
  netns?: string,
  transport: NetlinkTransport = nativeTransport(netns),
): NetlinkRouteDeps {
  let seq = (Date.now() & 0x3fffffff) + 1;
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn);
    chain = run.catch(() => undefined);
    return run;
  };
  const nextSeq = (n: number): number => {
    if (seq + n > 0xffffffff) seq = 1;
    const first = seq;
    seq += n;
    return first;
  };

  async function dump(type: number): Promise<{ buf: Uint8Array; msgs: NetlinkMessage[] }> {
    const req = new Uint8Array(DUMP_REQUEST_SIZE);
    const s = nextSeq(1);
    const len = writeDumpRequest(req, 0, type, s);
    const buf = await transport.transact(req.subarray(0, len), s, s, true);
    const msgs: NetlinkMessage[] = [];
    for (const m of parseMessages(buf)) {
      if (m.seq !== s) continue;
      if (m.type === NLMSG_ERROR) {
        const errno = parseError(buf, m);
        if (errno === 0) break;
        const op = type === RTM_GETLINK ? 'RTM_GETLINK' : 'RTM_GETROUTE';
        throw new SystemError(op, transport.errnoName(errno), transport.errnoText(errno));
      }
      if (m.type === NLMSG_DONE) break;
      msgs.push(m);
    }
    return { buf, msgs };
  }

  async function links(): Promise<{ byName: Map<string, number>; byIndex: Map<number, string> }> {
    const { buf, msgs } = await dump(RTM_GETLINK);
    const byName = new Map<string, number>();
    const byIndex = new Map<number, string>();
    for (const m of msgs) {
      if (m.type !== RTM_NEWLINK) continue;
      const l = parseLink(buf, m);
      byName.set(l.name, l.index);
      byIndex.set(l.index, l.name);
    }
    return { byName, byIndex };
  }

  async function runBatch(ops: readonly RouteOp[]): Promise<BatchOutcome> {
    const failed = new Map<number, string>();
    if (ops.length === 0) return { failed };
    let byName: Map<string, number>;
    try {
      byName = (await links()).byName;
    } catch (e) {
      const msg = errText(e);
      ops.forEach((_, i) => failed.set(i, msg));
      return { failed };
    }
    const buf = new Uint8Array(Math.min(ops.length, NETLINK_CHUNK) * ROUTE_REQUEST_MAX);
    for (let start = 0; start < ops.length; start += NETLINK_CHUNK) {
      const end = Math.min(ops.length, start + NETLINK_CHUNK);
      const first = nextSeq(end - start);
      const sent: number[] = [];
      let off = 0;
      for (let i = start; i < end; i++) {
        const { kind, route: r } = ops[i]!;
        // An IPv6 prefix (a `--peer` of weft link) is an AF_INET6 route, as `ip` decides by the text.
        const v6 = r.dst.includes(':');
        const p = v6 ? prefix6Of(r.dst) : prefixOf(r.dst);
        const gw = r.via === undefined ? undefined : v6 ? ip6OrNull(r.via) : tryIpv4ToU32(r.via);
        const oif = r.dev === undefined ? undefined : byName.get(r.dev);
        if (p === null) failed.set(i, `Error: any valid prefix is expected rather than "${r.dst}".`);
        else if (gw === null || (typeof gw === 'number' && gw < 0))
          failed.set(i, `Error: ${v6 ? 'inet6' : 'inet'} address is expected rather than "${r.via}".`);
        else if (r.dev !== undefined && oif === undefined) failed.set(i, `Cannot find device "${r.dev}"`);
        if (failed.has(i)) continue;
        const del = kind === 'del';
        off = writeRouteRequest(buf, off, {
          type: del ? RTM_DELROUTE : RTM_NEWROUTE,
          flags:
            kind === 'add'
              ? NLM_F_CREATE | NLM_F_EXCL
              : kind === 'replace'
                ? NLM_F_CREATE | NLM_F_REPLACE
                : 0,
          seq: first + sent.length,
          table: RT_TABLE_MAIN,
          protocol: PROTO,
          // As iproute2 does: a delete matches any scope and type; a route without a gateway is a
          // link route. IPv6 routes are always RT_SCOPE_UNIVERSE.
          scope: v6
            ? RT_SCOPE_UNIVERSE
            : del
              ? RT_SCOPE_NOWHERE
              : gw === undefined
                ? RT_SCOPE_LINK
                : RT_SCOPE_UNIVERSE,
          rtype: del ? RTN_UNSPEC : RTN_UNICAST,
          rtmFlags: r.onlink === true ? RTNH_F_ONLINK : 0,
          dst: p!.ip,
          dstLen: p!.len,
          ...(gw !== undefined && gw !== null ? { gateway: gw } : {}),
          ...(oif !== undefined ? { oif } : {}),
        });
        sent.push(i);
      }
      if (sent.length === 0) continue;
      try {
        // Sent operation k has sequence number first + k (operations refused above have none).
        const reply = await transport.transact(buf.subarray(0, off), first, first + sent.length - 1, false);
        const acked = new Set<number>();
        for (const m of parseMessages(reply)) {
          if (m.type !== NLMSG_ERROR || m.seq < first || m.seq >= first + sent.length) continue;
          const i = sent[m.seq - first]!;
          acked.add(i);
          const errno = parseError(reply, m);
          if (errno !== 0) failed.set(i, ipErrorText(transport.errnoText(errno), parseErrorText(reply, m)));
        }
        for (const i of sent) if (!acked.has(i)) failed.set(i, 'no answer from the kernel');
      } catch (e) {
        // The kernel's answer for this chunk is unknown: count each of its operations as failed.
        const msg = errText(e);
        for (const i of sent) failed.set(i, msg);
      }
    }
    return { failed };
  }

  async function listRoutes(scope: string | null): Promise<TableRoute[]> {
    let root: { ip: number; len: number } | null = null;
    if (scope !== null) {
      root = prefixOf(scope);
      if (root === null) throw new ConfigError('route scope', 'must be an IPv4 prefix A.B.C.D/N', scope);
    }
    const { byIndex } = await links();
    const { buf, msgs } = await dump(RTM_GETROUTE);
    const out: TableRoute[] = [];
    const div = root === null ? 1 : 2 ** (32 - root.len);
    for (const m of msgs) {
      if (m.type !== RTM_NEWROUTE) continue;
      const r = parseRoute(buf, m);
      if (r.family !== AF_INET || r.table !== RT_TABLE_MAIN || (r.flags & RTM_F_CLONED) !== 0) continue;
      // `root SCOPE`: routes whose prefix lies inside SCOPE.
      if (root !== null && (r.dstLen < root.len || Math.floor(r.dst / div) !== Math.floor(root.ip / div)))
        continue;
      const t: { dst: string; dev?: string; gateway?: string; protocol?: string; type?: string } = {
        dst: routeDst(r.dst, r.dstLen),
      };
      // As `ip route show`: `proto boot` (the default) is not printed.
      if (r.protocol !== RTPROT_BOOT) t.protocol = RTPROT_NAMES.get(r.protocol) ?? String(r.protocol);
      if (r.type !== RTN_UNICAST) t.type = RTN_NAMES[r.type] ?? String(r.type);
      if (r.gateway !== undefined) t.gateway = u32ToIpv4(r.gateway);
      if (r.oif !== undefined) t.dev = byIndex.get(r.oif) ?? `if${r.oif}`;
      out.push(t);
    }
    return out;
  }

  async function routeGetMany(dsts: readonly string[]): Promise<RouteGetAnswer[]> {
    const out: RouteGetAnswer[] = new Array<RouteGetAnswer>(dsts.length);
    if (dsts.length === 0) return out;
    let byIndex: Map<number, string>;
    try {
      byIndex = (await links()).byIndex;
    } catch (e) {
      return out.fill(errText(e));
    }
    const buf = new Uint8Array(Math.min(dsts.length, NETLINK_CHUNK) * ROUTE_GET_REQUEST_SIZE);
    for (let start = 0; start < dsts.length; start += NETLINK_CHUNK) {
      const end = Math.min(dsts.length, start + NETLINK_CHUNK);
      const first = nextSeq(end - start);
      const sent: number[] = [];
      let off = 0;
      for (let i = start; i < end; i++) {
        const ip = tryIpv4ToU32(dsts[i]!);
        if (ip < 0) out[i] = `Error: any valid prefix is expected rather than "${dsts[i]}".`;
        else {
          off = writeRouteGetRequest(buf, off, first + sent.length, ip);
          sent.push(i);
        }
      }
      if (sent.length === 0) continue;
      try {
        const reply = await transport.transact(buf.subarray(0, off), first, first + sent.length - 1, false);
        const found: Array<RouteGetRoute | undefined> = new Array<RouteGetRoute | undefined>(sent.length);
        const acked = new Set<number>();
        for (const m of parseMessages(reply)) {
          if (m.seq < first || m.seq >= first + sent.length) continue;
          const k = m.seq - first;
          if (m.type === RTM_NEWROUTE) found[k] = lookupAnswer(parseRoute(reply, m), byIndex);
          else if (m.type === NLMSG_ERROR) {
            acked.add(k);
            const errno = parseError(reply, m);
            if (errno !== 0)
              out[sent[k]!] = ipErrorText(transport.errnoText(errno), parseErrorText(reply, m));
          }
        }
        sent.forEach((i, k) => {
          if (out[i] !== undefined) return;
          const r = found[k];
          out[i] = !acked.has(k)
            ? 'no answer from the kernel'
            : r === undefined
              ? 'no route in the answer'
              : [r];
        });
      } catch (e) {
        // The kernel's answer for this chunk is unknown: each of its lookups failed with the reason.
        const msg = errText(e);
        for (const i of sent) out[i] = msg;
      }
    }
    return out;
  }

  return {
    runBatch: (ops) => serial(() => runBatch(ops)),
    listRoutes: (scope) => serial(() => listRoutes(scope)),
    routeGetMany: (dsts) => serial(() => routeGetMany(dsts)),
  };
}
