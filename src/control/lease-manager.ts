/**
 * lease-manager: acquiring and renewing this node's subnet lease, as flannel's LocalManager
 * (`pkg/subnet/etcd/local_manager.go` AcquireLease/tryAcquireLease, `main.go` renewal loop).
 *
 * Acquisition order, flannel's: (1) a lease that already carries our public IP, if it fits the
 * config, is rewritten with our attributes and a fresh TTL (incompatible ones are deleted);
 * (2) else the subnet from the previous subnet.env if nobody holds it; (3) else a random free one.
 * Difference from flannel: losing the create race (someone created that key first) makes flannel
 * exit; we re-list and try another subnet, up to `raceRetries` times.
 *
 * Renewal, flannel's: at `expiration - renewMargin` write the same value under a fresh TTL; on
 * failure retry every minute. When the TTL is shorter than the margin (tests, short-TTL setups) we
 * renew at half the TTL instead of spinning.
 */

import { LeaseError, WeftError } from '../errors';
import { allocateSubnet, isLeaseCompatible } from './allocator';
import { Ipv4Net, Ipv6Net, ipv4NetEqual, ipv4NetOverlaps, ipv6NetEqual, ipv6NetOverlaps } from '../net/addr';
import { Lease, LeaseAttrs, describeLease } from './lease';
import { NetworkConfig } from './net-config';
import { LeaseStore, SUBNET_TTL_SECONDS, SubnetTakenError } from './store';
import { PreviousSubnets } from './subnet-env';

/** RACE_RETRIES bounds how often acquire() tries again after losing a create race. */
export const RACE_RETRIES = 10;

/** ControlLog receives the control plane's structured log lines. */
export type ControlLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** LeaseManagerOptions configures a LeaseManager. */
export interface LeaseManagerOptions {
  readonly store: LeaseStore;
  readonly config: NetworkConfig;
  /** Attributes to publish: public IP(s), backend type and data (e.g. the VTEP MAC). */
  readonly attrs: LeaseAttrs;
  /** Subnets from an existing subnet.env, tried before a random pick. */
  readonly previous?: PreviousSubnets | null;
  /** Lease lifetime in seconds, default 86400 (`--subnet-lease-ttl`). */
  readonly ttlSeconds?: number;
  /** Renew this long before expiry, default 60 min (`--subnet-lease-renew-margin`). */
  readonly renewMarginMs?: number;
  /** Delay between failed renewals, default 60 s (flannel's). */
  readonly renewRetryMs?: number;
  readonly raceRetries?: number;
  readonly random?: () => number;
  readonly log?: ControlLog;
}

/** LeaseManager owns this node's lease: acquire it once, then keep it renewed. */
export class LeaseManager {
  private readonly o: LeaseManagerOptions;
  private readonly ttl: number;
  private readonly log: ControlLog;
  private current: Lease | null = null;
  private createdKey = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Called after every successful renewal (for metrics/logs); errors are passed to onRenewError. */
  onRenewed: (l: Lease) => void = () => {};
  onRenewError: (e: unknown) => void = () => {};

  constructor(opts: LeaseManagerOptions) {
    this.o = opts;
    this.ttl = opts.ttlSeconds ?? SUBNET_TTL_SECONDS;
    this.log = opts.log ?? (() => {});
  }

  /**
   * created is true when acquire() created a new key, false when it reused the lease already
   * held by our public IP (a failed start releases only the former).
   */
  get created(): boolean {
    return this.createdKey;
  }

  /** The lease held, or null before acquire(). */
  get lease(): Lease | null {
    return this.current;
  }

