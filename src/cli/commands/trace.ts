/**
 * `weft trace DST_IP [--node URL]`: asks a running `weft run --debug` node which route a packet
 * to DST_IP matches, which peer that is (public IP, VTEP MAC, backend, port), and shows the frame
 * such a packet would leave with — built with src/encap exactly as the egress path builds it,
 * plus the outer IPv4/UDP header (writeOuterIPv4Udp), rendered by src/explain as `weft explain`
 * renders frames — followed by the node's relevant counters and, from /debug/flows, the per-flow
 * counters of the flows to and from DST_IP in each direction.
 */
import { ConfigError, UsageError, WeftError } from '../../errors';
import { commandLine, intValue, ipv4Value, parseArgv } from '../args';
import {
  HEADROOM,
  flannelUdpEncap,
  flowSourcePort,
  makeVxlanConfig,
  newDropCounters,
  vxlanEncap,
  writeOuterIPv4Udp,
} from '../../encap';
import { explainFrame } from '../../explain';
import { ipv4ToU32, macToBuffer, ipv4Mask, tryIpv4ToU32 } from '../../net/addr';
import { RouteTable } from '../../route/route-table';
import type { Peer } from '../../route/peer';
import { buildIcmpEcho } from '../../testing/packets';
import type { DebugRoutes } from '../../daemon/daemon';
import type { DataplaneFlows, DataplaneStats } from '../../dataplane/node';
import type { FlowEntry } from '../../dataplane/flow-table';

/** DEFAULT_TRACE_NODE is where `weft trace` looks without --node (weft run --metrics-port 9464 --debug). */
export const DEFAULT_TRACE_NODE = 'http://127.0.0.1:9464';

/** usage is the `weft help trace` text. */
export const usage = `usage: weft trace DST_IP [--node URL] [--src IP] [--size N] [--json]

Asks a running node (weft run ... --metrics-port PORT --debug) how it would forward a packet to
DST_IP: the matching route (longest prefix among the peers' leased subnets), the peer (public IP,
VTEP MAC, backend, port, lease key), the outer headers, the whole sample frame field by field (as
weft explain prints it), the node's counters for that direction and the per-flow counters
(packets, bytes, peer) of the flows to and from DST_IP that the node has seen.

  --node URL   the node's debug server (default ${DEFAULT_TRACE_NODE})
  --src IP     inner source of the sample packet (default: the node's <subnet>.0, as host traffic)
  --size N     ICMP echo payload bytes of the sample packet (default 56)
  --json       print the result as JSON instead of text`;

/** TraceResult is what `weft trace --json` prints. */
export interface TraceResult {
  dst: string;
  verdict: 'peer' | 'direct' | 'local' | 'outside-network' | 'no-route';
  node: DebugRoutes['node'];
  route: string | null;
  peer: DebugRoutes['peers'][number] | null;
  /** The DirectRouting peer (verdict 'direct'): plain routed IP via its public IP, no overlay. */
  direct: DebugRoutes['direct'][number] | null;
  outer: {
    src: string;
    dst: string;
    srcPort: number;
    dstPort: number;
    vni: number | null;
    innerSrcMac: string | null;
    innerDstMac: string | null;
  } | null;
  frameHex: string | null;
  counters: {
    egressPackets: number;
    egressBytes: number;
    egressDrops: Record<string, number>;
    routes: number;
  } | null;
  /** Flows to (egress) and from (ingress) DST_IP with their counters; null when the node keeps none. */
  flows: { egress: FlowEntry[]; ingress: FlowEntry[]; otherEgress: number; otherIngress: number } | null;
}

function inCidr(ip: number, cidr: string): boolean {
  const [a, l] = cidr.split('/');
  const mask = ipv4Mask(Number(l));
  return (ip & mask) >>> 0 === (ipv4ToU32(a!) & mask) >>> 0;
}

