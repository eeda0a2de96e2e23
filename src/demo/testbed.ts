/**
 * testbed: N weft nodes in network namespaces, for `weft demo` and the daemon tests.
 *
 * Topology: one "switch" namespace holding a Linux bridge, and per node a namespace joined to the
 * bridge by a veth pair; the underlay is 192.0.2.0/24 (node i = 192.0.2.i, the switch's bridge
 * = 192.0.2.254, where `--store etcd` runs its etcd). No namespace has a default route, so nothing
 * leaves the testbed. IPv6 is disabled in every namespace (no RS/DAD noise on fresh devices).
 *
 * Every name is unique per process (pid + counter), interface names stay <= 15 characters.
 * Everything created is undone by `cleanup()` in reverse order — processes killed by PID (SIGTERM,
 * then SIGKILL), namespaces deleted, the temp directory removed — also when a step failed.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ToolMissingError } from '../errors';
import { parseLogLine } from '../daemon/log';

/** TOOLS maps each external tool the testbeds (demo, bench) may need to its Debian package. */
export const TOOLS: Record<string, string> = {
  ip: 'iproute2',
  ss: 'iproute2',
  bridge: 'iproute2',
  ping: 'iputils-ping',
  iperf3: 'iperf3',
  socat: 'socat',
  etcd: 'etcd-server',
  etcdctl: 'etcd-client',
};

/** findTool returns the path of `tool` on PATH (plus /usr/sbin, /sbin), or null. */
export function findTool(tool: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, tool);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * requireTools throws one ToolMissingError naming every missing tool and the apt-get command that
 * installs them all; `has` defaults to a PATH lookup (tests inject a fake).
 */
export function requireTools(
  tools: readonly string[],
  has: (tool: string) => boolean = (t) => findTool(t) !== null,
): void {
  const missing = tools.filter((t) => !has(t));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((t) => TOOLS[t]!))];
  throw new ToolMissingError(missing.join(', '), `apt-get install -y ${pkgs.join(' ')}`);
}

/** sh runs a command synchronously; on failure the error names the command and its stderr. */
export function sh(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string } = {},
): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 30_000,
      input: opts.input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (e) {
    const x = e as { stderr?: string; stdout?: string; status?: number | null; message: string };
    const err = new Error(
      `${cmd} ${args.join(' ')} failed (status ${x.status ?? '?'}): ${(x.stderr || x.message).trim()}`,
    );
    (err as Error & { stdout?: string }).stdout = x.stdout;
    throw err;
  }
}

/** sleep resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * BgProcess is a child process started by the testbed. Its stdout and stderr go to a log file
 * (so it survives the testbed's own exit with `--keep`, and `cat` shows it); the file is read back
 * on demand. It runs in its own process group so a terminal's Ctrl-C reaches only the testbed,
 * which then stops everything in order.
 */
