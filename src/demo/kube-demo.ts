/**
 * kube-demo: the body of `weft demo --kube` — kube-flannel's setup end to end, with weft:
 *   1. the control plane: kube-apiserver, kube-controller-manager (nodeipam only) and etcd from
 *      `scripts/kube.sh build` (built on the first run, with progress), on 127.0.0.1; each node
 *      reaches it on its own 127.0.0.1 through a Unix-socket relay (api-relay.ts)
 *   2. three node namespaces (testbed.ts), a Node object each; nodeipam assigns the podCIDRs
 *   3. `weft run --kube-subnet-mgr --ip-masq` per node with NODE_NAME and a token of flannel's
 *      ServiceAccount (flannel's ClusterRole, not admin); each writes subnet.env from its podCIDR
 *   4. weft's `flannel` CNI plugin with the stock conflist (+ per-node paths) attaches two pods
 *      (namespaces) per node to cni0 through the real bridge/host-local/portmap plugins
 *   5. `kubectl get nodes -o wide` and flannel's annotations, as a cluster operator sees them
 *   6. every pod pings every other pod (same node: the bridge; other nodes: weft's VXLAN), and
 *      4 MiB cross a TCP connection between pods on node1 and node2 (SHA-256 on both ends)
 *   7. CNI DEL for every pod, then full cleanup (also on Ctrl-C) unless --keep
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { STOCK_CONFLIST, installPlugin } from '../cni/install';
import { CniRuntime } from '../cni/runtime';
import { FLANNEL_RBAC, KubeCluster, kubeBinDir } from '../testing/kube-cluster';
import { ApiRelay } from './api-relay';
import { table } from './text-table';
import { Testbed, TestbedNode } from '../testing/testbed';
import { sleep } from '../testing/shell';
import { requireTools } from '../testing/tools';

/** KUBE_NET_CONF is kube-flannel.yml's net-conf.json. */
export const KUBE_NET_CONF = '{"Network":"10.244.0.0/16","EnableNFTables":false,"Backend":{"Type":"vxlan"}}';
const PREFIX = 'flannel.alpha.coreos.com';

/** KubeDemoOptions configures runKubeDemo. */
export interface KubeDemoOptions {
  readonly keep: boolean;
  readonly out?: (s: string) => void;
}

/** KubePod is one pod of the demo. */
export interface KubePod {
  readonly node: number;
  readonly ns: string;
  readonly ip: string;
}

/** KubePing is one pod-to-pod ping. */
export interface KubePing {
  readonly from: string;
  readonly to: string;
  readonly crossNode: boolean;
  readonly sent: number;
  readonly received: number;
}

/** KubeDemoResult is what the demo saw. */
export interface KubeDemoResult {
  nodes: Array<{ name: string; ns: string; podCidr: string; vtepMac: string }>;
  pods: KubePod[];
  pings: KubePing[];
  /** SHA-256 of the 4 MiB sent from a node1 pod to a node2 pod, and of what arrived. */
  tcp: { sent: string; received: string };
  ok: boolean;
}

/** Teardown is what a Ctrl-C handler needs: stop the scripts, remove everything. */
export interface Teardown {
  abort(): void;
  cleanup(): Promise<void>;
}

/** scriptPath is scripts/kube.sh of this checkout. */
function scriptPath(): string {
  return path.join(__dirname, '..', '..', '..', 'scripts', 'kube.sh');
}

/**
 * ensureKubeBinaries returns the binaries' directory, building them first (minutes; progress from
 * scripts/kube.sh is passed through) when this machine has none yet.
 */
export async function ensureKubeBinaries(out: (s: string) => void, script = scriptPath()): Promise<string> {
  try {
    return kubeBinDir();
  } catch {
    /* not built yet */
  }
  out('   kube-apiserver is not built on this machine yet: building it now with scripts/kube.sh build');
  out("   (from Debian's kubernetes source package; 10-12 minutes on 2 cores, only on the first run)");
  await new Promise<void>((resolve, reject) => {
    const p = spawn('bash', [script, 'build'], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => {
      for (const line of s.split('\n')) if (line.trim()) out(`   ${line}`);
    });
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`scripts/kube.sh build failed (exit ${code})`)),
    );
  });
  return kubeBinDir();
}