async function getJson<T>(url: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new WeftError(
      'WEFT_ERR_TRACE',
      `cannot reach ${url}: ${(e as Error).message} (is weft run started with --debug and --metrics-port?)`,
    );
  }
  if (res.status === 404) throw new WeftError('WEFT_ERR_TRACE', `${url}: 404 (start weft run with --debug)`);
  if (!res.ok) throw new WeftError('WEFT_ERR_TRACE', `${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** traceOffline computes the trace from a /debug/routes document (and optional stats). */
export function traceOffline(
  dst: string,
  routes: DebugRoutes,
  stats: DataplaneStats | null,
  o: { src?: string; size?: number; flows?: DataplaneFlows | null } = {},
): TraceResult {
  const dstU32 = tryIpv4ToU32(dst);
  if (dstU32 < 0) throw new ConfigError('DST_IP', 'must be an IPv4 address', dst);
  const node = routes.node;
  const r: TraceResult = {
    dst,
    verdict: 'no-route',
    node,
    route: null,
    peer: null,
    direct: null,
    outer: null,
    frameHex: null,
    counters: null,
    flows: null,
  };
  if (o.flows) {
    r.flows = {
      egress: o.flows.egress.flows.filter((f) => f.dst === dst),
      ingress: o.flows.ingress.flows.filter((f) => f.src === dst),
      otherEgress: o.flows.egress.other.packets,
      otherIngress: o.flows.ingress.other.packets,
    };
  }
  if (stats) {
    r.counters = {
      egressPackets: stats.egress.packets,
      egressBytes: stats.egress.bytes,
      egressDrops: stats.egressDrops,
      routes: stats.routes.peers,
    };
  }
  if (!node) return r;
  if (inCidr(dstU32, node.subnet)) return { ...r, verdict: 'local' };
  if (!inCidr(dstU32, node.network)) return { ...r, verdict: 'outside-network' };
  const peers: Peer[] = routes.peers.map((p, index) => ({
    index,
    subnet: p.subnet,
    publicIp: p.publicIp,
    publicIpU32: ipv4ToU32(p.publicIp),
    vtepMac: p.vtepMac ? macToBuffer(p.vtepMac) : null,
    backend: p.backend,
  }));
  const hit = RouteTable.build(peers).lookupV4(dstU32);
  if (!hit) {
    // DirectRouting peers are not in the dataplane: the kernel routes to them without weft.
    let best: DebugRoutes['direct'][number] | null = null;
    for (const d of routes.direct ?? []) {
      const len = Number(d.subnet.split('/')[1]);
      if (inCidr(dstU32, d.subnet) && (best === null || len > Number(best.subnet.split('/')[1]))) best = d;
    }
    if (best !== null) return { ...r, verdict: 'direct', route: best.subnet, direct: best };
    return r;
  }
  const dp = routes.peers[hit.index]!;
  r.verdict = 'peer';
  r.route = hit.subnet;
  r.peer = dp;

  // The sample packet, encapsulated as egress.ts does it, then the outer header the socket adds.
  const src = o.src ?? node.subnet.split('/')[0]!;
  const inner = buildIcmpEcho(src, dst, { size: o.size ?? 56 });
  const buf = Buffer.alloc(HEADROOM + inner.length);
  inner.copy(buf, HEADROOM);
  let start: number;
  if (node.backend === 'vxlan') {
    const cfg = makeVxlanConfig({
      vni: node.vni,
      localMac: macToBuffer(node.vtepMac ?? '02:00:00:00:00:01'),
    });
    start = vxlanEncap(buf, HEADROOM, inner.length, hit.vtepMac!, cfg);
  } else {
    start = flannelUdpEncap(buf, HEADROOM, inner.length, newDropCounters(), node.mtu);
    if (start < 0)
      throw new ConfigError(
        'DST_IP',
        'the sample packet would be dropped by flannel-UDP encapsulation (TTL)',
      );
  }
  const payloadLen = HEADROOM + inner.length - start;
  // The source port as the node sends it (sampleSourcePort); the kernel's UDP socket computes
  // the checksum.
  const sport = sampleSourcePort(node, stats, inner);
  const ip = writeOuterIPv4Udp(
    buf,
    start,
    payloadLen,
    ipv4ToU32(node.localIp),
    hit.publicIpU32,
    sport,
    dp.port,
    {
      ttl: 64,
      tos: 0,
      // As the node sends it: VXLAN over --io batch with DF clear like the kernel's flannel.1;
      // flannel-UDP (as flannel's proxy) and Node dgram sockets with the socket default, DF set.
      df: node.backend === 'udp' || node.io === 'dgram',
      udpChecksum: true,
    },
  );
  r.outer = {
    src: node.localIp,
    dst: dp.publicIp,
    srcPort: sport,
    dstPort: dp.port,
    vni: node.backend === 'vxlan' ? node.vni : null,
    innerSrcMac: node.backend === 'vxlan' ? node.vtepMac : null,
    innerDstMac: dp.vtepMac,
  };
  r.frameHex = buf.subarray(ip).toString('hex');
  return r;
}

/**
 * sampleSourcePort is the outer source port the node sends `inner` from: its bound port
 * (`--src-port fixed`, flannel-UDP), or with `--src-port flow` the port of the source-port pool
 * socket the flow hashes to (queue 0's pool, the first share of `srcPort.ports`; with workers the
 * kernel may steer the flow to another queue's pool), or the hashed port itself (raw socket).
 */
function sampleSourcePort(
  node: NonNullable<DebugRoutes['node']>,
  stats: DataplaneStats | null,
  inner: Buffer,
): number {
  const sp = stats?.srcPort;
  if (node.backend !== 'vxlan' || sp?.mode !== 'flow') return node.port;
  const ports = sp.ports;
  if (ports === undefined || ports.length === 0)
    return flowSourcePort(inner, 0, inner.length, sp.min, sp.max);
  const queues = Math.max(1, stats?.workers?.count ?? 1);
  const pool = ports.slice(0, Math.max(1, Math.floor(ports.length / queues)));
  return pool[flowSourcePort(inner, 0, inner.length, 0, pool.length - 1)]!;
}

/** renderTrace prints a TraceResult as text. */
export function renderTrace(r: TraceResult, color = false): string {
  const n = r.node;
  const lines: string[] = [];
  if (!n) return `node has no lease yet: cannot trace ${r.dst}`;
  lines.push(
    `node:   ${n.subnet} on ${n.dev} (${n.backend}${n.backend === 'vxlan' ? ` VNI ${n.vni}` : ''}${n.backend === 'host-gw' ? '' : `, port ${n.port}`}), public IP ${n.publicIp}${n.vtepMac ? `, VTEP MAC ${n.vtepMac}` : ''}, MTU ${n.mtu}`,
  );
  switch (r.verdict) {
    case 'local':
      lines.push(
        `route:  ${r.dst} is inside this node's own subnet ${n.subnet}: delivered locally by the kernel, not by the overlay`,
      );
      break;
    case 'outside-network':
      lines.push(
        `route:  ${r.dst} is outside the overlay network ${n.network}: the kernel routes it elsewhere; weft never sees it`,
      );
      break;
    case 'no-route':
      lines.push(
        n.backend === 'host-gw'
          ? `route:  none — no host-gw peer leases a subnet containing ${r.dst}; the kernel routes it by its own table (there is no weft dataplane with host-gw)`
          : `route:  none — no peer leases a subnet containing ${r.dst}; the packet is dropped (drop reason no_route${n.backend === 'udp' ? ', ICMP net unreachable sent back' : ''})`,
      );
      break;
    case 'direct': {
      const d = r.direct!;
      const why = n.backend === 'host-gw' ? 'host-gw' : 'DirectRouting';
      lines.push(`route:  ${r.route} -> lease ${d.leaseKey} (${why}: the peer shares this node's L2)`);
      lines.push(
        `peer:   public IP ${d.publicIp}: the kernel routes ${r.dst} via ${d.publicIp} as plain IP, without encapsulation; weft never sees it` +
          (d.installed
            ? ''
            : ' (the route is NOT installed: see the daemon log; it is retried on the next change)'),
      );
      break;
    }
    case 'peer': {
      const p = r.peer!;
      const o = r.outer!;
      lines.push(`route:  ${r.route} (longest prefix match) -> lease ${p.leaseKey}`);
      lines.push(
        `peer:   public IP ${p.publicIp}, ${p.backend}${p.vtepMac ? `, VTEP MAC ${p.vtepMac}` : ''}, port ${p.port}`,
      );
      lines.push(
        `outer:  IPv4 ${o.src} -> ${o.dst}, UDP ${o.srcPort} -> ${o.dstPort}` +
          (o.vni !== null
            ? `, VXLAN VNI ${o.vni}, inner Ethernet ${o.innerSrcMac} -> ${o.innerDstMac}`
            : ', payload = the IP packet (TTL - 1)'),
      );
      lines.push('');
      lines.push(
        explainFrame(Buffer.from(r.frameHex!, 'hex'), {
          link: 'ip',
          vxlanPorts: [o.dstPort],
          udpPorts: n.backend === 'udp' ? [o.dstPort] : [],
          color,
          title: `sample: ICMP echo to ${r.dst} as it leaves ${n.publicIp}`,
        }).trimEnd(),
      );
    }
  }
  if (r.counters) {
    const c = r.counters;
    const drops =
      Object.entries(c.egressDrops)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || 'none';
    lines.push('');
    lines.push(
      `counters (egress): ${c.egressPackets} packets, ${c.egressBytes} bytes, ${c.routes} peer routes, drops: ${drops}`,
    );
  }
  if (r.flows) {
    const f = r.flows;
    const proto = (p: number): string =>
      p === 1 ? 'icmp' : p === 6 ? 'tcp' : p === 17 ? 'udp' : `proto ${p}`;
    const ends = (e: FlowEntry): string =>
      e.sport === 0 && e.dport === 0 ? `${e.src} > ${e.dst}` : `${e.src}:${e.sport} > ${e.dst}:${e.dport}`;
    lines.push('');
    lines.push(`flows to/from ${r.dst} (per-flow counters):`);
    for (const e of f.egress)
      lines.push(
        `  egress  ${ends(e)} ${proto(e.proto)} to peer ${e.peer}: ${e.packets} packets, ${e.bytes} bytes`,
      );
    for (const e of f.ingress)
      lines.push(
        `  ingress ${ends(e)} ${proto(e.proto)} from peer ${e.peer}: ${e.packets} packets, ${e.bytes} bytes`,
      );
    if (f.egress.length + f.ingress.length === 0) lines.push('  none seen yet');
    if (f.otherEgress + f.otherIngress > 0)
      lines.push(
        `  (not per flow: ${f.otherEgress} egress + ${f.otherIngress} ingress packets, non-IPv4 or table full)`,
      );
  }
  return lines.join('\n');
}

