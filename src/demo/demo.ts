/**
 * demo: the body of `weft demo` — a three-node flannel network in namespaces, end to end:
 *   1. check tools (nothing is installed behind the user's back: ToolMissingError names apt-get)
 *   2. testbed: switch namespace + bridge, three node namespaces on 192.0.2.0/24 (testbed.ts)
 *   3. store: embedded directory in a temp dir, or etcd started in the switch namespace
 *   4. network config 10.244.0.0/16, SubnetLen 24, vxlan VNI 1; `weft run` in every node
 *   5. each node's subnet .1 on lo (the cni0 stand-in), wait until every node routes to every other
 *   6. show the leases (as `cat` / `etcdctl get` shows them) and `ip route` per node
 *   7. ping every ordered pair, a short iperf3 between node1 and node2
 *   8. summary table; cleanup (also on Ctrl-C) unless --keep
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseSubnetEnv } from '../control/subnet-env';
import { u32ToIpv4, ipv4NetToString } from '../net/addr';
import { Testbed, TestbedNode, DEFAULT_METRICS_PORT } from '../testing/testbed';
import { sleep } from '../testing/shell';
import { requireTools } from '../testing/tools';
import { table } from './text-table';

/** DEMO_NETWORK_CONFIG is the network config the demo writes. */
export const DEMO_NETWORK_CONFIG =
  '{"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';

/** DemoOptions configures runDemo. */
export interface DemoOptions {
  readonly store: 'embedded' | 'etcd';
  readonly keep: boolean;
  /** iperf3 seconds (default 3). */
  readonly iperfSeconds?: number;
  readonly out?: (s: string) => void;
}

/** PingRow is one ping of the summary. */
export interface PingRow {
  from: number;
  to: number;
  dst: string;
  sent: number;
  received: number;
  rttAvgMs: number | null;
}

/** DemoResult is what the demo measured. */
export interface DemoResult {
  nodes: Array<{
    index: number;
    ns: string;
    ip: string;
    subnet: string;
    podIp: string;
    vtepMac: string;
    mtu: number;
  }>;
  pings: PingRow[];
  iperfBitsPerSecond: number | null;
  iperfError: string | null;
  ok: boolean;
}

/** podIpOf reads a node's subnet.env and returns its `.1` address and subnet. */
function subnetOf(nd: TestbedNode): { subnet: string; podIp: string; mtu: number } {
  const env = parseSubnetEnv(fs.readFileSync(nd.subnetFile, 'utf8'));
  if (!env.subnet) throw new Error(`node${nd.index}: no FLANNEL_SUBNET in ${nd.subnetFile}`);
  return {
    subnet: ipv4NetToString(env.subnet),
    podIp: u32ToIpv4((env.subnet.ip + 1) >>> 0),
    mtu: env.mtu ?? 0,
  };
}

/** runPing pings from `ns` (source `src`) to `dst`; never throws on loss. */
function runPing(
  tb: Testbed,
  ns: string,
  src: string,
  dst: string,
  count = 3,
): { sent: number; received: number; avg: number | null } {
  let out: string;
  try {
    out = tb.execIn(ns, 'ping', ['-n', '-c', String(count), '-i', '0.2', '-W', '2', '-I', src, dst], {
      timeoutMs: 20_000,
    });
  } catch (e) {
    out = String((e as Error & { stdout?: string }).stdout ?? (e as Error).message);
  }
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(out);
  return { sent: m ? Number(m[1]) : count, received: m ? Number(m[2]) : 0, avg: rtt ? Number(rtt[1]) : null };
}