function pingOnce(tb: Testbed, ns: string, dst: string): { sent: number; received: number } {
  let outText: string;
  try {
    outText = tb.execIn(ns, 'ping', ['-n', '-c', '2', '-i', '0.2', '-W', '2', dst], { timeoutMs: 20_000 });
  } catch (e) {
    outText = String((e as Error & { stdout?: string }).stdout ?? '');
  }
  const m = /(\d+) packets transmitted, (\d+) received/.exec(outText);
  return { sent: m ? Number(m[1]) : 2, received: m ? Number(m[2]) : 0 };
}

/** tcpTransfer sends 4 MiB of random bytes from pod `a` to pod `b` with socat; returns both SHA-256s. */
async function tcpTransfer(tb: Testbed, a: KubePod, b: KubePod): Promise<{ sent: string; received: string }> {
  const data = randomBytes(4 << 20);
  const inFile = path.join(tb.dir, 'tcp.in');
  const outFile = path.join(tb.dir, 'tcp.out');
  fs.writeFileSync(inFile, data);
  const srv = tb.spawnIn(b.ns, 'socat server', 'socat', [
    '-u',
    `TCP-LISTEN:5201,bind=${b.ip},reuseaddr`,
    `CREATE:${outFile}`,
  ]);
  const end = Date.now() + 5000;
  while (!tb.execIn(b.ns, 'ss', ['-Htln', 'sport = :5201']).includes(':5201')) {
    if (Date.now() > end) throw new Error(`socat did not listen in ${b.ns}: ${srv.log}`);
    await sleep(50);
  }
  tb.execIn(a.ns, 'socat', ['-u', `OPEN:${inFile},rdonly`, `TCP:${b.ip}:5201,connect-timeout=5`], {
    timeoutMs: 60_000,
  });
  await Promise.race([srv.exited, sleep(20_000)]);
  await srv.stop(500);
  const sha = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');
  return { sent: sha(data), received: fs.existsSync(outFile) ? sha(fs.readFileSync(outFile)) : '' };
}

/** nodeConflist is the stock conflist with this node's subnet.env and state directories. */
export function nodeConflist(nd: TestbedNode): Record<string, unknown> {
  const [flannel, portmap] = STOCK_CONFLIST.plugins;
  return {
    ...STOCK_CONFLIST,
    plugins: [
      {
        ...flannel,
        subnetFile: nd.subnetFile,
        dataDir: path.join(nd.dir, 'cni', 'flannel'),
        ipam: { dataDir: path.join(nd.dir, 'cni', 'networks') },
      },
      portmap,
    ],
  };
}

