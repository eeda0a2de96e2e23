/**
 * kube-helpers: the kube-mode daemon tests' shared steps: a real API server inside the testbed's
 * switch namespace (reached by the nodes at 192.0.2.254:6443), Node objects, `weft run
 * --kube-subnet-mgr` per node with NODE_NAME, flannel's exact annotations, TCP with SHA-256.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { KubeNode } from '../../src/control/kube/annotations';
import { ETCD_IP, Testbed, TestbedNode } from '../../src/testing/testbed';
import { Proc } from '../../src/testing/proc';
import { sh } from '../../src/testing/shell';
import { KubeCluster } from '../../src/testing/kube-cluster';
import { waitUntil } from './cluster-helpers';

/** NET_CONF is kube-flannel.yml's net-conf.json. */
export const NET_CONF = '{"Network":"10.244.0.0/16","EnableNFTables":false,"Backend":{"Type":"vxlan"}}';
export const PREFIX = 'flannel.alpha.coreos.com';

/** startKube runs the control plane in the switch namespace at 192.0.2.254 (the testbed's store address). */
export async function startKube(tb: Testbed, nodeIpam: boolean): Promise<KubeCluster> {
  sh('ip', ['-n', tb.sw, 'addr', 'replace', `${ETCD_IP}/24`, 'dev', 'br0']);
  return KubeCluster.start({ netns: tb.sw, host: ETCD_IP, nodeIpam, dir: path.join(tb.dir, 'kube') });
}

/** netConfFile writes net-conf.json into the testbed dir. */
export function netConfFile(tb: Testbed, text = NET_CONF): string {
  const f = path.join(tb.dir, 'net-conf.json');
  fs.writeFileSync(f, text);
  return f;
}

/** createNode creates a Node as admin (no kubelet here), optionally with a podCIDR. */
export async function createNode(kc: KubeCluster, name: string, podCIDR?: string): Promise<void> {
  await kc.admin.post('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name },
    spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
  });
}

/** getNode reads a Node as admin. */
export function getNode(kc: KubeCluster, name: string): Promise<KubeNode> {
  return kc.admin.get<KubeNode>(`/api/v1/nodes/${name}`);
}

/** waitPodCidr waits until nodeipam assigned `name` a podCIDR and returns it. */
export async function waitPodCidr(kc: KubeCluster, name: string): Promise<string> {
  let cidr = '';
  // kube-controller-manager starts its controllers about 10 s after it starts.
  const end = Date.now() + 60_000;
  while (cidr === '') {
    cidr = (await getNode(kc, name)).spec?.podCIDR ?? '';
    if (cidr !== '') break;
    if (Date.now() > end)
      throw new Error(
        `nodeipam assigned no podCIDR to ${name} in 60 s:\n${tail(path.join(kc.dir, 'kube-controller-manager.log'))}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
  return cidr;
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

/** flannelAnnotations are the annotations flannel writes for a vxlan node (VNI 1). */
export function flannelAnnotations(publicIp: string, mac: string): Record<string, string> {
  return {
    [`${PREFIX}/backend-data`]: `{"VNI":1,"VtepMAC":"${mac}"}`,
    [`${PREFIX}/backend-type`]: 'vxlan',
    [`${PREFIX}/kube-subnet-manager`]: 'true',
    [`${PREFIX}/public-ip`]: publicIp,
  };
}

/** annotate PATCHes nodes/<name>/status as flannel does (strategic merge), as admin. */
export async function annotate(
  kc: KubeCluster,
  name: string,
  ann: Record<string, string | null>,
): Promise<void> {
  await kc.admin.patch(`/api/v1/nodes/${name}/status`, { metadata: { annotations: ann } });
}

/** startKubeWeft starts `weft run --kube-subnet-mgr` on `nd` as node `nodeName` with `kubeconfig`. */
export function startKubeWeft(
  tb: Testbed,
  nd: TestbedNode,
  o: { nodeName: string | null; kubeconfig: string; netConf: string; extra?: string[]; env?: string[] },
): Proc {
  const env = [...(o.nodeName === null ? [] : [`NODE_NAME=${o.nodeName}`]), ...(o.env ?? [])];
  const args = tb.weftArgs(nd, [
    '--kube-subnet-mgr',
    `--kubeconfig-file=${o.kubeconfig}`,
    `--net-config-path=${o.netConf}`,
    ...(o.extra ?? []),
  ]);
  const p = tb.spawnIn(nd.ns, `weft run --kube-subnet-mgr (node${nd.index})`, 'env', [
    '-u',
    'NODE_NAME',
    '-u',
    'POD_NAME',
    '-u',
    'POD_NAMESPACE',
    ...env,
    process.execPath,
    tb.weftBin,
    'run',
    ...args,
  ]);
  nd.weft = p;
  return p;
}

/** expectExit waits for `p` to exit and returns its code and log. */
export async function expectExit(p: Proc, ms = 60_000): Promise<{ code: number | null; log: string }> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    p.exited,
    new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${p.label} still running after ${ms} ms:\n${p.log}`)), ms);
    }),
  ]);
  clearTimeout(timer);
  return { code, log: p.log };
}

/** debugRoutes reads a node's /debug/routes. */
export function debugRoutes(
  tb: Testbed,
  nd: TestbedNode,
): { peers: Array<{ subnet: string; publicIp: string; vtepMac: string | null }> } {
  const r = tb.httpGet(nd.ns, 'http://127.0.0.1:9464/debug/routes');
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as { peers: Array<{ subnet: string; publicIp: string; vtepMac: string | null }> };
}

/** waitNoRoute waits until `subnet` is gone from `nd`'s routes. */
export async function waitNoRoute(tb: Testbed, nd: TestbedNode, subnet: string, ms = 15_000): Promise<void> {
  await waitUntil(
    () => !tb.routesOf(nd).includes(`${subnet} `),
    ms,
    `route ${subnet} removed in node${nd.index}`,
    () => tb.routesOf(nd),
  );
}

/**
 * tcpSha256 sends 4 MiB over TCP from `src` in `cns` to `dst` in `sns` (socat) and returns the
 * SHA-256 of what was sent and of what arrived.
 */
export async function tcpSha256(
  tb: Testbed,
  sns: string,
  dst: string,
  cns: string,
  src: string,
  port = 5201,
): Promise<{ sent: string; received: string }> {
  const data = randomBytes(4 * 1024 * 1024);
  const inFile = path.join(tb.dir, `tcp-${port}-${Date.now()}.bin`);
  const outFile = `${inFile}.out`;
  fs.writeFileSync(inFile, data);
  const srv = tb.spawnIn(sns, `socat server ${dst}:${port}`, 'socat', [
    '-u',
    `TCP-LISTEN:${port},bind=${dst},reuseaddr`,
    `CREATE:${outFile}`,
  ]);
  await waitUntil(
    () => tb.execIn(sns, 'ss', ['-Htln', `sport = :${port}`]).includes(`:${port}`),
    5000,
    `socat listening on ${dst}:${port}`,
  );
  tb.execIn(
    cns,
    'socat',
    ['-u', `OPEN:${inFile},rdonly`, `TCP:${dst}:${port},bind=${src},connect-timeout=5`],
    {
      timeoutMs: 60_000,
    },
  );
  await Promise.race([srv.exited, new Promise((r) => setTimeout(r, 30_000))]);
  await srv.stop(500);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  return { sent: sha(data), received: sha(fs.readFileSync(outFile)) };
}
