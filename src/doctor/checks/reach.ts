/**
 * reach check: can this node reach each peer through the overlay? An ICMP echo to the peer's
 * `<subnet>.0` (the address flannel and weft put on the peer's overlay device) travels the whole
 * path: this node's route, neighbour and FDB entries (or weft's table), the encapsulation, UDP
 * 8472 (or Backend.Port) across the underlay, the peer's decapsulation, and the reply the same way
 * back. When no reply comes, a port probe (port-probe.ts) tells a peer where nothing listens on the
 * port (an ICMP port unreachable comes back) from a path that drops the datagrams (silence: a
 * firewall, a security group, NSX eating 8472). host-gw peers are plain routed IP and are not
 * probed here.
 */
import { u32ToIpv4 } from '../../control';
import { IcmpProber } from '../../mtu/icmp-prober';
import type { ProbeOutcome } from '../../mtu/search';
import { Finding, note, ok, problem, skipped } from '../finding';
import type { NodeView } from '../node-view';
import { PortProbeResult, probeUdpPort } from '../port-probe';

/** Size of each echo (IP packet bytes): ping's default 84. */
const ECHO_SIZE = 84;
/** Echoes per peer before it counts as unreachable. */
const ATTEMPTS = 3;
/** Peers probed at once. */
const PARALLEL = 16;

/** ReachProbes are the active probes, injectable for unit tests. */
export interface ReachProbes {
  echo(dst: string, timeoutMs: number): Promise<ProbeOutcome>;
  port(dst: string, port: number, timeoutMs: number): Promise<PortProbeResult>;
}

/** REAL_PROBES use weft's mtu-probe echo machinery and the port probe. */
export const REAL_PROBES: ReachProbes = {
  async echo(dst, timeoutMs) {
    const p = IcmpProber.open(dst, timeoutMs);
    try {
      let last: ProbeOutcome = { kind: 'timeout' };
      for (let i = 0; i < ATTEMPTS; i++) {
        last = await p.probe(ECHO_SIZE);
        if (last.kind === 'reply') return last;
      }
      return last;
    } finally {
      p.close();
    }
  },
  port: probeUdpPort,
};

/** checkReach probes every peer of this node's backend. */
export async function checkReach(
  v: NodeView,
  timeoutMs: number,
  probes: ReachProbes = REAL_PROBES,
): Promise<Finding[]> {
  if (!v.config) return [skipped('reach', 'no network config')];
  const be = v.config.backend;
  if (be.type === 'host-gw')
    return [skipped('reach', 'host-gw peers are plain routed IP: ping a pod on each')];
  if (!v.devLink) return [skipped('reach', `no overlay device ${v.dev ?? ''} to probe through`)];
  const want = be.type === 'vxlan' ? 'vxlan' : '';
  const peers = v.peers.filter((p) => p.subnet && p.attrs.backendType === want);
  if (peers.length === 0) return [note('reach', 'no peers to probe')];
  const port = be.port;
  const out: Finding[] = [];
  let good = 0;
  for (let i = 0; i < peers.length; i += PARALLEL) {
    const batch = peers.slice(i, i + PARALLEL);
    const results = await Promise.all(
      batch.map(async (p) => {
        const gw = u32ToIpv4(p.subnet!.ip);
        let echo: ProbeOutcome;
        try {
          echo = await probes.echo(gw, timeoutMs);
        } catch (e) {
          return { p, gw, echo: null, err: (e as Error).message, port: null };
        }
        const portRes = echo.kind === 'reply' ? null : await probes.port(p.attrs.publicIp, port, timeoutMs);
        return { p, gw, echo, err: null, port: portRes };
      }),
    );
    for (const r of results) {
      const target = `${r.gw} (peer ${r.p.attrs.publicIp}, UDP ${port})`;
      if (r.err !== null) {
        out.push(skipped('reach', `cannot probe ${target}: ${r.err}`));
      } else if (r.echo!.kind === 'reply') {
        good++;
      } else if (r.port?.kind === 'refused') {
        out.push(
          problem(
            'reach',
            `no echo reply from ${target}, and ${r.p.attrs.publicIp} answers UDP ${port} with port unreachable`,
            `the underlay reaches the peer, but nothing listens on UDP ${port} there: its flanneld / weft run is down, or it uses another Backend.Port (every node must use the same port)`,
            `start the node at ${r.p.attrs.publicIp} and check its Backend.Port; its stale lease expires by itself otherwise`,
          ),
        );
      } else {
        const how =
          r.echo!.kind === 'unreachable' || r.echo!.kind === 'frag-needed'
            ? `ICMP ${r.echo!.kind} from ${r.echo!.from}`
            : r.echo!.kind === 'emsgsize'
              ? 'EMSGSIZE'
              : 'no answer';
        out.push(
          problem(
            'reach',
            `no echo reply from ${target}: ${how}, and the port probe got no port unreachable back`,
            `frames to UDP ${port} at ${r.p.attrs.publicIp} (or the replies) are dropped on the way, or one side's overlay state is wrong. Firewalls and cloud security groups must allow UDP ${port} between node IPs (flannel issue #1704); some networks (VMware NSX) silently drop 8472 (use another Backend.Port)`,
            `allow UDP ${port} both ways between ${v.ext?.publicIp ?? 'this node'} and ${r.p.attrs.publicIp}; run \`weft capture -i <underlay>\` on both nodes: frames leaving one and never reaching the other are stopped by the network; run doctor on the peer too`,
          ),
        );
      }
    }
  }
  if (good > 0)
    out.push(ok('reach', `${good} of ${peers.length} peers answer through the overlay (UDP ${port})`));
  return out;
}
