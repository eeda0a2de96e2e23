/**
 * tun-routes: the kernel routes of a DataplaneNode's TUN, one `<peer subnet> dev <tun>` per peer,
 * programmed through route-sync.ts (group `tun`: one batch per sync, `proto 87`, never over
 * a route weft did not install).
 */
import { ConfigError, SystemError } from '../errors';
import { errnoFromIpStderr } from '../io/netdev';
import type { KernelRoute, RouteSync, RouteSyncResult } from '../io/route-sync';
import type { Peer } from '../route/peer';
import type { RouteTable } from '../route/route-table';

/** TunRoutes keeps one KernelRoute per Peer, so a sync of 10,000 unchanged peers allocates none. */
export class TunRoutes {
  private readonly records = new WeakMap<Peer, KernelRoute>();

  /** `strict`: a prefix held by a foreign route is a ConfigError at start (a private programmer). */
  constructor(
    private readonly routes: RouteSync,
    private readonly dev: string,
    private readonly strict: boolean,
  ) {}

  /**
   * sync makes the kernel route exactly the table's subnets into the TUN, in one batch. A subnet
   * whose prefix is held by a route weft did not install is left alone (and reported in the
   * result); `atStart` turns the first error into a SystemError, and with `strict` the first
   * conflict into a ConfigError.
   */
  async sync(table: RouteTable, atStart = false): Promise<RouteSyncResult> {
    const dev = this.dev;
    const want: KernelRoute[] = [];
    for (const p of table.peers) {
      // Unchanged peers keep their Peer object across incremental updates, and so their route.
      let r = this.records.get(p);
      if (r === undefined) this.records.set(p, (r = { dst: p.subnet, dev }));
      want.push(r);
    }
    const r = await this.routes.sync('tun', want, { exclusive: true });
    if (r.errors.length > 0 && atStart) {
      const e = r.errors[0]!;
      throw new SystemError(
        `ip route ${e.op} ${e.route.dst} dev ${dev}`,
        errnoFromIpStderr(e.error),
        e.error,
      );
    }
    if (r.conflicts.length > 0 && atStart && this.strict) {
      const c = r.conflicts[0]!;
      throw new ConfigError(
        '--peer',
        `must not take over a route weft did not install (${c.holder})`,
        c.route.dst,
      );
    }
    return r;
  }

  /** release deletes every TUN route (if any were installed). */
  async release(): Promise<void> {
    if (this.routes.routesOf('tun').length > 0) await this.routes.release('tun').catch(() => undefined);
  }
}
