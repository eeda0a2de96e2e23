/**
 * weft-run-case: the `weft-run` and `weft-run-other` bench cases, two `weft run` daemons (the
 * flannel-compatible node users deploy: lease store, forwarding threads, route sync) in the
 * bench's two namespaces instead of the static `weft link` tunnel.
 *
 * The nodes share an embedded lease store directory and get the flags `weft demo` gives its
 * nodes (src/testing/testbed.ts `weftRunArgs`): the network config is the demo's (10.244.0.0/16,
 * SubnetLen 24, vxlan VNI 1), each node leases a subnet, writes subnet.env and routes to the
 * other's subnet. As in the demo, the subnet's `.1` on lo stands in for a pod address; those two
 * addresses are the iperf3 source and target. `weft-run-other` sets WEFT_FORWARDING_SCHED=other,
 * so the forwarding threads stay on SCHED_OTHER (src/dataplane/thread-sched.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseSubnetEnv } from '../control/subnet-env';
import { DEMO_NETWORK_CONFIG } from '../demo/demo';
import { ipv4NetToString, u32ToIpv4 } from '../net/addr';
import type { DataplaneStats } from '../dataplane/node-stats';
import { netnsExec, type Netns } from '../testing/netns';
import type { Proc } from '../testing/proc';
import { sh, sleep } from '../testing/shell';
import { DEFAULT_METRICS_PORT, weftRunArgs } from '../testing/testbed';
import { WEFT_BIN } from '../testing/weft-link';

/** RunNode is one started, ready `weft run` node. */
export interface RunNode {
  proc: Proc;
  /** Leased subnet (`10.244.X.0/24`) and its `.1`, added on lo. */
  subnet: string;
  podIp: string;
}

/** RunPair is both nodes and the `weft run` flags of the first (for the record). */
export interface RunPair {
  nodes: [RunNode, RunNode];
  args: string[];
}

/** runNodeArgs are the `weft run` flags of a node: the demo's testbed flags, embedded store. */
export function runNodeArgs(iface: string, nodeDir: string, storeDir: string): string[] {
  return weftRunArgs({ dev: iface, subnetFile: path.join(nodeDir, 'subnet.env'), dir: nodeDir }, storeDir);
}

/**
 * startRunPair writes the network config into a fresh embedded store under `dir`, starts
 * `weft run` in `a` and `b` (underlay devices `devA`, `devB`), waits until each is ready and
 * routes to the other's subnet, and puts each subnet's `.1` on lo. `env` (`NAME=value`) is set
 * through env(1), which execs node in place, so the PID measured is the daemon's.
 */
export async function startRunPair(
  dir: string,
  a: Netns,
  devA: string,
  b: Netns,
  devB: string,
  env: readonly string[],
  timeoutMs = 30_000,
): Promise<RunPair> {
  const storeDir = path.join(dir, 'store');
  fs.mkdirSync(path.join(storeDir, 'coreos.com', 'network'), { recursive: true });
  fs.writeFileSync(path.join(storeDir, 'coreos.com', 'network', 'config'), DEMO_NETWORK_CONFIG);
  const started: Array<{ ns: Netns; proc: Proc; nodeDir: string; args: string[] }> = [];
  for (const [ns, dev, name] of [
    [a, devA, 'node1'],
    [b, devB, 'node2'],
  ] as const) {
    const nodeDir = path.join(dir, name);
    fs.mkdirSync(nodeDir, { recursive: true });
    const args = runNodeArgs(dev, nodeDir, storeDir);
    const argv = [WEFT_BIN, 'run', ...args];
    const label = `weft run ${ns.name}`;
    const proc =
      env.length > 0
        ? ns.spawn(label, 'env', [...env, process.execPath, ...argv])
        : ns.spawn(label, process.execPath, argv);
    started.push({ ns, proc, nodeDir, args });
  }
  const nodes: RunNode[] = [];
  for (const s of started) {
    await s.proc.waitForEvent(/^ready$/, timeoutMs);
    const env = parseSubnetEnv(fs.readFileSync(path.join(s.nodeDir, 'subnet.env'), 'utf8'));
    if (!env.subnet) throw new Error(`${s.proc.label}: no FLANNEL_SUBNET in subnet.env:\n${s.proc.log}`);
    const podIp = u32ToIpv4((env.subnet.ip + 1) >>> 0);
    s.ns.ip('addr', 'add', `${podIp}/32`, 'dev', 'lo');
    nodes.push({ proc: s.proc, subnet: ipv4NetToString(env.subnet), podIp });
  }
  // Each node learns the other's lease from the store; until the route is in, pings fail.
  const deadline = Date.now() + timeoutMs;
  for (const [i, s] of started.entries()) {
    const other = nodes[1 - i]!.subnet;
    while (!s.ns.ip('route').includes(`${other} dev`)) {
      if (Date.now() > deadline) throw new Error(`${s.proc.label}: no route to ${other}:\n${s.proc.log}`);
      await sleep(100);
    }
  }
  return { nodes: [nodes[0]!, nodes[1]!], args: started[0]!.args };
}

/**
 * runStatsNote summarises a node's `/debug/stats` for the bench record: packets per batch each
 * way, TUN io mode, forwarding threads' policy and demotions, offload state and drops; what
 * explains a gap between `weft run` and `weft link`. Returns the error text if the fetch fails.
 */
export function runStatsNote(ns: string): string {
  const script =
    'fetch(process.argv[1]).then(r=>r.text()).then(t=>process.stdout.write(t))' +
    '.catch(e=>{process.stdout.write(JSON.stringify({error:String(e)}))})';
  try {
    const url = `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/stats`;
    const s = JSON.parse(
      sh('ip', netnsExec(ns, process.execPath, ['-e', script, url]), { timeoutMs: 15_000 }),
    ) as Partial<DataplaneStats> & { error?: string };
    if (s.error !== undefined) return `/debug/stats: ${s.error}`;
    const perBatch = (d?: { packets: number; batches: number }): string =>
      d && d.batches > 0 ? (d.packets / d.batches).toFixed(1) : '-';
    return `/debug/stats: ${JSON.stringify({
      egressPerBatch: perBatch(s.egress),
      ingressPerBatch: perBatch(s.ingress),
      tunIo: s.tunIo,
      forwarding: s.forwarding,
      offload: s.offload,
      drops: s.drops,
      workers: s.workers,
    })}`;
  } catch (e) {
    return `/debug/stats: ${(e as Error).message.split('\n')[0]}`;
  }
}