  /** acquire leases a subnet (see the order at the top of the file) and returns it. */
  async acquire(): Promise<Lease> {
    const { store, config, attrs } = this.o;
    const lostRaces: { subnet: Ipv4Net | null; ipv6Subnet: Ipv6Net | null }[] = [];
    const retries = this.o.raceRetries ?? RACE_RETRIES;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const { leases } = await store.listLeases();
      let others = [...leases];

      const mine = leases.find((l) =>
        config.enableIPv4 ? l.attrs.publicIp === attrs.publicIp : l.attrs.publicIpv6 === attrs.publicIpv6,
      );
      if (mine) {
        if (isLeaseCompatible(config, mine)) {
          const l = await store.updateLease(mine, attrs, this.ttl);
          this.log('info', 'reusing the lease held by our public IP', { lease: describeLease(l) });
          this.createdKey = false;
          return (this.current = l);
        }
        this.log('warn', 'deleting our old lease: it does not fit the network config', {
          lease: describeLease(mine),
        });
        await store.deleteLease(mine);
        others = others.filter((l) => l !== mine);
      }

      const taken = [...others, ...lostRaces];
      const prev = this.o.previous;
      const prevRef = prev && {
        subnet: config.enableIPv4 ? prev.subnet : null,
        ipv6Subnet: config.enableIPv6 ? prev.ipv6Subnet : null,
      };
      const prevFree =
        prevRef &&
        isLeaseCompatible(config, prevRef) &&
        !taken.some(
          (l) =>
            (prevRef.subnet && l.subnet && ipv4NetOverlaps(prevRef.subnet, l.subnet)) ||
            (prevRef.ipv6Subnet && l.ipv6Subnet && ipv6NetOverlaps(prevRef.ipv6Subnet, l.ipv6Subnet)),
        );
      const ref = prevFree ? prevRef! : allocateSubnet(config, taken, this.o.random);
      try {
        const l = await store.createLease(ref, attrs, this.ttl);
        this.log(
          'info',
          prevFree ? 'leased the subnet from the previous subnet.env' : 'leased a new subnet',
          {
            lease: describeLease(l),
          },
        );
        this.createdKey = true;
        return (this.current = l);
      } catch (e) {
        if (!(e instanceof SubnetTakenError)) throw e;
        // flannel exits here (the etcd v3 race path); we pick again without that subnet.
        this.log('warn', 'lost the race for a subnet; trying another', { key: e.key, attempt });
        lostRaces.push(ref);
      }
    }
    throw new LeaseError(`could not lease a subnet: lost ${retries + 1} races in a row`);
  }

  /** renew rewrites the lease with a fresh TTL now. */
  async renew(): Promise<Lease> {
    if (!this.current) throw new LeaseError('renew before acquire');
    const l = await this.o.store.updateLease(this.current, this.o.attrs, this.ttl);
    this.current = l;
    return l;
  }

  /** Delay until the next renewal: expiration - margin, or half the TTL when the margin is longer. */
  nextRenewalDelayMs(now = Date.now()): number {
    const margin = this.o.renewMarginMs ?? 60 * 60 * 1000;
    const ttlMs = this.ttl * 1000;
    const exp = this.current?.expiration?.getTime() ?? now + ttlMs;
    const effMargin = margin >= ttlMs ? ttlMs / 2 : margin;
    return Math.max(0, exp - effMargin - now);
  }

  /** startRenewal keeps the lease renewed until stop(). */
  startRenewal(): void {
    this.stopped = false;
    this.schedule(this.nextRenewalDelayMs());
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    // setTimeout caps at 2^31-1 ms (~24.8 days); a 23 h delay fits.
    this.timer = setTimeout(() => void this.tick(), Math.min(ms, 0x7fffffff));
  }

  private async tick(): Promise<void> {
    this.timer = null;
    try {
      const l = await this.renew();
      this.log('info', 'lease renewed', { lease: describeLease(l), expires: l.expiration?.toISOString() });
      this.onRenewed(l);
      this.schedule(this.nextRenewalDelayMs());
    } catch (e) {
      this.log('error', 'lease renewal failed; retrying', {
        error: e instanceof WeftError ? e.message : String(e),
      });
      this.onRenewError(e);
      this.schedule(this.o.renewRetryMs ?? 60_000);
    }
  }

  /** stop ends renewal; the lease itself stays in the store (the next start reuses it). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** release deletes the lease from the store (not used on a normal shutdown). */
  async release(): Promise<void> {
    this.stop();
    if (this.current) await this.o.store.deleteLease(this.current);
    this.current = null;
  }

  /** isOwn is true when `l` names our leased subnet(s). */
  isOwn(l: Pick<Lease, 'subnet' | 'ipv6Subnet'>): boolean {
    const c = this.current;
    return c !== null && ipv4NetEqual(c.subnet, l.subnet) && ipv6NetEqual(c.ipv6Subnet, l.ipv6Subnet);
  }
}
