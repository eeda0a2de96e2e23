/**
 * cluster-helpers: shared steps of the daemon namespace tests (built on src/testing/testbed.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { LeaseAttrs } from '../../src/control/lease';
import { parseSubnetEnv } from '../../src/control/subnet-env';
import { u32ToIpv4, ipv4NetToString } from '../../src/net/addr';
import { Testbed, TestbedNode } from '../../src/testing/testbed';
import { waitFor } from '../../src/testing/shell';
import { isRoot } from '../../src/testing/tools';
import { WEFT_BIN } from '../../src/testing/weft-link';

/** CONFIG is the network config the daemon tests use. */
export const CONFIG = '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';

/** WEFT is bin/weft. */
export const WEFT = WEFT_BIN;

/** needRoot fails the test loudly unless root. */
export function needRoot(): void {
  if (!isRoot()) {
    throw new Error(
      'this test needs root (network namespaces, veth, TUN devices, etcd in a namespace); CI runs as root',
    );
  }
}

/** NodeInfo is what a started node told us. */
export interface NodeInfo {
  nd: TestbedNode;
  subnet: string;
  podIp: string;
  vtepMac: string;
  env: string;
}

/** waitUntil polls `cond` every 100 ms until true, else throws naming `what`. */
export function waitUntil(cond: () => boolean, ms: number, what: string, diag?: () => string): Promise<void> {
  return waitFor(cond, ms, what, diag, 100);
}

/** nodeInfo reads a ready node's subnet.env and adds its .1 to lo (the cni0 stand-in). */
export function nodeInfo(
  tb: Testbed,
  nd: TestbedNode,
  ready: Record<string, unknown>,
  addPodIp = true,
): NodeInfo {
  const env = fs.readFileSync(nd.subnetFile, 'utf8');
  const p = parseSubnetEnv(env);
  assert.ok(p.subnet, `node${nd.index}: FLANNEL_SUBNET in ${env}`);
  const podIp = u32ToIpv4((p.subnet.ip + 1) >>> 0);
  if (addPodIp) tb.execIn(nd.ns, 'ip', ['addr', 'replace', `${podIp}/32`, 'dev', 'lo']);
  return { nd, subnet: ipv4NetToString(p.subnet), podIp, vtepMac: String(ready.vtepMac), env };
}

/** waitRoutes waits until `nd` routes every subnet in `subnets` into flannel.1. */
export async function waitRoutes(
  tb: Testbed,
  nd: TestbedNode,
  subnets: string[],
  ms = 10_000,
): Promise<void> {
  await waitUntil(
    () => {
      const r = tb.routesOf(nd);
      return subnets.every((s) => r.includes(`${s} dev flannel.1`));
    },
    ms,
    `routes to ${subnets.join(', ')} in node${nd.index}`,
    () => `${tb.routesOf(nd)}\n${nd.weft?.log ?? ''}`,
  );
}

/** ping pings `dst` from `src` inside `ns`; returns sent/received (never throws on loss). */
export function ping(
  tb: Testbed,
  ns: string,
  src: string,
  dst: string,
  count = 3,
  interval = '0.2',
): { sent: number; received: number; out: string } {
  let out: string;
  try {
    out = tb.execIn(ns, 'ping', ['-n', '-c', String(count), '-i', interval, '-W', '2', '-I', src, dst], {
      timeoutMs: 60_000,
    });
  } catch (e) {
    out = String((e as Error & { stdout?: string }).stdout ?? (e as Error).message);
  }
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { sent: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0, out };
}

/** assertMesh pings every ordered pair and asserts every echo came back. */
export function assertMesh(tb: Testbed, nodes: NodeInfo[]): void {
  for (const a of nodes) {
    for (const b of nodes) {
      if (a === b) continue;
      const r = ping(tb, a.nd.ns, a.podIp, b.podIp, 3);
      assert.equal(r.received, 3, `node${a.nd.index} -> node${b.nd.index} (${b.podIp}): ${r.out}`);
    }
  }
}

/** leaseJson is the exact value flannel writes for a vxlan lease. */
export function leaseJson(publicIp: string, mac: string, vni = 1): string {
  return `{"PublicIP":"${publicIp}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":${vni},"VtepMAC":"${mac}"}}`;
}

/** vxlanLeaseAttrs are a vxlan lease's attributes as flanneld stores them (the JSON of leaseJson). */
export function vxlanLeaseAttrs(publicIp: string, mac: string, vni = 1): LeaseAttrs {
  return {
    publicIp,
    publicIpv6: null,
    backendType: 'vxlan',
    backendData: { VNI: vni, VtepMAC: mac },
    backendV6Data: null,
  };
}

/** assertSubnetEnv checks subnet.env is exactly flannel's format for `subnet`. */
export function assertSubnetEnv(info: NodeInfo, mtu = 1450): void {
  assert.equal(
    info.env,
    `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${info.podIp}/24\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=false\n`,
  );
}

/** startAll starts `weft run` on the given nodes and waits until each is ready. */
export async function startAll(tb: Testbed, nds: TestbedNode[], extra: string[] = []): Promise<NodeInfo[]> {
  for (const nd of nds) tb.startWeft(nd, extra);
  const out: NodeInfo[] = [];
  for (const nd of nds) out.push(nodeInfo(tb, nd, await tb.waitReady(nd, 30_000)));
  return out;
}
