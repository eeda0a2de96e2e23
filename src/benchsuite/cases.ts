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
 *   weft-uring  weft-batch with WEFT_TUN_IO=io_uring said explicitly (the default since it measured
 *               faster; kept so the records that named it redraw)
 *   weft-readv  weft-batch with WEFT_TUN_IO=readv: one read()/write() per TUN packet instead of
 *               io_uring batches (src/io/tun-io.ts), what the ring buys
 *   weft-noyield weft-batch with WEFT_YIELD_BUDGET=0: the forwarding loops never yield the CPU
 *               between bursts (src/dataplane/yield-budget.ts), what yielding buys
 *   weft-run    two `weft run` daemons (the node users deploy: embedded lease store, forwarding
 *               threads on SCHED_RR, route sync) with the demo's network config (weft-run-case.ts)
 *   weft-run-other weft-run with WEFT_FORWARDING_SCHED=other: what the real-time policy buys
 *   weft-dgram  `weft link --backend vxlan --io dgram` (Node dgram, one packet per call)
 *   weft-udp    `weft link --backend udp --io batch` (flannel-UDP wire format)
 *   socat       socat TUN <-> UDP (anchors.md B), the per-packet userspace reference
 *   veth        no overlay: the underlay itself, the ceiling
 *
 * The overlay source is 10.244.0.1 (10.246.0.1 for socat, 192.0.2.1 for veth, the leased
 * subnets' .1 for weft-run) and the target 10.244.1.1 (10.246.0.2, 192.0.2.2, the other lease's .1); iperf3's server binds the target (anchors.md: a wildcard
 * bind breaks the UDP test over flannel.1).
 */
import { Harness } from './harness';
import { addKernelFlannelPeer, setupKernelFlannel } from '../testing/kernel-flannel';
import { addVethPair, startSocatTun } from '../testing/netns';
import type { Proc } from '../testing/proc';
import { sh, sleep, uniqueName, waitFor } from '../testing/shell';
import { startWeftLink } from '../testing/weft-link';
import { startRunPair } from './weft-run-case';

/** CASE_NAMES lists every case in display order. */
export const CASE_NAMES = [
  'kernel',
  'weft-batch',
  'weft-nooff',
  'weft-w2',
  'weft-fixed',
  'weft-flow',
  'weft-rco',
  'weft-uring',
  'weft-readv',
  'weft-noyield',
  'weft-run',
  'weft-run-other',
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
  'weft-uring': 'weft VXLAN (batch, io_uring TUN)',
  'weft-readv': 'weft VXLAN (batch, TUN read/write loop)',
  'weft-noyield': 'weft VXLAN (batch, no CPU yield)',
  'weft-run': 'weft run VXLAN (daemon)',
  'weft-run-other': 'weft run VXLAN (daemon, SCHED_OTHER)',
  'weft-dgram': 'weft VXLAN (dgram)',
  'weft-udp': 'weft flannel-UDP',
  socat: 'socat TUN/UDP',
  veth: 'bare veth',
};

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
  tunnels: Proc[];
  /** weft only: the flags each `weft link` (or the first `weft run`) got, for the record. */
  weftArgs: string[];
}

const A_IP = '192.0.2.1';
const B_IP = '192.0.2.2';
const MAC_A = '0e:00:00:00:0a:01';
const MAC_B = '0e:00:00:00:0b:02';

/** buildCase creates the namespaces, the overlay and an iperf3 server for case `name`. */
export async function buildCase(h: Harness, name: CaseName, mtu: number): Promise<Topology> {
  const a = h.netns();
  const b = h.netns();
  const vA = uniqueName('wv');
  const vB = uniqueName('wv');
  addVethPair(a.name, vA, b.name, vB, mtu);
  a.ip('addr', 'add', `${A_IP}/24`, 'dev', vA);
  b.ip('addr', 'add', `${B_IP}/24`, 'dev', vB);
  a.ip('link', 'set', vA, 'up');
  b.ip('link', 'set', vB, 'up');
  const t: Topology = {
    name,
    mtu,
    nsA: a.name,
    nsB: b.name,
    src: '10.244.0.1',
    dst: '10.244.1.1',
    tunnels: [],
    weftArgs: [],
  };
  if (name === 'veth') {
    t.src = A_IP;
    t.dst = B_IP;
  } else if (name === 'kernel') {
    const kA = setupKernelFlannel(a, {
      local: A_IP,
      underlayDev: vA,
      subnet: '10.244.0.0/24',
      underlayMtu: mtu,
    });
    const kB = setupKernelFlannel(b, {
      local: B_IP,
      underlayDev: vB,
      subnet: '10.244.1.0/24',
      underlayMtu: mtu,
    });
    addKernelFlannelPeer(a, kA, { subnet: '10.244.1.0/24', mac: kB.mac, publicIp: B_IP });
    addKernelFlannelPeer(b, kB, { subnet: '10.244.0.0/24', mac: kA.mac, publicIp: A_IP });
  } else if (name === 'socat') {
    t.src = '10.246.0.1';
    t.dst = '10.246.0.2';
    const dev = uniqueName('ws');
    for (const [ns, address, local, remote] of [
      [b, '10.246.0.2/24', B_IP, A_IP],
      [a, '10.246.0.1/24', A_IP, B_IP],
    ] as const) {
      t.tunnels.push(await startSocatTun(ns, { dev, address, local, remote, port: 8285, mtu: mtu - 28 }));
    }
  } else if (name === 'weft-run' || name === 'weft-run-other') {
    const env = name === 'weft-run-other' ? ['WEFT_FORWARDING_SCHED=other'] : [];
    const pair = await startRunPair(h.tempDir(), a, vA, b, vB, env);
    t.src = pair.nodes[0].podIp;
    t.dst = pair.nodes[1].podIp;
    t.weftArgs = pair.args;
    t.tunnels.push(...pair.nodes.map((n) => n.proc));
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
      [a, A_IP, '10.244.0.1/32', `10.244.1.0/24=${B_IP}`, MAC_A, MAC_B],
      [b, B_IP, '10.244.1.1/32', `10.244.0.0/24=${A_IP}`, MAC_B, MAC_A],
    ] as const) {
      const tunIo = name === 'weft-uring' ? 'io_uring' : name === 'weft-readv' ? 'readv' : null;
      const env = tunIo !== null ? [`WEFT_TUN_IO=${tunIo}`] : [];
      if (name === 'weft-noyield') env.push('WEFT_YIELD_BUDGET=0');
      const w = await startWeftLink(ns, [
        ...args, '--dev', uniqueName('wt'), '--local', local, '--address', addr,
        '--vtep-mac', myMac, '--peer', `${peer}${mac(peerMac)}`,
      ], 15_000, env); // prettier-ignore
      t.tunnels.push(w.proc);
    }
  }
  await checkForwarding(t);
  const srv = b.spawn(`iperf3 -s ${name}`, 'iperf3', ['-s', '-p', '5201', '-B', t.dst]);
  await waitFor(
    () => b.listening(5201),
    5000,
    `iperf3 server (${name})`,
    () => srv.log,
  );
  return t;
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
