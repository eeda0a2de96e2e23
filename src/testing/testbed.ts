/**
 * testbed: N weft nodes in network namespaces, for `weft demo`, the daemon tests and the lease
 * bench.
 *
 * Topology: one "switch" namespace holding a Linux bridge, and per node a namespace joined to the
 * bridge by a veth pair; the underlay is 192.0.2.0/24 (node i = 192.0.2.i, the switch's bridge
 * = 192.0.2.254, where `--store etcd` runs its etcd). No namespace has a default route, so nothing
 * leaves the testbed. IPv6 is disabled in every namespace (no RS/DAD noise on fresh devices).
 *
 * Every name is unique per process (pid + counter), interface names stay <= 15 characters.
 * Everything created is undone by `cleanup()` in reverse order (processes stopped by PID, SIGTERM
 * then SIGKILL, namespaces deleted, the temp directory removed), also when a step failed.
 * Processes log to files in the testbed's directory, so `--keep` leaves them running and readable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cleanup, lastResort } from './cleanup';
import { etcdArgs, waitEtcdHealthy } from './etcd';
import { addVethPair, Netns, netnsExec } from './netns';
import { Proc } from './proc';
import { sh, type ShOptions } from './shell';
import { isRoot } from './tools';
import { WEFT_BIN } from './weft-link';

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
  weft: Proc | null;
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

/**
 * weftRunArgs are the `weft run` flags of a testbed node (the demo's): its underlay device, its
 * subnet.env and state directory, health and metrics on loopback, debug endpoints, and the lease
 * store: embedded in `storeDir`, or (null) the test etcd, selected as a flanneld unit file does it,
 * by the endpoint alone.
 */
export function weftRunArgs(
  nd: { readonly dev: string; readonly subnetFile: string; readonly dir: string },
  storeDir: string | null,
): string[] {
  const args = [
    '--iface', nd.dev,
    '--subnet-file', nd.subnetFile,
    '--vtep-state-dir', nd.dir,
    '--healthz-ip', '127.0.0.1', '--healthz-port', String(DEFAULT_HEALTHZ_PORT),
    '--metrics-ip', '127.0.0.1', '--metrics-port', String(DEFAULT_METRICS_PORT),
    '--debug',
  ]; // prettier-ignore
  if (storeDir === null) args.push(`--etcd-endpoints=${ETCD_CLIENT_URL}`);
  else args.push('--store', 'embedded', '--store-dir', storeDir);
  return args;
}

/** Testbed is the namespaces, bridge, store and processes of one run. */
export class Testbed {
  readonly nodes: TestbedNode[] = [];
  readonly dir: string;
  readonly storeDir: string;
  readonly sw: string;
  readonly store: 'embedded' | 'etcd';
  readonly weftBin: string;
  etcd: Proc | null = null;
  private readonly undo: Cleanup;
  private readonly say: (msg: string) => void;
  private readonly procs = new Set<Proc>();
  private readonly netns: Netns[] = [];
  private spawned = 0;
  private aborted = false;
  private kept = false;
  private cleaning: Promise<void> | null = null;
  private readonly extraNamespaces: string[] = [];