/** runDemo runs the whole demo; resolves with what it measured (cleanup done unless keep). */
export async function runDemo(o: DemoOptions, onTestbed?: (tb: Testbed) => void): Promise<DemoResult> {
  const out = o.out ?? ((s: string) => process.stdout.write(s + '\n'));
  const step = (s: string): void => out(`\n== ${s}`);
  requireTools(['ip', 'ping', 'iperf3', ...(o.store === 'etcd' ? ['etcd', 'etcdctl'] : [])]);
  step(`building a 3-node testbed in network namespaces (store: ${o.store})`);
  const tb = await Testbed.create({ nodes: 3, store: o.store, tag: 'wd', say: (s) => out(`   ${s}`) });
  onTestbed?.(tb);
  const result: DemoResult = { nodes: [], pings: [], iperfBitsPerSecond: null, iperfError: null, ok: false };
  try {
    tb.writeConfig(DEMO_NETWORK_CONFIG);
    out(`   network config: ${DEMO_NETWORK_CONFIG}`);
    step('starting `weft run` in every node');
    for (const nd of tb.nodes) {
      tb.startWeft(nd);
      out(
        `   node${nd.index}: ip netns exec ${nd.ns} weft run ${tb.weftArgs(nd).join(' ')}  (pid ${nd.weft!.pid})`,
      );
    }
    for (const nd of tb.nodes) {
      const f = await tb.waitReady(nd, 30_000);
      const s = subnetOf(nd);
      result.nodes.push({
        index: nd.index,
        ns: nd.ns,
        ip: nd.ip,
        subnet: s.subnet,
        podIp: s.podIp,
        vtepMac: String(f.vtepMac ?? ''),
        mtu: s.mtu,
      });
      // The subnet's .1 on lo stands in for cni0 / a pod address (anchors.md).
      tb.execIn(nd.ns, 'ip', ['addr', 'add', `${s.podIp}/32`, 'dev', 'lo']);
      out(`   node${nd.index} ready: subnet ${s.subnet}, VTEP MAC ${String(f.vtepMac)}`);
    }
    // Every node must route to both others before the pings mean anything.
    const deadline = Date.now() + 15_000;
    for (const nd of tb.nodes) {
      const others = result.nodes.filter((n) => n.index !== nd.index).map((n) => n.subnet);
      while (!others.every((s) => tb.routesOf(nd).includes(`${s} dev`))) {
        if (Date.now() > deadline)
          throw new Error(`node${nd.index} has no route to ${others.join(', ')}:\n${tb.routesOf(nd)}`);
        await sleep(100);
      }
    }

    step('leases in the store (what flannel would see)');
    if (o.store === 'etcd') {
      out('$ etcdctl get --prefix /coreos.com/network/subnets');
      out(tb.etcdctl(['get', '--prefix', '/coreos.com/network/subnets']).trimEnd());
    } else {
      const dir = path.join(tb.storeDir, 'coreos.com', 'network', 'subnets');
      for (const f of fs.readdirSync(dir).sort()) {
        out(`$ cat ${path.join(dir, f)}`);
        out(fs.readFileSync(path.join(dir, f), 'utf8'));
      }
    }
    step('routes (ip route, per node)');
    for (const nd of tb.nodes) {
      out(`-- node${nd.index} (${nd.ns})`);
      out(tb.routesOf(nd).trimEnd());
    }
    out(`-- node1 subnet.env (${tb.nodes[0]!.subnetFile})`);
    out(fs.readFileSync(tb.nodes[0]!.subnetFile, 'utf8').trimEnd());

    step('ping across every pair (from the subnet .1 address on lo)');
    for (const a of result.nodes) {
      for (const b of result.nodes) {
        if (a === b) continue;
        const r = runPing(tb, a.ns, a.podIp, b.podIp);
        result.pings.push({
          from: a.index,
          to: b.index,
          dst: b.podIp,
          sent: r.sent,
          received: r.received,
          rttAvgMs: r.avg,
        });
        out(
          `   node${a.index} ${a.podIp} -> node${b.index} ${b.podIp}: ${r.received}/${r.sent}${r.avg !== null ? `, rtt avg ${r.avg} ms` : ''}`,
        );
      }
    }

    const secs = o.iperfSeconds ?? 3;
    const [n1, n2] = [result.nodes[0]!, result.nodes[1]!];
    step(`iperf3 ${secs} s: node1 ${n1.podIp} -> node2 ${n2.podIp}`);
    const srv = tb.spawnIn(n2.ns, 'iperf3 server', 'iperf3', ['-s', '-1', '-p', '5201', '-B', n2.podIp]);
    try {
      const ready = Date.now() + 5000;
      while (!tb.execIn(n2.ns, 'ss', ['-Htln', 'sport = :5201']).includes(':5201')) {
        if (Date.now() > ready) throw new Error(`iperf3 server did not start: ${srv.log}`);
        await sleep(100);
      }
      let json: string;
      try {
        json = tb.execIn(
          n1.ns,
          'iperf3',
          ['-c', n2.podIp, '-B', n1.podIp, '-p', '5201', '-t', String(secs), '-J'],
          { timeoutMs: (secs + 20) * 1000 },
        );
      } catch (e) {
        json = String((e as Error & { stdout?: string }).stdout ?? '{}');
      }
      // iperf3 can exit 0 with "error" in the JSON (anchors.md), so check both.
      const r = JSON.parse(json || '{}') as {
        error?: string;
        end?: { sum_received?: { bits_per_second?: number } };
      };
      result.iperfError = r.error ?? null;
      result.iperfBitsPerSecond = r.end?.sum_received?.bits_per_second ?? null;
      out(
        result.iperfBitsPerSecond !== null
          ? `   TCP 1 stream: ${(result.iperfBitsPerSecond / 1e9).toFixed(2)} Gbit/s`
          : `   iperf3 failed: ${result.iperfError ?? 'no result'}`,
      );
    } finally {
      await srv.stop(1000);
    }

    step('summary');
    const counters = result.nodes.map((n) => {
      const r = tb.httpGet(n.ns, `http://127.0.0.1:${DEFAULT_METRICS_PORT}/debug/stats`);
      try {
        const s = JSON.parse(r.body) as {
          egress: { packets: number };
          ingress: { packets: number };
          drops: Record<string, number>;
        };
        const nonZero = Object.entries(s.drops).filter(([, v]) => v > 0);
        const total = nonZero.reduce((a, [, v]) => a + v, 0);
        const drops = total === 0 ? '0' : `${total} (${nonZero.map(([k, v]) => `${k} ${v}`).join(', ')})`;
        return {
          tx: s.egress.packets,
          rx: s.ingress.packets,
          drops,
          linkScope: (s.drops['link_scope'] ?? 0) > 0,
        };
      } catch {
        return { tx: NaN, rx: NaN, drops: '?', linkScope: false };
      }
    });
    out(
      table([
        ['node', 'namespace', 'underlay', 'subnet (lease)', 'VTEP MAC', 'MTU', 'tx pkts', 'rx pkts', 'drops'],
        ...result.nodes.map((n, i) => [
          `node${n.index}`, n.ns, n.ip, n.subnet, n.vtepMac, String(n.mtu),
          String(counters[i]!.tx), String(counters[i]!.rx), counters[i]!.drops,
        ]), // prettier-ignore
      ]),
    );
    if (counters.some((c) => c.linkScope)) {
      out("link_scope: the TUN's own IPv6 router solicitations and MLD reports, which no router forwards");
      out('(docs/operations.md, drop reasons); every other reason would point at the overlay.');
    }
    out('');
    out(
      table([
        ['ping', 'to', 'received', 'rtt avg'],
        ...result.pings.map((p) => [
          `node${p.from}`,
          `node${p.to} (${p.dst})`,
          `${p.received}/${p.sent}`,
          p.rttAvgMs !== null ? `${p.rttAvgMs} ms` : '-',
        ]),
      ]),
    );
    const pingsOk = result.pings.length === 6 && result.pings.every((p) => p.received > 0);
    const iperfOk =
      result.iperfBitsPerSecond !== null && result.iperfBitsPerSecond > 0 && result.iperfError === null;
    out('');
    out(
      `iperf3 node1 -> node2: ${iperfOk ? `${(result.iperfBitsPerSecond! / 1e9).toFixed(2)} Gbit/s` : `FAILED (${result.iperfError ?? 'no result'})`}`,
    );
    result.ok = pingsOk && iperfOk;
    out(`result: ${result.ok ? 'OK — every pair reachable over weft' : 'FAILED'}`);
    return result;
  } finally {
    if (o.keep) {
      tb.keep();
      step('--keep: the testbed stays up. To remove it:');
      for (const line of tb.removalCommands()) out(`   ${line}`);
    } else {
      step('cleaning up (weft nodes stopped, namespaces deleted, temp dir removed)');
      await tb.cleanup();
    }
  }
}