/** runKubeDemo runs the whole demo; resolves with what it saw (cleanup done unless keep). */
export async function runKubeDemo(
  o: KubeDemoOptions,
  onTeardown?: (t: Teardown) => void,
): Promise<KubeDemoResult> {
  const out = o.out ?? ((s: string) => process.stdout.write(s + '\n'));
  const step = (s: string): void => out(`\n== ${s}`);
  requireTools(['ip', 'ss', 'ping', 'etcd', 'socat']);
  step('Kubernetes control plane binaries');
  const bin = await ensureKubeBinaries(out);
  out(`   kube-apiserver, kube-controller-manager, kubectl: ${bin}`);

  step('building a 3-node testbed in network namespaces');
  const tb = await Testbed.create({ nodes: 3, tag: 'wk', say: (s) => out(`   ${s}`) });
  let kc: KubeCluster | null = null;
  let relay: ApiRelay | null = null;
  const runtimes = new Map<number, CniRuntime>();
  const attached: Array<{ rt: CniRuntime; ns: string; result: unknown }> = [];
  const teardown: Teardown = {
    abort: () => tb.abort(),
    cleanup: async () => {
      await Promise.all(tb.nodes.map((n) => n.weft?.stop(3000)));
      await relay?.stop();
      await kc?.stop();
      await tb.cleanup();
    },
  };
  onTeardown?.(teardown);
  const result: KubeDemoResult = {
    nodes: [],
    pods: [],
    pings: [],
    tcp: { sent: '', received: '' },
    ok: false,
  };
  try {
    step('kube-apiserver + kube-controller-manager (nodeipam) + etcd, on 127.0.0.1');
    kc = await KubeCluster.start({
      nodeIpam: true,
      detach: o.keep,
      dir: path.join(tb.dir, 'kube'),
      say: (s) => out(`   ${s}`),
    });
    out(`   etcd, kube-apiserver, kube-controller-manager: (pids ${kc.pids().join(' ')})`);
    relay = await ApiRelay.start(tb, kc.apiPort);
    out(
      `   each node reaches it at ${kc.server} on its own loopback (socat relay through ${relay.socket}; pids ${relay.pids().join(' ')})`,
    );
    out(
      `   flannel's RBAC applied (ClusterRole ${JSON.stringify(FLANNEL_RBAC.rules.map((r) => `${r.resources.join(',')}: ${r.verbs.join(',')}`))});` +
        ` weft uses a TokenRequest token of ServiceAccount ${FLANNEL_RBAC.namespace}/${FLANNEL_RBAC.serviceAccount}, not admin`,
    );

    step('Node objects (no kubelet here: created as admin); podCIDRs come from nodeipam');
    const names = tb.nodes.map((nd) => `node${nd.index}`);
    for (const nd of tb.nodes) {
      const name = `node${nd.index}`;
      await kc.admin.post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: {} });
      // The address a kubelet would report, so `kubectl get nodes -o wide` shows it.
      await kc.admin.patch(`/api/v1/nodes/${name}/status`, {
        status: { addresses: [{ type: 'InternalIP', address: nd.ip }] },
      });
    }
    const cidrs: string[] = [];
    for (const name of names) {
      const end = Date.now() + 20_000;
      for (;;) {
        const n = await kc.admin.get<{ spec?: { podCIDR?: string } }>(`/api/v1/nodes/${name}`);
        if (n.spec?.podCIDR) {
          cidrs.push(n.spec.podCIDR);
          out(`   ${name}: podCIDR ${n.spec.podCIDR}`);
          break;
        }
        if (Date.now() > end) throw new Error(`nodeipam assigned no podCIDR to ${name} in 20 s`);
        await sleep(200);
      }
    }

    step('`weft run --kube-subnet-mgr --ip-masq` in every node');
    const netConf = path.join(tb.dir, 'net-conf.json');
    fs.writeFileSync(netConf, KUBE_NET_CONF);
    out(`   net-conf.json: ${KUBE_NET_CONF}`);
    for (const nd of tb.nodes) {
      // What kubeadm's preflight requires of every node; flanneld does not set it either.
      tb.execIn(nd.ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      const args = tb.weftArgs(nd, [
        '--kube-subnet-mgr',
        `--kubeconfig-file=${kc.flannelKubeconfig}`,
        `--net-config-path=${netConf}`,
        '--ip-masq',
      ]);
      nd.weft = tb.spawnIn(nd.ns, `weft run --kube-subnet-mgr (node${nd.index})`, 'env', [
        '-u', 'POD_NAME', '-u', 'POD_NAMESPACE', `NODE_NAME=node${nd.index}`,
        process.execPath, tb.weftBin, 'run', ...args,
      ]); // prettier-ignore
      out(
        `   node${nd.index}: ip netns exec ${nd.ns} env NODE_NAME=node${nd.index} weft run ${args.join(' ')}  (pid ${nd.weft.pid})`,
      );
    }
    for (const nd of tb.nodes) {
      const f = await tb.waitReady(nd, 60_000);
      result.nodes.push({
        name: `node${nd.index}`,
        ns: nd.ns,
        podCidr: cidrs[nd.index - 1]!,
        vtepMac: String(f.vtepMac ?? ''),
      });
      out(`   node${nd.index} ready: ${fs.readFileSync(nd.subnetFile, 'utf8').trim().split('\n').join(' ')}`);
    }

    step("attaching two pods per node with weft's flannel CNI plugin (bridge + host-local + portmap)");
    const binDir = path.join(tb.dir, 'cni-bin');
    installPlugin({ dir: binDir });
    out(`   $ weft cni install ${binDir}   (CNI_PATH=${binDir}:/usr/lib/cni)`);
    out(`   conflist (node1): ${JSON.stringify(nodeConflist(tb.nodes[0]!))}`);
    for (const nd of tb.nodes) {
      const rt = new CniRuntime(nodeConflist(nd), {
        binDirs: [binDir, '/usr/lib/cni'],
        prefix: ['ip', 'netns', 'exec', nd.ns],
        quiet: true,
      });
      runtimes.set(nd.index, rt);
      for (const k of [1, 2]) {
        const ns = `${nd.ns}p${k}`;
        tb.addNamespace(ns);
        const res = rt.add({ containerId: ns, netns: `/var/run/netns/${ns}`, ifName: 'eth0' });
        attached.push({ rt, ns, result: res });
        const ip = String((res as { ips?: Array<{ address?: string }> }).ips?.[0]?.address ?? '').split(
          '/',
        )[0]!;
        result.pods.push({ node: nd.index, ns, ip });
        out(`   node${nd.index} pod ${ns}: eth0 ${ip} (CNI ADD)`);
      }
    }
    // Each node must route to both other podCIDRs before pings mean anything.
    const deadline = Date.now() + 20_000;
    for (const nd of tb.nodes) {
      const others = cidrs.filter((_, i) => i !== nd.index - 1);
      while (!others.every((c) => tb.routesOf(nd).includes(`${c} dev`))) {
        if (Date.now() > deadline)
          throw new Error(`node${nd.index} has no route to ${others.join(', ')}:\n${tb.routesOf(nd)}`);
        await sleep(100);
      }
    }

    step("what the cluster sees: kubectl get nodes -o wide, and flannel's annotations");
    out('$ kubectl get nodes -o wide    (STATUS Unknown: no kubelet runs here)');
    out(kc.kubectl(['get', 'nodes', '-o', 'wide']).trimEnd());
    for (const name of names) {
      const n = await kc.admin.get<{ metadata?: { annotations?: Record<string, string> } }>(
        `/api/v1/nodes/${name}`,
      );
      out(`-- ${name}`);
      for (const [k, v] of Object.entries(n.metadata?.annotations ?? {}).sort())
        if (k.startsWith(`${PREFIX}/`)) out(`   ${k}: ${v}`);
    }

    step('pod to pod pings (same node: cni0; across nodes: weft VXLAN)');
    for (const a of result.pods) {
      for (const b of result.pods) {
        if (a === b) continue;
        const r = pingOnce(tb, a.ns, b.ip);
        result.pings.push({ from: a.ns, to: b.ns, crossNode: a.node !== b.node, ...r });
      }
    }
    const podName = (ns: string): string => {
      const p = result.pods.find((x) => x.ns === ns)!;
      return `node${p.node}/${ns.slice(-2)} ${p.ip}`;
    };
    out(
      table([
        ['from', 'to', 'path', 'received'],
        ...result.pings.map((p) => [
          podName(p.from),
          podName(p.to),
          p.crossNode ? 'vxlan' : 'bridge',
          `${p.received}/${p.sent}`,
        ]),
      ]),
    );

    const [src, dst] = [result.pods[0]!, result.pods.find((p) => p.node === 2)!];
    step(
      `TCP across nodes: 4 MiB from pod ${src.ns} (${src.ip}) to pod ${dst.ns} (${dst.ip}), SHA-256 on both ends`,
    );
    result.tcp = await tcpTransfer(tb, src, dst);
    out(
      `   sent ${result.tcp.sent.slice(0, 16)}…  received ${result.tcp.received.slice(0, 16)}…  ${result.tcp.sent === result.tcp.received ? 'match' : 'MISMATCH'}`,
    );

    step('summary');
    out(
      table([
        ['node', 'namespace', 'podCIDR (nodeipam)', 'VTEP MAC', 'pods'],
        ...result.nodes.map((n, i) => [
          n.name,
          n.ns,
          n.podCidr,
          n.vtepMac,
          result.pods
            .filter((p) => p.node === i + 1)
            .map((p) => p.ip)
            .join(' '),
        ]),
      ]),
    );
    const lost = result.pings.filter((p) => p.received === 0);
    result.ok = result.pings.length === 30 && lost.length === 0 && result.tcp.sent === result.tcp.received;
    out(
      `result: ${result.ok ? 'OK — every pod reaches every other pod (30 pairs, 24 across nodes); TCP across nodes intact' : `FAILED (${lost.length} of ${result.pings.length} pairs unanswered${result.tcp.sent === result.tcp.received ? '' : ', TCP data differs'})`}`,
    );

    if (!o.keep) {
      step('CNI DEL for every pod');
      for (const a of attached.splice(0).reverse()) {
        a.rt.del({ containerId: a.ns, netns: `/var/run/netns/${a.ns}`, ifName: 'eth0' }, a.result);
        out(`   ${a.ns}: DEL`);
      }
    }
    return result;
  } finally {
    if (o.keep) {
      tb.keep();
      relay?.keep();
      step('--keep: the cluster and testbed stay up. To remove them:');
      for (const line of tb.removalCommands([...(relay?.pids() ?? []), ...(kc?.pids() ?? [])]))
        out(`   ${line}`);
      if (kc) out(`   kubectl: ${path.join(bin, 'kubectl')} --kubeconfig ${kc.adminKubeconfig}`);
    } else {
      step('cleaning up (weft stopped, control plane stopped, namespaces deleted, temp dir removed)');
      await teardown.cleanup();
    }
  }
}
