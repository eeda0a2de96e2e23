/**
 * netns: network namespaces and veth pairs for labs.
 *
 * - Namespaces get `lo` up and no default route, so nothing leaves them; underlays use
 *   documentation ranges (192.0.2.0/24). IPv6 stays on, as on a user's host: every device sends
 *   its own router solicitations and MLD (weft counts those from its TUN as `link_scope`).
 * - Every namespace and process registers its undo in the lab's `Cleanup` and in `lastResort`.
 * - Processes are started with `ip netns exec NS cmd`, which execs in place: the PID is the
 *   command's own.
 */
import { Cleanup, lastResort } from './cleanup';
import { Proc, type ProcOptions } from './proc';
import { sh, uniqueName, waitFor, type ShOptions } from './shell';

/** MAC_RE matches a lower-case colon-separated MAC address as `ip -br link` prints it. */
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** netnsExec returns the `ip` arguments that run `cmd args` inside namespace `ns`. */
export function netnsExec(ns: string, cmd: string, args: readonly string[]): string[] {
  return ['netns', 'exec', ns, cmd, ...args];
}

/** Netns is one network namespace created by a lab. */
export class Netns {
  private constructor(
    /** The namespace name. */
    readonly name: string,
    private readonly cleanup: Cleanup,
  ) {}

  /**
   * create adds a namespace (named `name`, or unique from `prefix`), brings `lo` up and registers
   * its deletion (after its processes are stopped) in `cleanup`. The namespace keeps the kernel's
   * defaults (IPv6 on, as on a user's host), so every device in it sends its own neighbour
   * discovery and MLD, weft's TUN included.
   */
  static create(cleanup: Cleanup, prefix = 'wt', name = uniqueName(prefix)): Netns {
    sh('ip', ['netns', 'add', name]);
    lastResort.addNamespace(name);
    const ns = new Netns(name, cleanup);
    cleanup.add(`ip netns del ${name}`, () => {
      sh('ip', ['netns', 'del', name]);
      lastResort.deleteNamespace(name);
    });
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /**
   * attach wraps a namespace made elsewhere (a Testbed node) so the lab helpers can work in it:
   * processes spawned through it are stopped by `cleanup`; the namespace itself is left to its owner.
   */
  static attach(cleanup: Cleanup, name: string): Netns {
    return new Netns(name, cleanup);
  }

  /** ip runs `ip -n NS ...args` and returns stdout. */
  ip(...args: string[]): string {
    return sh('ip', ['-n', this.name, ...args]);
  }

  /** exec runs `cmd args` inside the namespace, synchronously, and returns stdout. */
  exec(cmd: string, args: readonly string[], opts: ShOptions = {}): string {
    return sh('ip', netnsExec(this.name, cmd, args), opts);
  }

  /** spawn starts `cmd args` inside the namespace; it is stopped (SIGTERM, then SIGKILL) on cleanup. */
  spawn(label: string, cmd: string, args: readonly string[], opts: ProcOptions = {}): Proc {
    const p = new Proc(label, 'ip', netnsExec(this.name, cmd, args), opts);
    this.cleanup.add(`stop ${label} (pid ${p.pid})`, async () => {
      await p.stop(2000);
    });
    return p;
  }

  /** hasLink is true when interface `dev` exists in the namespace. */
  hasLink(dev: string): boolean {
    try {
      this.ip('link', 'show', dev);
      return true;
    } catch {
      return false;
    }
  }

  /** linkMac returns the MAC address of interface `dev`. */
  linkMac(dev: string): string {
    const out = this.ip('-br', 'link', 'show', dev).trim();
    const mac = out.split(/\s+/)[2];
    if (!mac || !MAC_RE.test(mac)) throw new Error(`no MAC for ${dev} in ${this.name}: ${out}`);
    return mac;
  }

  /** listening is true when a TCP socket listens on `port` in the namespace. */
  listening(port: number): boolean {
    return this.exec('ss', ['-Htln', `sport = :${port}`]).includes(`:${port}`);
  }
}

/**
 * addVethPair creates a veth pair with end `aDev` in namespace `a` and `bDev` in `b`, both with
 * MTU `mtu` (the ends vanish with their namespaces).
 */
export function addVethPair(a: string, aDev: string, b: string, bDev: string, mtu: number): void {
  sh('ip', [
    'link', 'add', aDev, 'netns', a, 'mtu', String(mtu),
    'type', 'veth', 'peer', 'name', bDev, 'netns', b, 'mtu', String(mtu),
  ]); // prettier-ignore
}

/** Underlay is two namespaces joined by a veth pair with documentation-range addresses. */
export interface Underlay {
  a: Netns;
  b: Netns;
  aDev: string;
  bDev: string;
  /** Underlay IPv4 of `a` (192.0.2.1) and `b` (192.0.2.2). */
  aIp: string;
  bIp: string;
  mtu: number;
}

/**
 * createUnderlay builds two fresh namespaces (name prefixes `prefix` + a / b) joined by veth,
 * 192.0.2.1/24 and 192.0.2.2/24, MTU `mtu`, links up.
 */
export function createUnderlay(cleanup: Cleanup, mtu = 1500, prefix = 'wt'): Underlay {
  const a = Netns.create(cleanup, `${prefix}a`);
  const b = Netns.create(cleanup, `${prefix}b`);
  const aDev = uniqueName('va');
  const bDev = uniqueName('vb');
  addVethPair(a.name, aDev, b.name, bDev, mtu);
  const aIp = '192.0.2.1';
  const bIp = '192.0.2.2';
  a.ip('addr', 'add', `${aIp}/24`, 'dev', aDev);
  b.ip('addr', 'add', `${bIp}/24`, 'dev', bDev);
  a.ip('link', 'set', aDev, 'up');
  b.ip('link', 'set', bDev, 'up');
  return { a, b, aDev, bDev, aIp, bIp, mtu };
}

/**
 * startSocatTun starts `socat TUN:ADDR,up,tun-type=tun,iff-no-pi,tun-name=DEV
 * UDP-DATAGRAM:REMOTE:PORT,bind=LOCAL:PORT` (anchors.md scenario B; raw IP in UDP =
 * the flannel-UDP wire format), waits for the device and sets its MTU (socat has no MTU option).
 * anchors.md's `UDP:` address connects its socket, and a connected UDP socket turns the ICMP port
 * unreachable for the first packet its TUN sends before the peer listens (with IPv6 on, the
 * kernel's own router solicitation) into ECONNREFUSED, on which socat exits; the unconnected
 * `UDP-DATAGRAM` socket carries the same datagrams and ignores that error.
 */
export async function startSocatTun(
  ns: Netns,
  o: { dev: string; address: string; local: string; remote: string; port: number; mtu: number },
): Promise<Proc> {
  const p = ns.spawn(`socat-tun ${ns.name}`, 'socat', [
    '-b', '65536',
    `TUN:${o.address},up,tun-type=tun,iff-no-pi,tun-name=${o.dev}`,
    `UDP-DATAGRAM:${o.remote}:${o.port},bind=${o.local}:${o.port}`,
  ]); // prettier-ignore
  await waitFor(
    () => ns.hasLink(o.dev),
    5000,
    `socat TUN ${o.dev} in ${ns.name}`,
    () => p.log,
  );
  ns.ip('link', 'set', o.dev, 'mtu', String(o.mtu));
  return p;
}