/** TraceArgs is the parsed command line of `weft trace`. */
export interface TraceArgs {
  dst: string;
  /** Base URL of the node's debug server, without a trailing slash. */
  node: string;
  src?: string;
  size?: number;
  json: boolean;
}

/** parseTraceArgs parses `weft trace` arguments; UsageError / ConfigError naming the flag. */
export function parseTraceArgs(argv: string[]): TraceArgs {
  const a = parseArgv(argv, {
    bool: ['--json'],
    value: ['--node', '--src', '--size'],
    positional: true,
    missing: (flag) => `flag needs an argument: ${flag}`,
  });
  const sizeText = a.get('--size');
  const size = sizeText === undefined ? undefined : intValue('--size', sizeText, 0, 1400);
  const [dst, extra] = a.positional;
  if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`);
  if (dst === undefined) throw new UsageError('DST_IP is required');
  ipv4Value('DST_IP', dst);
  const src = a.get('--src');
  if (src !== undefined) ipv4Value('--src', src);
  return {
    dst,
    node: (a.get('--node') ?? DEFAULT_TRACE_NODE).replace(/\/+$/, ''),
    src,
    size,
    json: a.has('--json'),
  };
}

/** run executes `weft trace`. */
export async function run(argv: string[]): Promise<number> {
  const { dst, node, src, size, json } = commandLine(() => parseTraceArgs(argv));
  const routes = await getJson<DebugRoutes>(`${node}/debug/routes`);
  const stats = await getJson<DataplaneStats | null>(`${node}/debug/stats`).catch(() => null);
  const flowDoc = await getJson<{ flows?: DataplaneFlows | null }>(
    `${node}/debug/flows?ip=${encodeURIComponent(dst)}&top=20`,
  ).catch(() => null);
  const r = traceOffline(dst, routes, stats, { src, size, flows: flowDoc?.flows ?? null });
  process.stdout.write(
    (json
      ? JSON.stringify(r, null, 2)
      : renderTrace(r, process.stdout.isTTY === true && !process.env.NO_COLOR)) + '\n',
  );
  return 0;
}