  private constructor(o: TestbedOptions) {
    counter++;
    const tag = `${o.tag ?? 'wb'}${process.pid % 100000}${String.fromCharCode(96 + (counter % 26 || 26))}`;
    this.sw = `${tag}s`;
    this.store = o.store ?? 'embedded';
    this.weftBin = o.weftBin ?? WEFT_BIN;
    this.say = o.say ?? (() => {});
    this.undo = new Cleanup(this.say);
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `weft-${tag}-`));
    this.undo.add(`rm -r ${this.dir}`, () => fs.rmSync(this.dir, { recursive: true, force: true }));
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
    if (!isRoot()) throw new Error('the testbed needs root (network namespaces, veth, TUN)');
    const tb = new Testbed(o);
    try {
      const mtu = o.mtu ?? 1500;
      tb.addNs(tb.sw);
      sh('ip', ['-n', tb.sw, 'link', 'add', 'br0', 'type', 'bridge']);
      sh('ip', ['-n', tb.sw, 'link', 'set', 'br0', 'mtu', String(mtu), 'up']);
      for (const nd of tb.nodes) {
        fs.mkdirSync(nd.dir, { recursive: true });
        tb.addNs(nd.ns);
        const swDev = `${nd.dev}s`;
        addVethPair(nd.ns, nd.dev, tb.sw, swDev, mtu);
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
   * addNamespace creates one more namespace (lo up) that cleanup() deletes, e.g. a pod's;
   * `name` should start with a node's namespace name so it stays unique per run.
   */
  addNamespace(name: string): void {
    this.check();
    this.addNs(name);
    this.extraNamespaces.push(name);
  }

  private addNs(name: string): void {
    this.netns.push(Netns.create(this.undo, '', name));
  }

  private check(): void {
    if (this.aborted) throw new Error('testbed aborted');
  }

  /** spawnIn starts `cmd args` inside namespace `ns`; it is stopped by PID on cleanup. */
  spawnIn(ns: string, label: string, cmd: string, args: readonly string[]): Proc {
    this.check();
    const base = label.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/-+$/, '');
    const logFile = path.join(this.dir, `${base}.${++this.spawned}.log`);
    const p = new Proc(label, 'ip', netnsExec(ns, cmd, args), { logFile });
    this.procs.add(p);
    return p;
  }

  /** execIn runs `cmd args` inside `ns` synchronously and returns stdout. */
  execIn(ns: string, cmd: string, args: readonly string[], opts: ShOptions = {}): string {
    this.check();
    return sh('ip', netnsExec(ns, cmd, args), opts);
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
      this.etcd = this.spawnIn(
        this.sw,
        'etcd',
        'etcd',
        etcdArgs({
          name: 'weft-testbed',
          dataDir: path.join(this.dir, 'etcd'),
          clientUrls: [ETCD_CLIENT_URL, 'http://127.0.0.1:2379'],
          peerUrl: 'http://127.0.0.1:2380',
        }),
      );
    }
    await waitEtcdHealthy(this.etcd, () => {
      this.etcdctl(['endpoint', 'health']);
      return true;
    });
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
    return [...weftRunArgs(nd, this.store === 'etcd' ? null : this.storeDir), ...extra];
  }

  /** startWeft spawns `weft run` in node `nd` (does not wait). */
  startWeft(nd: TestbedNode, extra: readonly string[] = []): Proc {
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
    this.check();
    return sh('ip', ['-n', nd.ns, 'route']);
  }

  /** keep detaches from everything (for `weft demo --keep`): cleanup() becomes a no-op. */
  keep(): void {
    this.kept = true;
    for (const p of this.procs) p.keep();
    for (const ns of this.netns) lastResort.deleteNamespace(ns.name);
  }

  /** pids lists the PIDs of the processes still running. */
  pids(): number[] {
    return [...this.procs].filter((p) => p.running).map((p) => p.pid);
  }

  /** namespaces lists every namespace of the testbed (switch first, then nodes, then added ones). */
  namespaces(): string[] {
    return [this.sw, ...this.nodes.map((n) => n.ns), ...this.extraNamespaces];
  }

  /**
   * removalCommands are the shell lines that remove a kept testbed by hand: kill by PID (its own
   * processes and `extraPids`), delete the namespaces, remove the directory.
   */
  removalCommands(extraPids: readonly number[] = []): string[] {
    return [
      `kill ${[...new Set([...this.pids(), ...extraPids])].join(' ')}`,
      this.namespaces()
        .map((n) => `ip netns del ${n}`)
        .join('; '),
      `rm -r ${this.dir}`,
    ];
  }

  /** cleanup stops every process by PID, deletes namespaces and the temp dir; idempotent. */
  cleanup(): Promise<void> {
    if (this.kept) return Promise.resolve();
    // Concurrent callers (a Ctrl-C handler and a finally block) all wait for the one teardown.
    this.cleaning ??= (async () => {
      await Promise.all([...this.procs].map((p) => p.stop(3000)));
      await this.undo.run();
    })();
    return this.cleaning;
  }
}