export class BgProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  exitCode: number | null | undefined = undefined;
  readonly exited: Promise<number | null>;

  constructor(
    readonly label: string,
    cmd: string,
    args: readonly string[],
    /** File receiving stdout and stderr. */
    readonly logFile: string,
  ) {
    const fd = fs.openSync(logFile, 'a');
    try {
      this.child = spawn(cmd, args, { stdio: ['ignore', fd, fd], detached: true });
    } finally {
      fs.closeSync(fd);
    }
    if (this.child.pid === undefined) throw new Error(`${label}: could not spawn ${cmd}`);
    this.pid = this.child.pid;
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, sig) => {
        this.exitCode = code ?? (sig ? 128 : null);
        resolve(this.exitCode);
      });
    });
  }

  /** log is everything the process wrote so far (last ~200 kB). */
  get log(): string {
    try {
      const s = fs.readFileSync(this.logFile, 'utf8');
      return s.length > 200_000 ? s.slice(-200_000) : s;
    } catch {
      return '';
    }
  }

  /** events are the JSON log lines (weft's structured stderr) so far. */
  get events(): Array<{ level: string; msg: string; fields?: Record<string, unknown> }> {
    const out: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
    for (const line of this.log.split('\n')) {
      const ev = parseLogLine(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  /** running is true until the process exits. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** waitForEvent resolves with the first JSON log event whose msg matches `re` (index >= from). */
  async waitForEvent(
    re: RegExp,
    timeoutMs: number,
    from = 0,
  ): Promise<{ msg: string; fields?: Record<string, unknown> }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ev = this.events.slice(from).find((e) => re.test(e.msg));
      if (ev) return ev;
      if (!this.running)
        throw new Error(`${this.label} exited (${this.exitCode}) before logging ${re}:\n${this.log}`);
      if (Date.now() > deadline)
        throw new Error(`${this.label}: no log line matching ${re} within ${timeoutMs} ms:\n${this.log}`);
      await sleep(50);
    }
  }

  /** signal sends `sig` by PID (no-op once exited). */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      /* raced with exit */
    }
  }

  /** stop sends SIGTERM by PID, SIGKILL after `graceMs`; resolves with the exit code. */
  async stop(graceMs = 5000): Promise<number | null> {
    if (!this.running) return this.exitCode ?? null;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/** TestbedNode is one node namespace. */
export interface TestbedNode {
  /** 1-based node number. */
  readonly index: number;
  /** Namespace name. */
  readonly ns: string;
  /** Underlay interface inside the namespace. */
  readonly dev: string;
  /** Underlay IPv4 (192.0.2.<index>). */
  readonly ip: string;
  /** Per-node state directory (subnet.env, VTEP MAC). */
  readonly dir: string;
  readonly subnetFile: string;
  /** The running `weft run`, if started. */
  weft: BgProcess | null;
}

/** TestbedOptions configures a Testbed. */
export interface TestbedOptions {
  readonly nodes?: number;
  readonly store?: 'embedded' | 'etcd';
  /** Underlay MTU (default 1500). */
  readonly mtu?: number;
  /** Path of bin/weft (default: this package's). */
  readonly weftBin?: string;
  /** Short tag in namespace names (default `wb`). */
  readonly tag?: string;
  /** Progress messages. */
  readonly say?: (msg: string) => void;
}

let counter = 0;

/** DEFAULT_HEALTHZ_PORT / DEFAULT_METRICS_PORT are the ports each node serves inside its namespace. */
export const DEFAULT_HEALTHZ_PORT = 8081;
export const DEFAULT_METRICS_PORT = 9464;

/** ETCD_CLIENT_URL is where `--store etcd` reaches the testbed's etcd (on the switch's bridge). */
export const ETCD_IP = '192.0.2.254';
export const ETCD_CLIENT_URL = `http://${ETCD_IP}:2379`;

/** Testbed is the namespaces, bridge, store and processes of one run. */
export class Testbed {
  readonly nodes: TestbedNode[] = [];
  readonly dir: string;
  readonly storeDir: string;
  readonly sw: string;
  readonly store: 'embedded' | 'etcd';
  readonly weftBin: string;
  etcd: BgProcess | null = null;
  private readonly undo: Array<{ what: string; fn: () => void | Promise<void> }> = [];
  private cleaned = false;
  private readonly say: (msg: string) => void;
  private readonly procs = new Set<BgProcess>();
  private spawned = 0;
  private aborted = false;
  private cleaning: Promise<void> | null = null;
  private readonly extraNamespaces: string[] = [];

  private constructor(o: TestbedOptions) {
    counter++;
    const tag = `${o.tag ?? 'wb'}${process.pid % 100000}${String.fromCharCode(96 + (counter % 26 || 26))}`;
    this.sw = `${tag}s`;
    this.store = o.store ?? 'embedded';
    this.weftBin = o.weftBin ?? path.join(__dirname, '..', '..', '..', 'bin', 'weft');
    this.say = o.say ?? (() => {});
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `weft-${tag}-`));
    this.undo.push({
      what: `rm -r ${this.dir}`,
      fn: () => fs.rmSync(this.dir, { recursive: true, force: true }),
    });
    this.storeDir = path.join(this.dir, 'store');
    const n = o.nodes ?? 3;
    for (let i = 1; i <= n; i++) {
      const dir = path.join(this.dir, `node${i}`);
      this.nodes.push({
        index: i,
        ns: `${tag}n${i}`,
        dev: `${tag}u${i}`,
        ip: `192.0.2.${i}`,
        dir,
        subnetFile: path.join(dir, 'subnet.env'),
        weft: null,
      });
    }
  }

  /** create builds the namespaces and underlay (and starts etcd for `store: 'etcd'`). */
  static async create(o: TestbedOptions = {}): Promise<Testbed> {
    if (process.getuid?.() !== 0) throw new Error('the testbed needs root (network namespaces, veth, TUN)');
    const tb = new Testbed(o);
    try {
      const mtu = String(o.mtu ?? 1500);
      tb.addNs(tb.sw);
      sh('ip', ['-n', tb.sw, 'link', 'add', 'br0', 'type', 'bridge']);
      sh('ip', ['-n', tb.sw, 'link', 'set', 'br0', 'mtu', mtu, 'up']);
      for (const nd of tb.nodes) {
        fs.mkdirSync(nd.dir, { recursive: true });
        tb.addNs(nd.ns);
        const swDev = `${nd.dev}s`;
        sh('ip', [
          'link',
          'add',
          nd.dev,
          'netns',
          nd.ns,
          'mtu',
          mtu,
          'type',
          'veth',
          'peer',
          'name',
          swDev,
          'netns',
          tb.sw,
          'mtu',
          mtu,
        ]);
        sh('ip', ['-n', tb.sw, 'link', 'set', swDev, 'master', 'br0', 'up']);
        sh('ip', ['-n', nd.ns, 'addr', 'add', `${nd.ip}/24`, 'dev', nd.dev]);
        sh('ip', ['-n', nd.ns, 'link', 'set', nd.dev, 'up']);
      }
      tb.say(
        `namespaces: switch ${tb.sw} (bridge br0), nodes ${tb.nodes.map((n) => `${n.ns}=${n.ip}`).join(' ')}`,
      );
      if (tb.store === 'etcd') await tb.startEtcd();
      return tb;
    } catch (e) {
      await tb.cleanup();
      throw e;
    }
  }

  /**
   * addNamespace creates one more namespace (lo up, IPv6 off) that cleanup() deletes, e.g. a pod's;
   * `name` should start with a node's namespace name so it stays unique per run.
   */
  addNamespace(name: string): void {
    if (this.aborted) throw new Error('testbed aborted');
    this.addNs(name);
    this.extraNamespaces.push(name);
  }

  private addNs(name: string): void {
    sh('ip', ['netns', 'add', name]);
    this.undo.push({ what: `ip netns del ${name}`, fn: () => void sh('ip', ['netns', 'del', name]) });
    sh('ip', [
      'netns',
      'exec',
      name,
      'sysctl',
      '-qw',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    ]);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  /** spawnIn starts `cmd args` inside namespace `ns`; it is stopped by PID on cleanup. */
  spawnIn(ns: string, label: string, cmd: string, args: readonly string[]): BgProcess {
    if (this.aborted) throw new Error('testbed aborted');
    // `ip netns exec` execs in place: the PID is the command's own.
    const base = label.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/-+$/, '');
    const file = path.join(this.dir, `${base}.${++this.spawned}.log`);
    const p = new BgProcess(label, 'ip', ['netns', 'exec', ns, cmd, ...args], file);
    this.procs.add(p);
    return p;
  }

  /** execIn runs `cmd args` inside `ns` synchronously and returns stdout. */
  execIn(
    ns: string,
    cmd: string,
    args: readonly string[],
    opts: { timeoutMs?: number; input?: string } = {},
  ): string {
    if (this.aborted) throw new Error('testbed aborted');
    return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /**
   * abort marks the testbed as being torn down (Ctrl-C): every later execIn/spawnIn/routesOf
   * throws, so a script using it stops at its next step instead of racing the cleanup.
   */
  abort(): void {
    this.aborted = true;
  }

  /** etcdctl runs etcdctl (v3 API) against the testbed's etcd, inside the switch namespace. */
  etcdctl(args: readonly string[], input?: string): string {
    return this.execIn(this.sw, 'etcdctl', ['--endpoints', 'http://127.0.0.1:2379', ...args], { input });
  }

  /** startEtcd starts (or restarts, keeping its data) etcd in the switch namespace and waits for it. */
  async startEtcd(): Promise<void> {
    if (!this.etcd || !this.etcd.running) {
      sh('ip', ['-n', this.sw, 'addr', 'replace', `${ETCD_IP}/24`, 'dev', 'br0']);
      const data = path.join(this.dir, 'etcd');
      this.etcd = this.spawnIn(this.sw, 'etcd', 'etcd', [
        '--name', 'weft-testbed', '--data-dir', data,
        '--listen-client-urls', `${ETCD_CLIENT_URL},http://127.0.0.1:2379`,
        '--advertise-client-urls', ETCD_CLIENT_URL,
        '--listen-peer-urls', 'http://127.0.0.1:2380',
        '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
        '--initial-cluster', 'weft-testbed=http://127.0.0.1:2380',
        '--log-level', 'warn',
      ]); // prettier-ignore
    }
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        this.etcdctl(['endpoint', 'health']);
        break;
      } catch (e) {
        if (!this.etcd.running) throw new Error(`etcd exited (${this.etcd.exitCode}):\n${this.etcd.log}`);
        if (Date.now() > deadline)
          throw new Error(`etcd did not become healthy: ${(e as Error).message}\n${this.etcd.log}`);
        await sleep(200);
      }
    }
    this.say(`etcd pid ${this.etcd.pid} serving ${ETCD_CLIENT_URL} (in ${this.sw})`);
  }

  /** stopEtcd stops etcd by PID (the data directory stays for a restart). */
  async stopEtcd(): Promise<void> {
    await this.etcd?.stop(5000);
  }

  /** writeConfig stores the network config at `/coreos.com/network/config`. */
  writeConfig(json: string): void {
    if (this.store === 'etcd') {
      this.etcdctl(['put', '/coreos.com/network/config'], json);
    } else {
      const root = path.join(this.storeDir, 'coreos.com', 'network');
      fs.mkdirSync(root, { recursive: true });
      fs.writeFileSync(path.join(root, 'config'), json);
    }
  }

  /** weftArgs are the `weft run` flags for node `nd` in this testbed. */
  weftArgs(nd: TestbedNode, extra: readonly string[] = []): string[] {
    const args = [
      '--iface', nd.dev,
      '--subnet-file', nd.subnetFile,
      '--vtep-state-dir', nd.dir,
      '--healthz-ip', '127.0.0.1', '--healthz-port', String(DEFAULT_HEALTHZ_PORT),
      '--metrics-ip', '127.0.0.1', '--metrics-port', String(DEFAULT_METRICS_PORT),
      '--debug',
    ]; // prettier-ignore
    // As a flanneld unit file says it: the etcd endpoint alone selects the etcd store.
    if (this.store === 'etcd') args.push(`--etcd-endpoints=${ETCD_CLIENT_URL}`);
    else args.push('--store', 'embedded', '--store-dir', this.storeDir);
    return [...args, ...extra];
  }

  /** startWeft spawns `weft run` in node `nd` (does not wait). */
  startWeft(nd: TestbedNode, extra: readonly string[] = []): BgProcess {
    const p = this.spawnIn(nd.ns, `weft run (node${nd.index})`, process.execPath, [
      this.weftBin,
      'run',
      ...this.weftArgs(nd, extra),
    ]);
    nd.weft = p;
    return p;
  }

  /** waitReady waits for node `nd`'s `ready` log line; returns its fields (subnet, vtepMac, ...). */
  async waitReady(nd: TestbedNode, timeoutMs = 20_000, from = 0): Promise<Record<string, unknown>> {
    if (!nd.weft) throw new Error(`node${nd.index} has no weft process`);
    const ev = await nd.weft.waitForEvent(/^ready$/, timeoutMs, from);
    return ev.fields ?? {};
  }

  /** httpGet fetches `url` from inside `ns` (node's loopback); returns status and body. */
  httpGet(ns: string, url: string): { status: number; body: string } {
    const script =
      'fetch(process.argv[1]).then(async r=>{process.stdout.write(JSON.stringify({status:r.status,body:await r.text()}))})' +
      '.catch(e=>{process.stdout.write(JSON.stringify({status:0,body:String(e)}))})';
    const out = this.execIn(ns, process.execPath, ['-e', script, url], { timeoutMs: 15_000 });
    return JSON.parse(out) as { status: number; body: string };
  }

  /** routesOf returns `ip route` of a node's namespace. */
  routesOf(nd: TestbedNode): string {
    if (this.aborted) throw new Error('testbed aborted');
    return sh('ip', ['-n', nd.ns, 'route']);
  }

  /** keep detaches from everything (for `weft demo --keep`): cleanup() becomes a no-op. */
  keep(): void {
    this.cleaned = true;
    for (const p of this.procs) p.child.unref();
  }

  /** pids lists the PIDs of the processes still running. */
  pids(): number[] {
    return [...this.procs].filter((p) => p.running).map((p) => p.pid);
  }

  /** namespaces lists every namespace of the testbed (switch first, then nodes, then added ones). */
  namespaces(): string[] {
    return [this.sw, ...this.nodes.map((n) => n.ns), ...this.extraNamespaces];
  }

  /** cleanup stops every process by PID, deletes namespaces and the temp dir; idempotent. */
  cleanup(): Promise<void> {
    // Concurrent callers (a Ctrl-C handler and a finally block) all wait for the one teardown.
    if (this.cleaning) return this.cleaning;
    if (this.cleaned) return Promise.resolve();
    this.cleaned = true;
    this.cleaning = this.teardown();
    return this.cleaning;
  }

  private async teardown(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop(3000)));
    const errors: string[] = [];
    for (const u of this.undo.reverse()) {
      try {
        await u.fn();
      } catch (e) {
        errors.push(`${u.what}: ${(e as Error).message}`);
      }
    }
    if (errors.length > 0) this.say(`cleanup had errors:\n  ${errors.join('\n  ')}`);
  }
}
