/**
 * direct-routes: the kernel routes a node adds besides the dataplane's TUN routes:
 * - vxlan `DirectRouting` (flannel's vxlan backend): a peer whose public IP is on our L2 gets
 *   `<subnet> via <PublicIP>` instead of encapsulation (`classify` decides, `sync` programs);
 * - host-gw: every peer gets `<subnet> via <PublicIP> dev <iface>` (`sync` with the interface);
 * - `--ip-blackhole-route`: `blackhole <own subnet>` (`addBlackhole`).
 * All of them go through the daemon's RouteSync (group `direct`): batched, `proto 87`, never over
 * a route weft did not install.
 */
import * as netdev from '../io/netdev';
import { routeGetMany, type RouteConflict, type RouteSync } from '../io/route-sync';
import type { PeerSpec } from '../route/route-table';
import type { DaemonCounters } from '../metrics/metrics';
import type { Logger } from './log';
import type { Rollback } from './startup';

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** DirectRoutesDeps are the daemon's parts the direct routes use. */
export interface DirectRoutesDeps {
  log: Logger;
  counters: DaemonCounters;
  /** The daemon's route programmer (null before the lease is held). */
  routes: () => RouteSync | null;
  /** Told about routes a foreign kernel route holds (refused as `route_conflict`). */
  onConflicts: (group: string, conflicts: readonly RouteConflict[]) => void;
}

/** DirectRoutes keeps the DirectRouting classification and programs the `direct` routes. */
export class DirectRoutes {
  /** host-gw: the external interface every routed peer's route names (`dev`); null otherwise. */
  hostGwDev: string | null = null;
  /** Per peer subnet: the public IP last classified and whether it was directly connected. */
  private readonly cache = new Map<string, { publicIp: string; direct: boolean }>();

  constructor(private readonly d: DirectRoutesDeps) {}

  /** forget drops the classification of `subnet`, so that it is asked again (its lease changed). */
  forget(subnet: string): void {
    this.cache.delete(subnet);
  }

  /**
   * classify splits peers as flannel's vxlan backend does with `DirectRouting`: a peer whose
   * public IP `ip route get` resolves to one route without a gateway is on our L2 and is routed
   * directly; every other peer is encapsulated. Only peers not classified yet are asked, in one
   * batch of lookups (routeGetMany: rtnetlink, no child process).
   */
  async classify(all: readonly PeerSpec[]): Promise<{ encap: PeerSpec[]; direct: PeerSpec[] }> {
    const encap: PeerSpec[] = [];
    const direct: PeerSpec[] = [];
    const seen = new Set<string>();
    const ask = all.filter((p) => this.cache.get(p.subnet)?.publicIp !== p.publicIp);
    const ips = [...new Set(ask.map((p) => p.publicIp))];
    let answers: Awaited<ReturnType<typeof routeGetMany>> = [];
    try {
      answers = await routeGetMany(ips);
    } catch (e) {
      answers = ips.map(() => errMsg(e));
    }
    const byIp = new Map<string, (typeof answers)[number]>();
    ips.forEach((ip, i) => byIp.set(ip, answers[i] ?? 'no answer'));
    for (const p of ask) {
      const a = byIp.get(p.publicIp)!;
      if (typeof a === 'string') {
        // As flannel: log it and use VXLAN; the next change of this lease asks again.
        this.d.log.error(`couldn't lookup route to ${p.publicIp}`, { subnet: p.subnet, error: a });
        this.cache.delete(p.subnet);
        continue;
      }
      // flannel's ip.DirectRouting: exactly one route, without a gateway.
      this.cache.set(p.subnet, {
        publicIp: p.publicIp,
        direct: a.length === 1 && a[0]!.gateway === undefined,
      });
    }
    for (const p of all) {
      seen.add(p.subnet);
      const c = this.cache.get(p.subnet);
      (c?.publicIp === p.publicIp && c.direct ? direct : encap).push(p);
    }
    for (const k of [...this.cache.keys()]) if (!seen.has(k)) this.cache.delete(k);
    return { encap, direct };
  }

  /** sync makes the `direct` routes exactly `<subnet> via <publicIp>` of `want`. */
  async sync(want: readonly PeerSpec[]): Promise<void> {
    const routes = this.d.routes();
    if (routes === null) return;
    const { log, counters } = this.d;
    const before = new Map(routes.routesOf('direct').map((r) => [r.dst, r.via]));
    if (want.length === 0 && before.size === 0) return;
    for (const p of want) {
      if (before.get(p.subnet) !== p.publicIp)
        log.info(`Adding direct route to subnet: ${p.subnet} PublicIP: ${p.publicIp}`);
    }
    const wanted = new Map(want.map((p) => [p.subnet, p.publicIp]));
    for (const [dst, gw] of before) {
      if (wanted.get(dst) !== gw) log.info(`Removing direct route to subnet: ${dst} PublicIP: ${gw}`);
    }
    try {
      const r = await routes.sync(
        'direct',
        want.map((p) => ({ dst: p.subnet, via: p.publicIp, dev: this.hostGwDev ?? undefined })),
        { exclusive: true },
      );
      for (const e of r.errors) {
        // Not recorded as installed, so the next peer change tries again.
        counters.routeErrors++;
        log.error(
          `Error ${e.op === 'del' ? 'deleting' : 'adding'} route to ${e.route.dst} via ${e.route.via}`,
          {
            error: e.error,
          },
        );
      }
      this.d.onConflicts('direct', r.conflicts);
    } catch (e) {
      counters.routeErrors++;
      log.error('could not program the direct routes', { error: errMsg(e) });
    }
    counters.directRoutes = routes.routesOf('direct').length;
  }

  /** addBlackholeUndoable is addBlackhole, registering the route's removal in `undo` when added. */
  async addBlackholeUndoable(subnet: string, undo: Rollback): Promise<void> {
    if (await this.addBlackhole(subnet)) {
      undo.add(`the blackhole route ${subnet}`, () => netdev.ip(['route', 'del', 'blackhole', subnet]));
    }
  }

  /**
   * addBlackhole is flannel's `--ip-blackhole-route`: `blackhole <own subnet>` unless present.
   * Resolves true when it added the route.
   */
  async addBlackhole(subnet: string): Promise<boolean> {
    try {
      const added = await netdev.addBlackholeRoute(subnet);
      this.d.log.info(added ? 'added the blackhole route' : 'the blackhole route is already there', {
        route: `blackhole ${subnet}`,
      });
      return added;
    } catch (e) {
      // flannel logs this and runs on (e.g. another route with the same prefix and metric).
      this.d.counters.routeErrors++;
      this.d.log.error('failed to add the blackhole route', {
        route: `blackhole ${subnet}`,
        error: errMsg(e),
      });
      return false;
    }
  }
}
