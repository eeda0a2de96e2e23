/**
 * http: the daemon's HTTP endpoints.
 *   `--healthz-ip:--healthz-port` (flannel's): GET /healthz -> 200 while the process runs and holds
 *     its lease; GET /readyz -> 200 once the lease is held, the dataplane forwards and the first
 *     lease snapshot is applied, else 503.
 *   `--metrics-ip:--metrics-port` (weft's): GET /metrics (Prometheus text format).
 *   with `--debug`, on the metrics server (or the healthz server when metrics are off):
 *     GET /debug/routes (own node + peers, JSON; `weft trace` reads it), /debug/stats (dataplane
 *     counters, JSON), /debug/flows (per-flow counters: the top flows by bytes in each direction,
 *     `?top=N` (default 50), `?ip=A.B.C.D` for only the flows to or from that address; plus routes
 *     and totals).
 * When both servers would use the same ip:port, one server serves everything.
 * Exposure: without an explicit `--metrics-ip` / `--healthz-ip` the servers listen on 0.0.0.0
 * (flanneld's healthz does), but /debug/* (lease keys, public IPs, VTEP MACs, inner 5-tuples)
 * answers only connections that arrive on a loopback address (`debugLoopbackOnly`); others get
 * 403 naming the flag that opens it. An address given explicitly is the operator's choice: /debug
 * answers whoever reaches it.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';
import { SystemError } from '../errors';
import type { DataplaneFlows, DataplaneStats } from '../dataplane/node';
import { tryIpv4ToU32 } from '../net/addr';
import type { DebugRoutes } from './daemon';

/** HttpSource is what the endpoints read. */
export interface HttpSource {
  healthy(): boolean;
  ready(): boolean;
  debugRoutes(): DebugRoutes;
  stats(): DataplaneStats | null;
  /** Per-flow counters (`DataplaneNode.flows`); absent or null when the dataplane keeps none. */
  flows?(top: number, ip?: number): DataplaneFlows | null;
  /** refresh fetches worker threads' counters before a scrape (`DataplaneNode.refreshStats`). */
  refresh?(): Promise<void>;
}

/** Endpoint groups a server serves. */
export interface EndpointSet {
  health: boolean;
  metrics: boolean;
  debug: boolean;
  /** /debug/* answers only connections to a loopback address (the listen address was a default). */
  debugLoopbackOnly?: boolean;
  /** The flag that serves /debug beyond loopback, named in the 403 (default `--metrics-ip`). */
  debugAddressFlag?: string;
}

/** isLoopback says whether a socket address (IPv4, or IPv4-mapped IPv6) is in 127.0.0.0/8 or ::1. */
export function isLoopback(addr: string | undefined): boolean {
  if (addr === undefined) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a.startsWith('127.') || a === '::1';
}

/** handler builds the request handler for one server. */
export function makeHandler(
  src: HttpSource,
  registry: Registry | null,
  eps: EndpointSet,
): http.RequestListener {
  const send = (
    res: http.ServerResponse,
    code: number,
    body: string,
    type = 'text/plain; charset=utf-8',
  ): void => {
    res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const json = (res: http.ServerResponse, v: unknown): void =>
    send(res, 200, JSON.stringify(v, null, 2) + '\n', 'application/json');
  const fresh = (): Promise<void> => src.refresh?.() ?? Promise.resolve();
  /** debugCounters serves /debug/stats and /debug/flows (after `fresh`). */
  const debugCounters = (url: string, query: string | undefined, res: http.ServerResponse): void => {
    if (url === '/debug/stats') return json(res, src.stats());
    const q = new URLSearchParams(query ?? '');
    const topText = q.get('top');
    const top = topText !== null && /^\d+$/.test(topText) ? Number(topText) : 50;
    const ipText = q.get('ip');
    const ip = ipText === null ? -1 : tryIpv4ToU32(ipText);
    if (ipText !== null && ip < 0) return send(res, 400, `ip: not an IPv4 address: ${ipText}\n`);
    const flows = src.flows?.(top, ip < 0 ? undefined : ip) ?? null;
    return json(res, {
      perFlowCounters: flows !== null,
      ...(flows === null
        ? { note: 'the dataplane keeps no per-flow counters (it runs without --debug)' }
        : {}),
      ...(ipText !== null ? { ip: ipText } : {}),
      flows,
      ...src.debugRoutes(),
      stats: src.stats(),
    });
  };
  return (req, res) => {
    const [url, query] = (req.url ?? '/').split('?') as [string, string | undefined];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    if (eps.health && url === '/healthz') {
      return src.healthy() ? send(res, 200, 'weft is running\n') : send(res, 503, 'weft holds no lease\n');
    }
    if (eps.health && url === '/readyz') {
      return src.ready() ? send(res, 200, 'weft is ready\n') : send(res, 503, 'weft is not ready yet\n');
    }
    if (eps.metrics && registry && url === '/metrics') {
      fresh()
        .then(() => registry.metrics())
        .then((text) => send(res, 200, text, registry.contentType))
        .catch((e: unknown) => send(res, 500, `metrics failed: ${String(e)}\n`));
      return;
    }
    if (
      eps.debug &&
      eps.debugLoopbackOnly &&
      url.startsWith('/debug/') &&
      !isLoopback(req.socket.localAddress)
    ) {
      const flag = eps.debugAddressFlag ?? '--metrics-ip';
      return send(
        res,
        403,
        `/debug answers on loopback only (connect to 127.0.0.1); set ${flag} to serve it on an address\n`,
      );
    }
    if (eps.debug && (url === '/debug/stats' || url === '/debug/flows')) {
      fresh()
        .then(() => debugCounters(url, query, res))
        .catch((e: unknown) => send(res, 500, `${url} failed: ${String(e)}\n`));
      return;
    }
    if (eps.debug && url === '/debug/routes') return json(res, src.debugRoutes());
    send(res, 404, 'not found\n');
  };
}

/** listen starts a server on ip:port; rejects with SystemError (e.g. EADDRINUSE). */
export function listen(handler: http.RequestListener, ip: string, port: number): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const srv = http.createServer(handler);
    srv.once('error', (e: NodeJS.ErrnoException) =>
      reject(new SystemError(`listen ${ip}:${port}`, e.code ?? 'UNKNOWN', e.message)),
    );
    srv.listen(port, ip, () => {
      srv.removeAllListeners('error');
      resolve(srv);
    });
  });
}

/** closeServer stops accepting and closes idle keep-alive connections. */
export function closeServer(srv: http.Server): Promise<void> {
  return new Promise((resolve) => {
    srv.close(() => resolve());
    srv.closeAllConnections();
  });
}
