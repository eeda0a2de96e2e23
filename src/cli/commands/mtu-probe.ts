/**
 * `weft mtu-probe PEER_OVERLAY_IP`: find the overlay path MTU to a peer with DF-set ICMP echoes,
 * report the underlay MTU it implies, and warn where a device MTU does not fit the path.
 *
 * Steps: find the device towards the peer (`ip route get`), read its MTU and (for kernel VXLAN)
 * its underlay device, binary-search the probe size (src/mtu/search.ts) with a raw ICMP socket
 * (src/mtu/icmp-prober.ts), then build the verdict (src/mtu/report.ts).
 */
import { ConfigError, UsageError } from '../../errors';
import { choiceValue, commandLine, intValue, ipv4Value, parseArgv } from '../args';
import type { Backend } from '../../route/peer';
import { linkInfo, routeGet } from '../../mtu/device';
import { IcmpProber } from '../../mtu/icmp-prober';
import { buildReport, type ProbeContext } from '../../mtu/report';
import { searchPathMtu } from '../../mtu/search';

/** usage is the `weft help mtu-probe` text. */
export const usage = `usage: weft mtu-probe PEER_OVERLAY_IP [--backend vxlan|udp] [--dev NAME] [--timeout MS]
                      [--min N] [--max N] [--json] [-v]

Sends ICMP echoes with DF set (IP_PMTUDISC_DO) across the overlay to PEER_OVERLAY_IP and
binary-searches the largest IP packet that gets a reply: the overlay path MTU. Reports the underlay
MTU it implies (+50 for VXLAN over IPv4, +28 for flannel-UDP) and warns when the overlay device's
MTU is larger than the path carries (fragmentation / blackhole) or smaller than its underlay allows
(wasted capacity). A probe refused locally with EMSGSIZE (device MTU or a cached path MTU) counts
as too big, and the report says which limit was hit.

  --backend vxlan|udp   overhead to assume (default: vxlan, or as the device's kind says)
  --dev NAME            overlay device to check (default: from "ip route get PEER")
  --timeout MS          wait per probe (default 1000); a timeout is retried once
  --min N               smallest IP packet size to try (default 68)
  --max N               largest IP packet size to try (default: the device MTU, else 1500)
  --json                print the report as JSON
  -v                    print every probe

Exit status: 0 when a path MTU was found (warnings may still be printed), 1 when even --min got no
reply. Needs CAP_NET_RAW (root).`;

/** MtuProbeOptions is the parsed command line. */
export interface MtuProbeOptions {
  peer: string;
  backend?: Backend;
  dev?: string;
  timeoutMs: number;
  min: number;
  max?: number;
  json: boolean;
  verbose: boolean;
}

function intArg(flag: string, v: string | undefined, min: number, max: number): number | undefined {
  return v === undefined ? undefined : intValue(flag, v, min, max);
}

/** parseMtuProbeArgs parses `weft mtu-probe` flags; throws UsageError on anything unknown or bad. */
export function parseMtuProbeArgs(argv: string[]): MtuProbeOptions {
  const a = parseArgv(argv, {
    bool: ['--json', '--verbose'],
    value: ['--backend', '--dev', '--timeout', '--min', '--max'],
    alias: { '-v': '--verbose' },
    nonEmpty: ['--dev'],
    positional: true,
    missing: (flag) =>
      flag === '--dev'
        ? '--dev needs a device name'
        : flag === '--backend'
          ? '--backend needs a value'
          : `${flag} needs an integer, got nothing`,
  });
  const o: Omit<MtuProbeOptions, 'peer'> = {
    timeoutMs: intArg('--timeout', a.get('--timeout'), 10, 60_000) ?? 1000,
    min: intArg('--min', a.get('--min'), 28, 65535) ?? 68,
    json: a.has('--json'),
    verbose: a.has('--verbose'),
  };
  const backend = a.get('--backend');
  if (backend !== undefined) o.backend = choiceValue('--backend', backend, ['vxlan', 'udp']);
  const dev = a.get('--dev');
  if (dev !== undefined) o.dev = dev;
  const max = intArg('--max', a.get('--max'), 28, 65535);
  if (max !== undefined) o.max = max;
  const [peer, extra] = a.positional;
  if (extra !== undefined) throw new UsageError(`only one peer address, got ${peer} and ${extra}`);
  if (peer === undefined) throw new UsageError('missing PEER_OVERLAY_IP');
  ipv4Value('PEER_OVERLAY_IP', peer);
  if (o.max !== undefined && o.max < o.min) throw new UsageError(`--max ${o.max} is below --min ${o.min}`);
  return { peer, ...o };
}

/** run implements `weft mtu-probe`. */
export async function run(argv: string[]): Promise<number> {
  const o = commandLine(() => parseMtuProbeArgs(argv));
  const route = routeGet(o.peer);
  const devName = o.dev ?? route?.dev;
  const dev = devName ? linkInfo(devName) : undefined;
  if (o.dev !== undefined && dev === undefined) {
    throw new ConfigError(
      '--dev',
      'must name an existing network device (ip link show)',
      JSON.stringify(o.dev),
    );
  }
  const lowerDev = dev?.vxlan?.lower ? linkInfo(dev.vxlan.lower) : undefined;
  const backend: Backend = o.backend ?? 'vxlan';
  const max = o.max ?? dev?.mtu ?? 1500;
  const min = Math.min(o.min, max);

  const prober = IcmpProber.open(o.peer, o.timeoutMs);
  let result;
  try {
    result = await searchPathMtu((size) => prober.probe(size), {
      min,
      max,
      ...(dev ? { deviceMtu: dev.mtu } : {}),
      onProbe: o.verbose
        ? (size, outcome, verdict, why) => {
            const detail = outcome.kind === 'frag-needed' ? ` mtu ${outcome.mtu} from ${outcome.from}` : '';
            process.stderr.write(
              `probe ${size}: ${outcome.kind}${detail} -> ${verdict}${why ? ` (${why})` : ''}\n`,
            );
          }
        : undefined,
    });
  } finally {
    prober.close();
  }
  const after = routeGet(o.peer);
  const ctx: ProbeContext = { peer: o.peer, backend };
  if (dev) ctx.dev = { name: dev.name, mtu: dev.mtu, kind: dev.kind };
  if (lowerDev) ctx.lower = { name: lowerDev.name, mtu: lowerDev.mtu };
  if (after?.cachedMtu !== undefined) ctx.cachedMtu = after.cachedMtu;
  const rep = buildReport(result, ctx, max);
  if (o.json) {
    const { lines: _lines, ...data } = rep;
    void _lines;
    process.stdout.write(JSON.stringify(data) + '\n');
  } else {
    process.stdout.write(rep.lines.map((l) => `weft mtu-probe: ${l}`).join('\n') + '\n');
  }
  return rep.ok ? 0 : 1;
}
