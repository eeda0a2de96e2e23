/**
 * netns: a small harness for tests and benchmarks that need real kernel network objects.
 *
 * Design notes:
 * - Every name (namespace, veth, TUN) is unique per process (pid + counter) so parallel runs and
 *   leftovers of a crashed run never collide; interface names stay within IFNAMSIZ-1 = 15 chars.
 * - Everything a helper creates is registered in a `Cleanup` (reverse order, processes first, then
 *   namespaces). Tests call `cleanupFor(t)` so cleanup runs in `t.after`, also on failure; a
 *   process 'exit' hook is the last line of defence (SIGKILL by PID, `ip netns del`).
 * - Processes are killed by PID only. `ip netns exec NS cmd` execs `cmd` in place, so the PID of
 *   the spawned child is the PID of `cmd` itself.
 * - Namespaces get no default route and IPv6 is disabled (no router solicitations or DAD noise
 *   on a fresh TUN, so socat's connected UDP socket never sees an early ECONNREFUSED).
 */
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { DataplaneStats } from '../../src/dataplane/node';

import { WEFT_BIN } from './paths';

export { REPO_ROOT, WEFT_BIN } from './paths';

/** requireRoot throws (failing the test loudly) unless running as root, which these tests need. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('this test needs root (network namespaces, veth, TUN, kernel VXLAN); CI runs as root');
  }
}

let counter = 0;
/**
 * uniqueName returns `prefix` + pid + counter, at most 15 characters (a valid interface name).
 * The prefix should be short (<= 4 chars) so the pid and counter fit.
 */
export function uniqueName(prefix: string): string {
  counter++;
  const name = `${prefix}${process.pid}x${counter}`;
  if (name.length > 15) return `${prefix}${process.pid % 1_000_000}x${counter % 1000}`.slice(0, 15);
  return name;
}

