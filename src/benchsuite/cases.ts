/**
 * cases: the topologies `weft bench` measures. Every case is two fresh namespaces joined by a veth
 * pair (192.0.2.1 <-> 192.0.2.2, underlay MTU as asked) and an overlay between them:
 *
 *   kernel      flannel-style kernel VXLAN (anchors.md A: vxlan id 1 dstport 8472 nolearning,
 *               <subnet>.0/32 on flannel.1, <subnet>.1/32 on lo, neigh + fdb + onlink route)
 *   weft-batch  `weft link --backend vxlan --io batch` on both sides (offloads as weft defaults)
 *   weft-nooff  the same with `--offload off` (recvmmsg/sendmmsg only): what the offloads buy
 *   weft-w2     weft-batch with `--workers 2`: a multi-queue TUN and a second worker thread per node
 *   weft-fixed  weft-batch with `--src-port fixed`: every frame from the bound port
 *   weft-flow   weft-batch with `--src-port flow`: flow-hashed source ports from a socket pool
 *   weft-rco    weft-batch with `--vxlan-rco`: inner checksums left for the receiver (VXLAN RCO)
 *   weft-dgram  `weft link --backend vxlan --io dgram` (Node dgram, one packet per call)
 *   weft-udp    `weft link --backend udp --io batch` (flannel-UDP wire format)
 *   socat       socat TUN <-> UDP (anchors.md B), the per-packet userspace reference
 *   veth        no overlay: the underlay itself, the ceiling
 *
 * The overlay source is 10.244.0.1 (10.246.0.1 for socat, 192.0.2.1 for veth) and the target
 * 10.244.1.1 (10.246.0.2, 192.0.2.2); iperf3's server binds the target (anchors.md: a wildcard
 * bind breaks the UDP test over flannel.1).
 */
import { join } from 'node:path';
import { Harness, sh, sleep, uniqueName, type Child } from './harness';

/** CASE_NAMES lists every case in display order. */
export const CASE_NAMES = [
  'kernel',
  'weft-batch',
  'weft-nooff',
  'weft-w2',
  'weft-fixed',
  'weft-flow',
  'weft-rco',
  'weft-dgram',
  'weft-udp',
  'socat',
  'veth',
] as const;
/** CaseName is one bench case. */
export type CaseName = (typeof CASE_NAMES)[number];
/** DEFAULT_CASES are measured when --cases is not given. */
export const DEFAULT_CASES: readonly CaseName[] = [
  'kernel',
  'weft-batch',
  'weft-dgram',
  'weft-udp',
  'socat',
  'veth',
];

/** CASE_LABELS are human-readable case names for the table and chart. */
export const CASE_LABELS: Record<CaseName, string> = {
  kernel: 'kernel VXLAN',
  'weft-batch': 'weft VXLAN (batch)',
  'weft-nooff': 'weft VXLAN (batch, offload off)',
  'weft-w2': 'weft VXLAN (batch, 2 workers)',
  'weft-fixed': 'weft VXLAN (batch, src-port fixed)',
  'weft-flow': 'weft VXLAN (batch, src-port flow)',
  'weft-rco': 'weft VXLAN (batch, RCO)',
  'weft-dgram': 'weft VXLAN (dgram)',
  'weft-udp': 'weft flannel-UDP',
  socat: 'socat TUN/UDP',
  veth: 'bare veth',
};

/** WEFT_BIN is bin/weft of this checkout (this file runs from dist/src/benchsuite). */
export const WEFT_BIN = join(__dirname, '..', '..', '..', 'bin', 'weft');

/** Topology is one built case, ready for iperf3. */
export interface Topology {
  name: CaseName;
  mtu: number;
  /** Client namespace and server namespace. */
  nsA: string;
  nsB: string;
  /** Overlay source (client bind) and target (server bind). */
  src: string;
  dst: string;
  /** Userspace tunnel processes whose CPU time and RSS are measured (weft, socat). */
  tunnels: Child[];
  /** weft only: the flags each `weft link` got, for the record. */
  weftArgs: string[];
}

const A_IP = '192.0.2.1';
const B_IP = '192.0.2.2';
const MAC_A = '0e:00:00:00:0a:01';
const MAC_B = '0e:00:00:00:0b:02';

