/**
 * kube-cluster: a real Kubernetes control plane for weft's kube-mode tests and demo: a private
 * etcd, kube-apiserver (secure port only, token auth, RBAC) and kube-controller-manager running
 * only `nodeipam` (real podCIDRs from `--cluster-cidr`), built by `scripts/kube.sh build`.
 *
 * Set up, in order: a CA and a serving certificate (openssl; SANs 127.0.0.1 and the bind
 * address), the service-account signing key, a token file with one admin token
 * (`system:masters`), etcd, the API server, flannel's RBAC exactly as kube-flannel.yml has it
 * (Namespace `kube-flannel`, ServiceAccount `flannel`, ClusterRole/ClusterRoleBinding `flannel`),
 * a TokenRequest token for that service account, and kubeconfig files for both identities. There
 * is no kubelet: callers create Node objects.
 *
 * Where it listens: by default 127.0.0.1 in the caller's namespace on free ports; with `netns`
 * and `host` (e.g. the testbed's switch namespace and 192.0.2.254) everything runs inside that
 * namespace, so node namespaces reach the API server over the underlay and nothing is visible
 * outside. Processes are stopped by PID, never by name. The insecure port is off (`--insecure-port=0`).
 *
 * Command line (used by `scripts/kube.sh start|stop`):
 *   node dist/src/testing/kube-cluster.js start DIR   start detached; prints the kubeconfig paths
 *   node dist/src/testing/kube-cluster.js stop DIR    stop the processes recorded in DIR/pids
 */

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeClient } from '../control/kube/client';
import { loadKubeconfig } from '../control/kube/kubeconfig';
import { ETCD_BIN, etcdArgs, freePort } from './etcd';
import { netnsExec } from './netns';
import { Proc } from './proc';
import { sh, sleep } from './shell';
import { FLANNEL_RBAC } from './flannel-rbac';

/** SA_ISSUER is the service-account issuer and API audience. */
export const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export { FLANNEL_RBAC } from './flannel-rbac';

/** KubeClusterOptions configures a KubeCluster. */
export interface KubeClusterOptions {
  /** Working directory (certs, logs, etcd data, kubeconfigs); default a new temp dir. */
  readonly dir?: string;
  /** Address the API server binds and advertises (default 127.0.0.1). */
  readonly host?: string;
  /** Run every process inside this network namespace (`ip netns exec`). */
  readonly netns?: string;
  /** API server port (default: a free one, or 6443 inside `netns`). */
  readonly apiPort?: number;
  /** etcd client/peer ports (default: free ones, or 23790/23800 inside `netns`). */
  readonly etcdPorts?: readonly [number, number];
  /** Start kube-controller-manager with nodeipam (default true). */
  readonly nodeIpam?: boolean;
  /** `--cluster-cidr` for nodeipam (default 10.244.0.0/16, /24 per node). */
  readonly clusterCidr?: string;
  /** Keep the processes running when this process exits (the command line's `start`). */
  readonly detach?: boolean;
  readonly say?: (msg: string) => void;
}

/** kubeBinDir returns the directory of the built binaries, or throws naming `scripts/kube.sh build`. */
export function kubeBinDir(): string {
  const fromEnv = process.env.WEFT_KUBE_BIN;
  const candidates: string[] = [];
  if (fromEnv) candidates.push(fromEnv);
  const root = process.env.WEFT_KUBE_CACHE ?? '/var/cache/weft/kube';
  try {
    for (const v of fs.readdirSync(root).sort().reverse()) candidates.push(path.join(root, v, 'bin'));
  } catch {
    /* no cache yet */
  }
  for (const d of candidates) {
    if (
      ['kube-apiserver', 'kube-controller-manager', 'kubectl'].every((b) => fs.existsSync(path.join(d, b)))
    ) {
      return d;
    }
  }
  throw new Error(
    `kube-apiserver, kube-controller-manager and kubectl are not built (looked in ${candidates.join(', ') || root}); ` +
      'run: scripts/kube.sh build (10-12 minutes once; cached)',
  );
}

/** kubeconfigYaml renders a kubeconfig for `server` with a CA file and a bearer token. */
export function kubeconfigYaml(server: string, caFile: string, token: string, user = 'weft'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: weft',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caFile}`,
    'contexts:',
    '- name: weft',
    '  context:',
    '    cluster: weft',
    `    user: ${user}`,
    'current-context: weft',
    'users:',
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    '',
  ].join('\n');
}

