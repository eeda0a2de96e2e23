/**
 * underlay-mtu: notices a change of the underlay interface's MTU under a running node and says
 * what it means for the overlay (control path, one SIOCGIFMTU ioctl per tick, no process spawned).
 *
 * The TUN MTU stays what it was (flannel leaves flannel.1's MTU alone too, and FLANNEL_MTU in
 * subnet.env was already handed to pods); what changes is the path MTU, the largest inner packet
 * the underlay carries unfragmented (underlay MTU - 50 VXLAN / - 28 flannel-UDP). The node applies
 * it to every queue: TCP super-packets are cut into segments that fit, larger DF packets get ICMP
 * fragmentation-needed (as kernel VXLAN's PMTU check), and the rest leave fragmented (outer DF
 * clear, like flannel.1). Before the next tick sees the change, the addon already re-sends GSO
 * trains the kernel refuses with EMSGSIZE as plain datagrams, so nothing is lost meanwhile.
 */

/** UnderlayMtuEvent is what the node reports to its owner (a log line with these fields). */
export interface UnderlayMtuEvent {
  /** 'changed': the interface MTU changed; 'fragmenting': GSO trains went out fragmented. */
  kind: 'changed' | 'fragmenting';
  /** One line for the operator, naming the MTUs. */
  message: string;
  iface: string;
  /** Underlay MTU before and now (equal for 'fragmenting'). */
  oldMtu: number;
  underlayMtu: number;
  /** TUN MTU (unchanged) and the path MTU now applied. */
  tunMtu: number;
  pathMtu: number;
  /** Trains sent as plain datagrams because a segment exceeded the MTU, so far. */
  gsoMtuSplits: number;
}

/** describeMtuChange is the operator's line for an MTU change of `iface`. */
export function describeMtuChange(
  iface: string,
  oldMtu: number,
  newMtu: number,
  tunMtu: number,
  overhead: number,
): string {
  const pathMtu = newMtu - overhead;
  const head = `underlay MTU changed on ${iface}: ${oldMtu} -> ${newMtu}; path MTU ${pathMtu} (underlay - ${overhead})`;
  if (pathMtu >= tunMtu) return `${head} carries the TUN MTU ${tunMtu} unfragmented`;
  return (
    `${head} is below the TUN MTU ${tunMtu}: TCP segments are cut to ${pathMtu} bytes, ` +
    `larger DF packets get ICMP fragmentation-needed (mtu ${pathMtu}), others leave fragmented (outer DF clear); ` +
    `set the underlay MTU back or restart with a smaller MTU to avoid it`
  );
}

/** UnderlayMtuWatchOptions configure an UnderlayMtuWatch. */
export interface UnderlayMtuWatchOptions {
  /** Reads the interface's MTU now; may throw (interface gone): the tick is then skipped. */
  read: () => number;
  /** The MTU the node started with. */
  initial: number;
  /** Called with the new MTU when it differs from the last one seen. */
  onChange: (oldMtu: number, newMtu: number) => void;
  /** Called on every tick (after a change, if any): e.g. to look at counters. */
  onTick?: () => void;
  /** Tick period, default 1000 ms. */
  intervalMs?: number;
}

/** UnderlayMtuWatch polls the underlay MTU; its timer never keeps the process alive. */
export class UnderlayMtuWatch {
  private last: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: UnderlayMtuWatchOptions) {
    this.last = o.initial;
  }

  /** mtu is the last MTU seen. */
  get mtu(): number {
    return this.last;
  }

  /** start begins polling. Idempotent. */
  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.check(), this.o.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** check reads the MTU once and reports a change; returns the MTU seen (or the last one). */
  check(): number {
    let now: number;
    try {
      now = this.o.read();
    } catch {
      return this.last;
    }
    if (now !== this.last && now > 0) {
      const old = this.last;
      this.last = now;
      this.o.onChange(old, now);
    }
    this.o.onTick?.();
    return this.last;
  }

  /** stop ends polling. Idempotent. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