/** buildCase creates the namespaces, the overlay and an iperf3 server for case `name`. */
export async function buildCase(h: Harness, name: CaseName, mtu: number): Promise<Topology> {
  const nsA = h.netns();
  const nsB = h.netns();
  const vA = uniqueName('wv');
  const vB = uniqueName('wv');
  sh('ip', ['link', 'add', vA, 'netns', nsA, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', vB, 'netns', nsB, 'mtu', String(mtu)]); // prettier-ignore
  sh('ip', ['-n', nsA, 'addr', 'add', `${A_IP}/24`, 'dev', vA]);
  sh('ip', ['-n', nsB, 'addr', 'add', `${B_IP}/24`, 'dev', vB]);
  sh('ip', ['-n', nsA, 'link', 'set', vA, 'up']);
  sh('ip', ['-n', nsB, 'link', 'set', vB, 'up']);
  const t: Topology = {
    name,
    mtu,
    nsA,
    nsB,
    src: '10.244.0.1',
    dst: '10.244.1.1',
    tunnels: [],
    weftArgs: [],
  };
  if (name === 'veth') {
    t.src = A_IP;
    t.dst = B_IP;
  } else if (name === 'kernel') {
    kernelVtep(nsA, vA, A_IP, mtu, '10.244.0');
    kernelVtep(nsB, vB, B_IP, mtu, '10.244.1');
    const macA = linkMac(nsA, 'flannel.1');
    const macB = linkMac(nsB, 'flannel.1');
    kernelPeer(nsA, '10.244.1', macB, B_IP);
    kernelPeer(nsB, '10.244.0', macA, A_IP);
  } else if (name === 'socat') {
    t.src = '10.246.0.1';
    t.dst = '10.246.0.2';
    const dev = uniqueName('ws');
    for (const [ns, addr, local, remote] of [
      [nsB, '10.246.0.2/24', B_IP, A_IP],
      [nsA, '10.246.0.1/24', A_IP, B_IP],
    ] as const) {
      const c = h.spawn(`socat ${ns}`, ns, 'socat', [
        '-b', '65536',
        `TUN:${addr},up,tun-type=tun,iff-no-pi,tun-name=${dev}`,
        `UDP:${remote}:8285,sourceport=8285,bind=${local}`,
      ]); // prettier-ignore
      t.tunnels.push(c);
      await waitUntil(
        () => linkExists(ns, dev),
        5000,
        `socat TUN in ${ns}`,
        () => c.log,
      );
      sh('ip', ['-n', ns, 'link', 'set', dev, 'mtu', String(mtu - 28)]);
    }
  } else {
    const backend = name === 'weft-udp' ? 'udp' : 'vxlan';
    const args = ['--backend', backend, '--io', name === 'weft-dgram' ? 'dgram' : 'batch'];
    if (name === 'weft-nooff') args.push('--offload', 'off');
    if (name === 'weft-w2') args.push('--workers', '2');
    if (name === 'weft-fixed') args.push('--src-port', 'fixed');
    if (name === 'weft-flow') args.push('--src-port', 'flow');
    if (name === 'weft-rco') args.push('--vxlan-rco');
    t.weftArgs = args;
    const mac = (m: string): string => (backend === 'vxlan' ? `,${m}` : '');
    for (const [ns, local, addr, peer, myMac, peerMac] of [
      [nsA, A_IP, '10.244.0.1/32', `10.244.1.0/24=${B_IP}`, MAC_A, MAC_B],
      [nsB, B_IP, '10.244.1.1/32', `10.244.0.0/24=${A_IP}`, MAC_B, MAC_A],
    ] as const) {
      const c = h.spawn(`weft link ${ns}`, ns, process.execPath, [
        WEFT_BIN, 'link', ...args, '--dev', uniqueName('wt'), '--local', local, '--address', addr,
        '--vtep-mac', myMac, '--peer', `${peer}${mac(peerMac)}`,
      ]); // prettier-ignore
      t.tunnels.push(c);
      await c.waitFor(/^ready$/m, 15_000);
    }
  }
  await checkForwarding(t);
  const srv = h.spawn(`iperf3 -s ${name}`, nsB, 'iperf3', ['-s', '-p', '5201', '-B', t.dst]);
  await waitUntil(
    () => sh('ip', ['netns', 'exec', nsB, 'ss', '-Htln', 'sport = :5201']).includes(':5201'),
    5000,
    `iperf3 server (${name})`,
    () => srv.log,
  );
  return t;
}

function kernelVtep(ns: string, dev: string, local: string, mtu: number, p3: string): void {
  sh('ip', ['-n', ns, 'link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'local', local, 'dev', dev, 'nolearning']); // prettier-ignore
  sh('ip', ['-n', ns, 'link', 'set', 'flannel.1', 'mtu', String(mtu - 50), 'up']);
  sh('ip', ['-n', ns, 'addr', 'add', `${p3}.0/32`, 'dev', 'flannel.1']);
  sh('ip', ['-n', ns, 'addr', 'add', `${p3}.1/32`, 'dev', 'lo']);
}

function kernelPeer(ns: string, p3: string, mac: string, publicIp: string): void {
  sh('ip', ['-n', ns, 'neigh', 'add', `${p3}.0`, 'lladdr', mac, 'dev', 'flannel.1', 'nud', 'permanent']);
  sh('ip', ['netns', 'exec', ns, 'bridge', 'fdb', 'append', mac, 'dev', 'flannel.1', 'dst', publicIp]);
  sh('ip', ['-n', ns, 'route', 'add', `${p3}.0/24`, 'via', `${p3}.0`, 'dev', 'flannel.1', 'onlink']);
}

function linkMac(ns: string, dev: string): string {
  const mac = sh('ip', ['-n', ns, '-br', 'link', 'show', dev]).trim().split(/\s+/)[2];
  if (!mac || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) throw new Error(`no MAC for ${dev} in ${ns}`);
  return mac;
}

function linkExists(ns: string, dev: string): boolean {
  try {
    sh('ip', ['-n', ns, 'link', 'show', dev]);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(
  cond: () => boolean,
  timeoutMs: number,
  what: string,
  diag: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${diag()}`);
    await sleep(50);
  }
}

/** checkForwarding pings the target from the source (3 tries); throws if the overlay is dead. */
async function checkForwarding(t: Topology): Promise<void> {
  let last = '';
  for (let i = 0; i < 3; i++) {
    try {
      sh('ip', ['netns', 'exec', t.nsA, 'ping', '-c', '1', '-W', '2', '-I', t.src, t.dst]);
      return;
    } catch (err) {
      last = (err as Error).message;
      await sleep(200);
    }
  }
  const logs = t.tunnels.map((c) => `${c.label}:\n${c.log}`).join('\n');
  throw new Error(`${t.name} (MTU ${t.mtu}): overlay does not forward: ${last}\n${logs}`);
}