/** run executes a command synchronously and returns stdout; on failure the error names the command and its stderr. */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string | Buffer; timeoutMs?: number } = {},
): string {
  try {
    return execFileSync(cmd, args, {
      input: opts.input,
      timeout: opts.timeoutMs ?? 30_000,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; status?: number | null; message: string };
    throw new Error(
      `command failed: ${cmd} ${args.join(' ')} (status ${e.status ?? '?'}): ${(e.stderr || e.message).trim()}`,
    );
  }
}

/** Cleanup collects undo actions and runs them in reverse order; errors are collected, not thrown early. */
export class Cleanup {
  private readonly actions: Array<{ what: string; fn: () => void | Promise<void> }> = [];
  private done = false;

  /** add registers an undo action. */
  add(what: string, fn: () => void | Promise<void>): void {
    this.actions.push({ what, fn });
  }

  /** run executes all actions in reverse registration order; it is idempotent. */
  async run(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const errors: string[] = [];
    for (const a of this.actions.reverse()) {
      try {
        await a.fn();
      } catch (err) {
        errors.push(`${a.what}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) process.stderr.write(`netns cleanup had errors:\n  ${errors.join('\n  ')}\n`);
  }
}

/** cleanupFor returns a Cleanup that runs when test context `t` finishes (pass or fail). */
export function cleanupFor(t: { after(fn: () => void | Promise<void>): void }): Cleanup {
  const c = new Cleanup();
  t.after(() => c.run());
  return c;
}

// Last line of defence if the test runner dies between creation and t.after.
const livePids = new Set<number>();
const liveNamespaces = new Set<string>();
process.on('exit', () => {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const ns of liveNamespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
});

/** Proc is a child process started by the harness, with line-buffered stdout and a bounded log. */
export class Proc {
  /** The underlying child process. */
  readonly child: ChildProcess;
  /** PID of the process (the command itself: `ip netns exec` execs in place). */
  readonly pid: number;
  /** Everything the process wrote so far (stdout and stderr interleaved), for diagnostics. */
  log = '';
  /** Complete stdout lines so far. */
  readonly lines: string[] = [];
  private partial = '';
  private waiters: Array<{ re: RegExp; from: number; resolve: (l: string) => void }> = [];
  /** Resolves with the exit code (or 128 + signal number style string) when the process ends. */
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(
    readonly label: string,
    cmd: string,
    args: string[],
    opts: { captureStdout?: boolean } = {},
  ) {
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error(`${label}: spawn ${cmd} failed`);
    this.pid = this.child.pid;
    livePids.add(this.pid);
    this.child.stdin?.on('error', () => {});
    if (opts.captureStdout !== false) {
      this.child.stdout!.setEncoding('utf8');
      this.child.stdout!.on('data', (s: string) => this.onStdout(s));
    }
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => this.append(s));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        livePids.delete(this.pid);
        this.exitCode = code;
        if (signal) this.append(`[${label} killed by ${signal}]\n`);
        resolve(code);
      });
    });
  }

  private append(s: string): void {
    this.log += s;
    if (this.log.length > 200_000) this.log = this.log.slice(-100_000);
  }

  private onStdout(s: string): void {
    this.append(s);
    const parts = (this.partial + s).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.lines.push(line);
    this.waiters = this.waiters.filter((w) => {
      for (let i = w.from; i < this.lines.length; i++) {
        if (w.re.test(this.lines[i]!)) {
          w.resolve(this.lines[i]!);
          return false;
        }
      }
      return true;
    });
  }

  /** running is true until the process has exited. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /**
   * waitForLine resolves with the first stdout line at index >= `from` matching `re`; it rejects
   * after `timeoutMs` or when the process exits first, quoting its output.
   */
  waitForLine(re: RegExp, timeoutMs = 10_000, from = 0): Promise<string> {
    for (let i = from; i < this.lines.length; i++)
      if (re.test(this.lines[i]!)) return Promise.resolve(this.lines[i]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`${this.label}: no line matching ${re} within ${timeoutMs} ms; output:\n${this.log}`),
        );
      }, timeoutMs);
      const w = {
        re,
        from,
        resolve: (l: string) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      this.waiters.push(w);
      void this.exited.then((code) => {
        if (!this.waiters.includes(w)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(
          new Error(`${this.label}: exited (${code}) before a line matching ${re}; output:\n${this.log}`),
        );
      });
    });
  }

  /** signal sends `sig` to the process by PID (no-op once it has exited). */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      /* raced with exit */
    }
  }

  /** stop sends SIGTERM, escalates to SIGKILL after `graceMs`, and resolves with the exit code. */
  async stop(graceMs = 3000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** Netns is one network namespace created by the harness. */
export class Netns {
  private constructor(
    /** The namespace name. */
    readonly name: string,
    private readonly cleanup: Cleanup,
  ) {}

  /**
   * create adds a namespace (unique name from `prefix`), brings `lo` up, disables IPv6 and
   * registers its deletion (after its processes are killed) in `cleanup`.
   */
  static create(cleanup: Cleanup, prefix = 'wt'): Netns {
    const name = uniqueName(prefix);
    run('ip', ['netns', 'add', name]);
    liveNamespaces.add(name);
    const ns = new Netns(name, cleanup);
    cleanup.add(`ip netns del ${name}`, () => {
      run('ip', ['netns', 'del', name]);
      liveNamespaces.delete(name);
    });
    ns.exec('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** ip runs `ip -n NS ...args` and returns stdout. */
  ip(...args: string[]): string {
    return run('ip', ['-n', this.name, ...args]);
  }

  /** exec runs `cmd args` inside the namespace, synchronously, and returns stdout. */
  exec(cmd: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): string {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  /** spawn starts `cmd args` inside the namespace; it is stopped (SIGTERM, then SIGKILL) on cleanup. */
  spawn(label: string, cmd: string, args: string[], opts: { captureStdout?: boolean } = {}): Proc {
    const p = new Proc(label, 'ip', ['netns', 'exec', this.name, cmd, ...args], opts);
    this.cleanup.add(`stop ${label} (pid ${p.pid})`, async () => {
      await p.stop(2000);
    });
    return p;
  }

  /** linkMac returns the MAC address of interface `dev`. */
  linkMac(dev: string): string {
    const out = this.ip('-br', 'link', 'show', dev).trim();
    const mac = out.split(/\s+/)[2];
    if (!mac || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac))
      throw new Error(`no MAC for ${dev} in ${this.name}: ${out}`);
    return mac;
  }
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

/** createUnderlay builds two fresh namespaces joined by veth (192.0.2.1/24 and 192.0.2.2/24, MTU `mtu`). */
export function createUnderlay(cleanup: Cleanup, mtu = 1500): Underlay {
  const a = Netns.create(cleanup, 'wta');
  const b = Netns.create(cleanup, 'wtb');
  const aDev = uniqueName('va');
  const bDev = uniqueName('vb');
  run('ip', [
    'link', 'add', aDev, 'netns', a.name, 'mtu', String(mtu),
    'type', 'veth', 'peer', 'name', bDev, 'netns', b.name, 'mtu', String(mtu),
  ]); // prettier-ignore
  const aIp = '192.0.2.1';
  const bIp = '192.0.2.2';
  a.ip('addr', 'add', `${aIp}/24`, 'dev', aDev);
  b.ip('addr', 'add', `${bIp}/24`, 'dev', bDev);
  a.ip('link', 'set', aDev, 'up');
  b.ip('link', 'set', bDev, 'up');
  return { a, b, aDev, bDev, aIp, bIp, mtu };
}

/** KernelFlannelOptions describes one flannel-style kernel VXLAN VTEP (anchors.md scenario A). */
export interface KernelFlannelOptions {
  /** Device name; flannel uses `flannel.<VNI>`, unique per namespace so `flannel.1` is fine. */
  dev?: string;
  vni?: number;
  port?: number;
  /** Underlay address and device (the VTEP's `local` and `dev`). */
  local: string;
  underlayDev: string;
  /** The node's lease subnet, e.g. `10.244.0.0/24`; `<net>.0/32` goes on the device, `<net>.1/32` on lo. */
  subnet: string;
  underlayMtu: number;
}

/** KernelVtep is a configured kernel VTEP: its device, MAC and the addresses it got. */
export interface KernelVtep {
  dev: string;
  mac: string;
  /** `<subnet>.0`, the device address (source of host-originated overlay traffic). */
  vtepIp: string;
  /** `<subnet>.1` on lo, standing in for a pod / cni0 address. */
  podIp: string;
}

function netPrefix3(subnet: string): string {
  const m = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(subnet);
  if (!m) throw new Error(`harness supports /24 subnets like 10.244.0.0/24, got ${subnet}`);
  return m[1]!;
}

/**
 * setupKernelFlannel creates a kernel VXLAN VTEP exactly as flannel does (vxlan id 1, dstport 8472,
 * nolearning, MTU underlay - 50, `<subnet>.0/32` on the device) and `<subnet>.1/32` on lo.
 */
export function setupKernelFlannel(ns: Netns, o: KernelFlannelOptions): KernelVtep {
  const dev = o.dev ?? 'flannel.1';
  const p = netPrefix3(o.subnet);
  ns.ip(
    'link', 'add', dev, 'type', 'vxlan', 'id', String(o.vni ?? 1), 'dstport', String(o.port ?? 8472),
    'local', o.local, 'dev', o.underlayDev, 'nolearning',
  ); // prettier-ignore
  ns.ip('link', 'set', dev, 'mtu', String(o.underlayMtu - 50), 'up');
  ns.ip('addr', 'add', `${p}.0/32`, 'dev', dev);
  ns.ip('addr', 'add', `${p}.1/32`, 'dev', 'lo');
  return { dev, mac: ns.linkMac(dev), vtepIp: `${p}.0`, podIp: `${p}.1` };
}

/**
 * addKernelFlannelPeer installs flannel's per-lease state for a remote node, in flannel's order
 * (neighbour, FDB, then route, so the kernel never ARPs): `<peer>.0 lladdr MAC permanent`,
 * `bridge fdb append MAC dst PUBLIC_IP`, `route SUBNET via <peer>.0 onlink`.
 */
export function addKernelFlannelPeer(
  ns: Netns,
  vtep: KernelVtep,
  peer: { subnet: string; mac: string; publicIp: string },
): void {
  const gw = `${netPrefix3(peer.subnet)}.0`;
  ns.ip('neigh', 'add', gw, 'lladdr', peer.mac, 'dev', vtep.dev, 'nud', 'permanent');
  ns.exec('bridge', ['fdb', 'append', peer.mac, 'dev', vtep.dev, 'dst', peer.publicIp]);
  ns.ip('route', 'add', peer.subnet, 'via', gw, 'dev', vtep.dev, 'onlink');
}

/** KernelVsWeft is the kernel-vs-weft testbed: flannel's kernel VTEP in `u.a`, weft's side in `u.b`. */
export interface KernelVsWeft {
  u: Underlay;
  /** The kernel VTEP in `u.a` for 10.244.0.0/24 (pod stand-in `k.podIp` = 10.244.0.1). */
  k: KernelVtep;
}

/**
 * setupKernelVsWeft builds an underlay, flannel's kernel VTEP for 10.244.0.0/24 in `u.a` at the
 * kernel's default offloads (so its inner TCP/UDP checksums reach weft partial, see
 * disableTxChecksumOffload) and 10.244.1.1/32 on `u.b`'s lo as the pod stand-in behind the weft
 * node that startWeftVsKernel later starts in `u.b`. `txChecksum: 'off'` applies flannel's
 * workaround instead, for the one test that shows the complete-checksum path too.
 */
export function setupKernelVsWeft(cleanup: Cleanup, o: { txChecksum?: 'on' | 'off' } = {}): KernelVsWeft {
  const u = createUnderlay(cleanup);
  const k = setupKernelFlannel(u.a, {
    local: u.aIp,
    underlayDev: u.aDev,
    subnet: '10.244.0.0/24',
    underlayMtu: u.mtu,
  });
  if (o.txChecksum === 'off') disableTxChecksumOffload(u.a, k.dev);
  u.b.ip('addr', 'add', '10.244.1.1/32', 'dev', 'lo');
  return { u, k };
}

/**
 * startWeftVsKernel starts `weft link --backend vxlan` for 10.244.1.0/24 in `u.b` (device name from
 * `devPrefix`, plus `extra` flags) peered with the kernel VTEP, then installs weft as a peer on the
 * kernel side the way flannel does (addKernelFlannelPeer).
 */
export async function startWeftVsKernel(
  { u, k }: KernelVsWeft,
  devPrefix: string,
  extra: string[] = [],
): Promise<{ proc: Proc; mac: string; startLine: string }> {
  const w = await startWeftLink(u.b, [
    '--backend', 'vxlan', '--dev', uniqueName(devPrefix), '--local', u.bIp, '--address', '10.244.1.0/32',
    '--peer', `10.244.0.0/24=${u.aIp},${k.mac}`, ...extra,
  ]); // prettier-ignore
  if (w.mac === null) throw new Error(`weft vxlan printed no VTEP MAC: ${w.startLine}`);
  addKernelFlannelPeer(u.a, k, { subnet: '10.244.1.0/24', mac: w.mac, publicIp: u.bIp });
  return { proc: w.proc, mac: w.mac, startLine: w.startLine };
}

/**
 * disableTxChecksumOffload runs flannel's documented workaround `ethtool -K DEV
 * tx-checksum-ip-generic off` (flannel PR #1282) on a kernel VTEP.
 *
 * What it changes: over veth nothing ever "offloads" the checksum, so at the defaults a kernel
 * VXLAN sender leaves the inner TCP/UDP checksum partial (CHECKSUM_PARTIAL: the field holds the
 * pseudo-header sum) and veth hands the skb to the peer unchanged; weft completes such checksums
 * (src/offload/partial-csum.ts). With the workaround the sender completes them itself. Tests run at
 * the defaults; exactly one test uses this, to show the complete-checksum and coalescing paths.
 */
export function disableTxChecksumOffload(ns: Netns, dev: string): void {
  ns.exec('ethtool', ['-K', dev, 'tx-checksum-ip-generic', 'off']);
}

/**
 * startSocatTun starts `socat TUN:ADDR,up,tun-type=tun,iff-no-pi,tun-name=DEV UDP:REMOTE:PORT,sourceport=PORT`
 * (anchors.md scenario B; raw IP in UDP = the flannel-UDP wire format), waits for the device and sets
 * its MTU (socat has no MTU option).
 */
export async function startSocatTun(
  ns: Netns,
  o: { dev: string; address: string; local: string; remote: string; port: number; mtu: number },
): Promise<Proc> {
  const p = ns.spawn(`socat-tun ${ns.name}`, 'socat', [
    '-b', '65536',
    `TUN:${o.address},up,tun-type=tun,iff-no-pi,tun-name=${o.dev}`,
    `UDP:${o.remote}:${o.port},sourceport=${o.port},bind=${o.local}`,
  ]); // prettier-ignore
  await waitFor(
    () => {
      try {
        ns.ip('link', 'show', o.dev);
        return true;
      } catch {
        return false;
      }
    },
    5000,
    `socat TUN ${o.dev} in ${ns.name}`,
    () => p.log,
  );
  ns.ip('link', 'set', o.dev, 'mtu', String(o.mtu));
  return p;
}

/** waitFor polls `cond` every 50 ms until it is true or `timeoutMs` passes (then throws). */
export async function waitFor(
  cond: () => boolean,
  timeoutMs: number,
  what: string,
  diag?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${diag ? `; output:\n${diag()}` : ''}`);
    await sleep(50);
  }
}

/** sleep resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** PingResult is ping's summary line. */
export interface PingResult {
  transmitted: number;
  received: number;
  output: string;
}

/**
 * ping sends `count` ICMP echoes from `ns` to `dst` (optionally from `source`) and returns the
 * counts; it never throws on loss, only when ping did not send all `count` echoes.
 */
export function ping(
  ns: Netns,
  dst: string,
  o: { count?: number; source?: string; size?: number } = {},
): PingResult {
  const count = o.count ?? 3;
  const args = ['-n', '-c', String(count), '-i', '0.2', '-W', '2'];
  if (o.source) args.push('-I', o.source);
  if (o.size !== undefined) args.push('-s', String(o.size));
  args.push(dst);
  let output: string;
  try {
    output = execFileSync('ip', ['netns', 'exec', ns.name, 'ping', ...args], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  // No summary means ping never ran (missing, bad address): 0 of 0 must not read as "no loss".
  const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
  if (!m || Number(m[1]) !== count)
    throw new Error(`ping ${dst} in ${ns.name} did not send ${count} echoes: ${output}`);
  return { transmitted: count, received: Number(m[2]), output };
}

/** TransferResult describes one TCP transfer: sizes and SHA-256 on each end. */
export interface TransferResult {
  bytesSent: number;
  bytesReceived: number;
  sha256Sent: string;
  sha256Received: string;
  ms: number;
}

/**
 * tcpTransfer sends `bytes` random bytes over TCP from `client` to `server` listening on
 * `addr:port` (socat on both ends; optional client `bind` source address) and hashes the data on
 * both ends with SHA-256. It resolves when the server has seen EOF.
 */
export async function tcpTransfer(
  server: Netns,
  client: Netns,
  o: { addr: string; port?: number; bytes?: number; bind?: string; timeoutMs?: number },
): Promise<TransferResult> {
  const port = o.port ?? 5001;
  // IPv6 addresses: socat's TCP6 addresses, with the address in brackets.
  const v6 = o.addr.includes(':');
  const tcp = v6 ? 'TCP6' : 'TCP';
  const host = v6 ? `[${o.addr}]` : o.addr;
  const bind = o.bind === undefined ? '' : `,bind=${o.bind.includes(':') ? `[${o.bind}]` : o.bind}`;
  const data = randomBytes(o.bytes ?? 20 * 1024 * 1024);
  const sha256Sent = createHash('sha256').update(data).digest('hex');
  const t0 = Date.now();
  const srv = server.spawn(
    `socat-srv ${server.name}`,
    'socat',
    ['-u', `${tcp}-LISTEN:${port},bind=${host},reuseaddr`, 'STDOUT'],
    { captureStdout: false },
  );
  const hash = createHash('sha256');
  let bytesReceived = 0;
  srv.child.stdout!.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytesReceived += chunk.length;
  });
  const srvEnd = new Promise<void>((resolve) => srv.child.stdout!.on('end', () => resolve()));
  await waitFor(
    () => server.exec('ss', ['-Htln', `sport = :${port}`]).includes(`:${port}`),
    5000,
    `socat listening on ${o.addr}:${port}`,
    () => srv.log,
  );
  const cli = client.spawn(`socat-cli ${client.name}`, 'socat', [
    '-u',
    'STDIN',
    `${tcp}:${host}:${port}${bind},connect-timeout=5`,
  ]);
  cli.child.stdin!.end(data);
  const timeoutMs = o.timeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `TCP transfer to ${o.addr}:${port} did not finish in ${timeoutMs} ms (received ${bytesReceived} of ${data.length}); client: ${cli.log}; server: ${srv.log}`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    const [cliCode] = await Promise.race([Promise.all([cli.exited, srvEnd, srv.exited]), timeout]);
    if (cliCode !== 0) throw new Error(`socat client exited ${cliCode}: ${cli.log}`);
  } finally {
    clearTimeout(timer);
    await cli.stop(500);
    await srv.stop(500);
  }
  return {
    bytesSent: data.length,
    bytesReceived,
    sha256Sent,
    sha256Received: hash.digest('hex'),
    ms: Date.now() - t0,
  };
}

/**
 * startWeftLink spawns `ip netns exec NS node bin/weft link ARGS`, waits for its "ready" line and
 * returns the process and the VTEP MAC from its start line.
 */
export async function startWeftLink(
  ns: Netns,
  args: string[],
  timeoutMs = 10_000,
): Promise<{ proc: Proc; mac: string | null; startLine: string }> {
  const proc = ns.spawn(`weft link ${ns.name}`, process.execPath, [WEFT_BIN, 'link', ...args]);
  const startLine = await proc.waitForLine(/^weft link: dev /, timeoutMs);
  const m = /vtep-mac ([0-9a-f:]{17}|-)/.exec(startLine);
  if (!m) throw new Error(`no vtep-mac in start line: ${startLine}`);
  await proc.waitForLine(/^ready$/, timeoutMs);
  return { proc, mac: m[1] === '-' ? null : m[1]!, startLine };
}

/** WeftStats is the JSON object `weft link` prints after `stats ` on SIGUSR1 or every --stats interval. */
export type WeftStats = DataplaneStats;

/** readWeftStats sends SIGUSR1 to a `weft link` process and parses the next `stats {...}` line. */
export async function readWeftStats(proc: Proc, timeoutMs = 5000): Promise<WeftStats> {
  const from = proc.lines.length;
  proc.signal('SIGUSR1');
  const line = await proc.waitForLine(/^weft link: stats \{/, timeoutMs, from);
  return JSON.parse(line.slice(line.indexOf('{'))) as WeftStats;
}