/** KubeCluster is one running (or stopped) control plane. */
export class KubeCluster {
  readonly dir: string;
  readonly host: string;
  readonly netns: string | undefined;
  readonly binDir: string;
  apiPort = 0;
  etcdPorts: [number, number] = [0, 0];
  /** The CA that signed the API server's certificate. */
  readonly caFile: string;
  readonly adminToken: string;
  /** kubeconfig with the admin token (system:masters). */
  readonly adminKubeconfig: string;
  /** kubeconfig with the flannel service account's token (flannel's ClusterRole only). */
  readonly flannelKubeconfig: string;
  flannelToken = '';
  admin!: KubeClient;
  private etcd: Proc | null = null;
  private bridge: Proc | null = null;
  private apiserver: Proc | null = null;
  private kcm: Proc | null = null;
  private readonly say: (msg: string) => void;

  private constructor(private readonly o: KubeClusterOptions) {
    this.binDir = kubeBinDir();
    this.dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'weft-kube-'));
    fs.mkdirSync(this.dir, { recursive: true });
    this.host = o.host ?? '127.0.0.1';
    this.netns = o.netns;
    this.say = o.say ?? (() => {});
    this.caFile = path.join(this.dir, 'ca.crt');
    this.adminToken = randomBytes(16).toString('hex');
    this.adminKubeconfig = path.join(this.dir, 'admin.kubeconfig');
    this.flannelKubeconfig = path.join(this.dir, 'flannel.kubeconfig');
  }

  /** server is the API server's URL. */
  get server(): string {
    return `https://${this.host}:${this.apiPort}`;
  }

  /**
   * start brings up etcd, the API server (and nodeipam), applies flannel's RBAC and writes both
   * kubeconfigs. On failure everything started is stopped again.
   */
  static async start(o: KubeClusterOptions = {}): Promise<KubeCluster> {
    const c = new KubeCluster(o);
    try {
      c.apiPort = o.apiPort ?? (o.netns ? 6443 : await freePort());
      c.etcdPorts = o.etcdPorts
        ? [o.etcdPorts[0], o.etcdPorts[1]]
        : o.netns
          ? [23790, 23800]
          : [await freePort(), await freePort()];
      c.writeSecrets();
      await c.startEtcd();
      await c.startApiServer();
      await c.applyFlannelRbac();
      c.flannelToken = await c.tokenFor(FLANNEL_RBAC.namespace, FLANNEL_RBAC.serviceAccount);
      fs.writeFileSync(c.flannelKubeconfig, kubeconfigYaml(c.server, c.caFile, c.flannelToken, 'flannel'), {
        mode: 0o600,
      });
      if (o.nodeIpam ?? true) c.startControllerManager();
      c.writePids();
      c.say(
        `kube-apiserver ${c.server} ready (admin: ${c.adminKubeconfig}, flannel: ${c.flannelKubeconfig})`,
      );
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  private writeSecrets(): void {
    const ossl = (...args: string[]): void => void sh('openssl', args);
    if (!fs.existsSync(this.caFile)) {
      ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=weft-kube-ca',
        '-keyout', this.file('ca.key'), '-out', this.caFile); // prettier-ignore
    }
    const sans = [...new Set(['127.0.0.1', this.host, '10.96.0.1'])].map((ip) => `IP:${ip}`);
    fs.writeFileSync(
      this.file('server.ext'),
      `subjectAltName=${[...sans, 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc'].join(',')}\n`,
    );
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=kube-apiserver',
      '-keyout', this.file('server.key'), '-out', this.file('server.csr')); // prettier-ignore
    ossl('x509', '-req', '-in', this.file('server.csr'), '-CA', this.caFile, '-CAkey', this.file('ca.key'),
      '-CAcreateserial', '-days', '30', '-extfile', this.file('server.ext'), '-out', this.file('server.crt')); // prettier-ignore
    if (!fs.existsSync(this.file('sa.key'))) {
      ossl('genrsa', '-out', this.file('sa.key'), '2048');
      ossl('rsa', '-in', this.file('sa.key'), '-pubout', '-out', this.file('sa.pub'));
    }
    fs.writeFileSync(this.file('tokens.csv'), `${this.adminToken},admin,uid-admin,"system:masters"\n`, {
      mode: 0o600,
    });
    fs.writeFileSync(
      this.adminKubeconfig,
      kubeconfigYaml(this.server, this.caFile, this.adminToken, 'admin'),
      {
        mode: 0o600,
      },
    );
    this.admin = this.adminClient();
  }

  /**
   * adminClient is a client with the admin token. With `netns` the API server is not reachable
   * from here, so it connects through a Unix socket that socat, inside the namespace, forwards.
   */
  private adminClient(): KubeClient {
    const cfg = loadKubeconfig(this.adminKubeconfig);
    if (!this.netns) return new KubeClient(cfg);
    const sock = this.file('api.sock');
    if (!this.bridge || !this.bridge.running) {
      this.bridge = this.spawn('socat-api', 'socat', [
        `UNIX-LISTEN:${sock},fork,unlink-early`,
        `TCP:${this.host}:${this.apiPort}`,
      ]);
    }
    return new KubeClient({ ...cfg, socketPath: sock });
  }

  private spawn(label: string, bin: string, args: string[]): Proc {
    const log = this.file(`${label}.log`);
    const p = this.netns
      ? new Proc(label, 'ip', netnsExec(this.netns, bin, args), { logFile: log })
      : new Proc(label, bin, args, { logFile: log });
    if (this.o.detach) p.keep();
    return p;
  }

  private tail(p: Proc | null): string {
    return p ? p.log.slice(-3000) : '';
  }

  /** startEtcd starts (or restarts, keeping its data) the private etcd. */
  async startEtcd(): Promise<void> {
    const [cp, pp] = this.etcdPorts;
    const client = `http://127.0.0.1:${cp}`;
    const peer = `http://127.0.0.1:${pp}`;
    this.etcd = this.spawn(
      'etcd',
      ETCD_BIN,
      etcdArgs({ name: 'weft-kube', dataDir: this.file('etcd'), clientUrls: [client], peerUrl: peer }),
    );
    // The API server retries etcd itself; a crash here shows in its log and in the readiness wait.
    await sleep(300);
    if (!this.etcd.running) throw new Error(`etcd exited (${this.etcd.exitCode}):\n${this.tail(this.etcd)}`);
  }

  /** startApiServer starts (or restarts) kube-apiserver and waits until it serves requests. */
  async startApiServer(timeoutMs = 90_000): Promise<void> {
    this.apiserver = this.spawn('kube-apiserver', path.join(this.binDir, 'kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${this.etcdPorts[0]}`,
      `--bind-address=${this.host}`, `--secure-port=${this.apiPort}`, `--advertise-address=${this.host}`,
      '--insecure-port=0', `--cert-dir=${this.file('certs')}`,
      `--tls-cert-file=${this.file('server.crt')}`, `--tls-private-key-file=${this.file('server.key')}`,
      `--token-auth-file=${this.file('tokens.csv')}`, '--authorization-mode=Node,RBAC',
      `--service-account-issuer=${SA_ISSUER}`, `--api-audiences=${SA_ISSUER}`,
      `--service-account-key-file=${this.file('sa.pub')}`,
      `--service-account-signing-key-file=${this.file('sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/12', '--endpoint-reconciler-type=none',
    ]); // prettier-ignore
    const end = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      if (!this.apiserver.running) {
        throw new Error(`kube-apiserver exited (${this.apiserver.exitCode}):\n${this.tail(this.apiserver)}`);
      }
      try {
        // The default namespace exists once the bootstrap controllers (and RBAC roles) ran.
        await this.admin.get('/api/v1/namespaces/default');
        await this.admin.get('/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node');
        return;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > end)
        throw new Error(`kube-apiserver not ready in ${timeoutMs} ms: ${last}\n${this.tail(this.apiserver)}`);
      await sleep(500);
    }
  }

  /** stopApiServer stops kube-apiserver by PID (etcd and its data stay). */
  async stopApiServer(): Promise<void> {
    this.admin?.close();
    this.admin = this.adminClient();
    await this.apiserver?.stop(5000);
    this.apiserver = null;
  }

  /** startControllerManager runs kube-controller-manager with only nodeipam. */
  startControllerManager(): void {
    this.kcm = this.spawn('kube-controller-manager', path.join(this.binDir, 'kube-controller-manager'), [
      `--kubeconfig=${this.adminKubeconfig}`, '--controllers=nodeipam', '--allocate-node-cidrs=true',
      `--cluster-cidr=${this.o.clusterCidr ?? '10.244.0.0/16'}`, '--node-cidr-mask-size=24',
      '--leader-elect=false', '--port=0', '--secure-port=0',
    ]); // prettier-ignore
  }

  /** create POSTs an object as admin, tolerating AlreadyExists. */
  async create(apiPath: string, obj: unknown): Promise<void> {
    try {
      await this.admin.post(apiPath, obj);
    } catch (e) {
      if ((e as { status?: number }).status !== 409) throw e;
    }
  }

  /** applyRole creates a ClusterRole `name` with `rules`, bound to serviceaccount `ns/sa`. */
  async applyRole(name: string, ns: string, sa: string, rules: readonly unknown[]): Promise<void> {
    await this.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await this.create(`/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: sa, namespace: ns },
    });
    const rbac = '/apis/rbac.authorization.k8s.io/v1';
    await this.create(`${rbac}/clusterroles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name },
      rules,
    });
    await this.create(`${rbac}/clusterrolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
    });
  }

  /** applyFlannelRbac is kube-flannel.yml's RBAC part. */
  applyFlannelRbac(): Promise<void> {
    return this.applyRole('flannel', FLANNEL_RBAC.namespace, FLANNEL_RBAC.serviceAccount, FLANNEL_RBAC.rules);
  }

  /** tokenFor asks the TokenRequest API for a token of serviceaccount `ns/sa` (24 h). */
  async tokenFor(ns: string, sa: string): Promise<string> {
    const r = await this.admin.post<{ status?: { token?: string } }>(
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: [SA_ISSUER], expirationSeconds: 86400 },
      },
    );
    const t = r.status?.token;
    if (!t) throw new Error(`TokenRequest for ${ns}/${sa} returned no token`);
    return t;
  }

  /** writeKubeconfig writes a kubeconfig for `token` to `file` (0600). */
  writeKubeconfig(file: string, token: string): string {
    fs.writeFileSync(file, kubeconfigYaml(this.server, this.caFile, token), { mode: 0o600 });
    return file;
  }

  /** kubectl runs the built kubectl (same version) as admin; inside `netns` when set. */
  kubectl(args: readonly string[], input?: string): string {
    const kc = path.join(this.binDir, 'kubectl');
    const full = [`--kubeconfig=${this.adminKubeconfig}`, ...args];
    return this.netns
      ? sh('ip', ['netns', 'exec', this.netns, kc, ...full], { input })
      : sh(kc, full, { input });
  }

  /** pids are the running processes' PIDs. */
  pids(): number[] {
    return [this.kcm, this.apiserver, this.etcd, this.bridge]
      .filter((p): p is Proc => p !== null && p.running)
      .map((p) => p.pid);
  }

  private writePids(): void {
    fs.writeFileSync(this.file('pids'), this.pids().join('\n') + '\n');
    fs.writeFileSync(
      this.file('env'),
      `KUBE_SERVER=${this.server}\nADMIN_KUBECONFIG=${this.adminKubeconfig}\nFLANNEL_KUBECONFIG=${this.flannelKubeconfig}\n`,
    );
  }

  /** stop stops every process by PID, controller-manager first, etcd last; the directory stays. */
  async stop(): Promise<void> {
    this.admin?.close();
    for (const p of [this.kcm, this.apiserver, this.etcd, this.bridge]) await p?.stop(5000);
    this.kcm = this.apiserver = this.etcd = this.bridge = null;
  }

  /** destroy stops everything and removes the directory. */
  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** stopByPidFile kills the PIDs in `dir/pids` (SIGTERM, then SIGKILL after 5 s). */
export async function stopByPidFile(dir: string): Promise<void> {
  const file = path.join(dir, 'pids');
  const pids = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
  const end = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < end) await sleep(100);
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(file, { force: true });
}

async function main(argv: string[]): Promise<number> {
  const [cmd, dir] = argv;
  if ((cmd !== 'start' && cmd !== 'stop') || !dir) {
    process.stderr.write('usage: kube-cluster start|stop DIR\n');
    return 2;
  }
  if (cmd === 'stop') {
    await stopByPidFile(dir);
    process.stderr.write(`kube-cluster: stopped the processes of ${dir}\n`);
    return 0;
  }
  if (fs.existsSync(path.join(dir, 'pids'))) {
    process.stderr.write(`kube-cluster: ${dir}/pids exists; run stop first\n`);
    return 1;
  }
  const c = await KubeCluster.start({
    dir,
    detach: true,
    say: (m) => process.stderr.write(`kube-cluster: ${m}\n`),
  });
  process.stdout.write(fs.readFileSync(path.join(dir, 'env'), 'utf8'));
  process.stdout.write(`PIDS=${c.pids().join(',')}\n`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`kube-cluster: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
