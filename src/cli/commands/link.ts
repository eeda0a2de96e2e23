/**
 * `weft link`: one overlay link by hand — a TUN device plus VXLAN or flannel-UDP with explicit peers.
 *
 * The userspace counterpart of `ip link add flannel.1 type vxlan ...` plus flannel's static
 * neighbour / FDB entries, for a single node. It is also the building block of the namespace tests
 * and the end-to-end benchmark, so its stdout is a small contract:
 *   - first line: `weft link: dev NAME vtep-mac MAC|- local IP port N backend B io M mtu N offload O`,
 *     with `--src-port flow` followed by ` src-port flow MIN-MAX (N ports)` (`(raw socket)` with
 *     `--io dgram`);
 *   - then `weft link: tun-io readv|io_uring` (src/io/tun-io.ts), with the reason when io_uring
 *     was asked for and refused;
 *   - then `ready` once packets are forwarded in both directions;
 *   - `weft link: underlay MTU changed on IFACE: OLD -> NEW; ...` when the underlay MTU changes
 *     (and a line when GSO trains leave fragmented for another MTU reason);
 *   - on SIGUSR1 or every `--stats` seconds: `weft link: stats {JSON}` (see DataplaneStats), and
 *     with `--debug` then `weft link: flows {JSON}` (DataplaneFlows: top flows by bytes each way).
 * SIGINT / SIGTERM stop forwarding, remove the routes and the device, close sockets, exit 0.
 */
import { ConfigError, UsageError } from '../../errors';
import { choiceValue, commandLine, intValue, parseArgv } from '../args';
import { parseWorkers } from '../../dataplane/workers';
import { bufferToMac, ipv4ToU32, macToBuffer, parseCidr } from '../../net/addr';
import type { Backend } from '../../route/peer';
import type { PeerSpec } from '../../route/route-table';
import { randomVtepMac } from '../../daemon/vtep-state';
import { DataplaneNode, type IoMode, type NodeConfig } from '../../dataplane/node';
import {
  DEFAULT_SRC_PORT_RANGE,
  defaultSrcPort,
  parseSrcPortRange,
  type SrcPortMode,
} from '../../dataplane/src-port';

/** usage is the `weft help link` text. */
export const usage = `usage: weft link --backend vxlan|udp --dev NAME --local UNDERLAY_IP --address OVERLAY_IP/LEN
                 [--vni 1] [--port 8472|8285] [--vtep-mac MAC] [--mtu N] [--io batch|dgram]
                 [--offload on|off] --peer SUBNET=UNDERLAY_IP[,MAC] [--peer ...] [--stats SECONDS]
                 [--debug] [--src-port flow|fixed] [--src-port-range MIN-MAX] [--vxlan-rco] [--workers N]

Creates TUN device NAME with OVERLAY_IP/LEN, routes every peer SUBNET into it, and forwards:
packets to a peer's subnet are sent to UNDERLAY_IP as RFC 7348 VXLAN (inner Ethernet dst = the
peer's MAC, as a kernel flannel.1 expects) or as flannel-UDP (raw IP in UDP); frames received on
--local:--port are accepted only from the peers' underlay addresses.

  --backend vxlan|udp     encapsulation (flannel's "vxlan" or "udp" backend)
  --dev NAME              TUN device name (<= 15 characters), created and removed by weft
  --local IP              underlay address to bind; its interface's MTU sets the default --mtu
  --address IP/LEN        overlay address of the TUN device
  --vni N                 VXLAN network identifier, 0..16777215 (default 1, as flannel)
  --port N                UDP port (default 8472 for vxlan, 8285 for udp, as flannel)
  --vtep-mac MAC          our VTEP MAC (vxlan; default: random locally administered unicast)
  --mtu N                 TUN MTU (default: underlay MTU - 50 for vxlan, - 28 for udp)
  --io batch|dgram        UDP I/O: recvmmsg/sendmmsg batches (default) or Node dgram per packet
  --offload on|off        with --io batch: TUN TSO + UDP GSO/GRO + TCP coalescing (default on)
  --peer SUBNET=IP[,MAC]  a remote node: its overlay subnet, underlay IP and (vxlan) VTEP MAC
  --stats SECONDS         print counters every SECONDS (also on SIGUSR1)
  --debug                 count packets and bytes per inner flow; printed with the counters
  --src-port flow|fixed   outer UDP source port (vxlan): a hash of the inner flow (the default with
                          --io batch; RFC 7348 §5, as kernel VXLAN: 16 UDP sockets per worker on
                          ports spread over the range, UDP GSO kept; --io dgram: a raw socket,
                          CAP_NET_RAW), or the bound --port (fixed: default with --io dgram, and
                          always with --backend udp)
  --src-port-range MIN-MAX  range for --src-port flow (default 49152-65535)
  --vxlan-rco             VXLAN Remote Checksum Offload (Linux remcsumtx+remcsumrx): inner TCP/UDP
                          checksums sent partial for the peer to finish; RCO frames accepted (else
                          dropped as vxlan_rco_disabled). Every peer must have it. Default off
  --workers N             forwarding workers: the TUN is opened multi-queue, one queue per worker
                          thread (default 1)

Prints its VTEP MAC on start and "ready" when forwarding; stops on SIGINT/SIGTERM.`;

/** LinkOptions is the parsed command line of `weft link`. */
export interface LinkOptions {
  config: NodeConfig;
  /** Seconds between periodic stats lines; 0 = only on SIGUSR1. */
  statsSeconds: number;
  /** `--debug`: per-flow counters, printed after each stats line. */
  debug: boolean;
}

function intFlag(flag: string, v: string | undefined, min: number, max: number): number | undefined {
  return v === undefined ? undefined : intValue(flag, v, min, max);
}

/** randomVtepMac is the daemon's (one generator for `weft run` and `weft link`). */
export { randomVtepMac };

/**
 * parseLinkArgs parses `weft link` flags. Throws UsageError for unknown or missing flags and
 * ConfigError (naming the flag) for bad values.
 */
export function parseLinkArgs(argv: string[]): LinkOptions {
  const args = parseArgv(argv, {
    bool: ['--debug', '--vxlan-rco'],
    value: [
      '--backend', '--dev', '--local', '--address', '--vni', '--port', '--vtep-mac', '--mtu', '--io', '--stats',
      '--offload', '--src-port', '--src-port-range', '--workers',
    ], // prettier-ignore
    repeat: ['--peer'],
    once: true,
    unknown: (arg) => `unknown flag or argument '${arg}'`,
  });
  const need = (flag: '--backend' | '--dev' | '--local' | '--address'): string => {
    const v = args.get(flag);
    if (v === undefined) throw new UsageError(`${flag} is required`);
    return v;
  };

  const backend: Backend = choiceValue('--backend', need('--backend'), ['vxlan', 'udp']);

  const dev = need('--dev');
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(dev)) {
    throw new ConfigError('--dev', 'must be 1..15 characters of letters, digits, . _ -', JSON.stringify(dev));
  }
  const local = need('--local');
  ipv4ToU32(local, '--local');

  const address = need('--address');
  const slash = address.indexOf('/');
  if (slash < 0)
    throw new ConfigError('--address', 'must be IPv4/LEN, e.g. 10.244.1.1/24', JSON.stringify(address));
  ipv4ToU32(address.slice(0, slash), '--address');
  const cidr = parseCidr(address, '--address');
  if (cidr.family !== 4) throw new ConfigError('--address', 'must be an IPv4 address with a prefix length');

  const vni = intFlag('--vni', args.get('--vni'), 0, 0xffffff) ?? 1;
  const port = intFlag('--port', args.get('--port'), 1, 65535) ?? (backend === 'vxlan' ? 8472 : 8285);
  const mtu = intFlag('--mtu', args.get('--mtu'), 68, 65535);
  const workers = parseWorkers(args.get('--workers') ?? '1', '--workers');

  let vtepMac: Buffer;
  if (args.has('--vtep-mac')) {
    vtepMac = macToBuffer(args.get('--vtep-mac')!, '--vtep-mac');
    if ((vtepMac[0]! & 1) !== 0)
      throw new ConfigError('--vtep-mac', 'must be a unicast MAC (first octet even)');
    if (vtepMac.every((b) => b === 0)) throw new ConfigError('--vtep-mac', 'must not be all zeros');
  } else {
    vtepMac = randomVtepMac();
  }

  const io: IoMode = choiceValue('--io', args.get('--io') ?? 'batch', ['batch', 'dgram']);
  const offloadText = choiceValue('--offload', args.get('--offload') ?? 'on', ['on', 'off']);
  // Not given: flow for vxlan over --io batch (as kernel VXLAN), else fixed.
  const srcPort: SrcPortMode = choiceValue(
    '--src-port',
    args.get('--src-port') ?? defaultSrcPort(backend, io),
    ['fixed', 'flow'],
  );
  if (srcPort === 'flow' && backend !== 'vxlan') {
    throw new ConfigError('--src-port', 'flow needs --backend vxlan (flannel-UDP keeps its port)');
  }
  const range = parseSrcPortRange(args.get('--src-port-range') ?? DEFAULT_SRC_PORT_RANGE);
  if (args.has('--vxlan-rco') && backend !== 'vxlan') {
    throw new ConfigError('--vxlan-rco', 'needs --backend vxlan (a VXLAN header extension)');
  }

  let statsSeconds = 0;
  if (args.has('--stats')) {
    const s = args.get('--stats')!;
    statsSeconds = Number(s);
    if (!/^\d+(\.\d+)?$/.test(s) || !(statsSeconds > 0)) {
      throw new ConfigError('--stats', 'must be a positive number of seconds', JSON.stringify(s));
    }
  }

  const peers = args.all('--peer');
  if (peers.length === 0) throw new UsageError('at least one --peer SUBNET=UNDERLAY_IP[,MAC] is required');
  const specs: PeerSpec[] = peers.map((p, i) => parsePeer(p, backend, `--peer[${i}]`));

  return {
    config: {
      backend,
      dev,
      local,
      address,
      vni,
      port,
      vtepMac,
      mtu,
      io,
      peers: specs,
      offload: offloadText === 'on',
      flowCounters: args.has('--debug'),
      srcPort,
      srcPortMin: range.min,
      srcPortMax: range.max,
      vxlanRco: args.has('--vxlan-rco'),
      workers,
    },
    statsSeconds,
    debug: args.has('--debug'),
  };
}

/** parsePeer parses `SUBNET=UNDERLAY_IP[,MAC]`; vxlan peers need the MAC (the inner Ethernet destination). */
export function parsePeer(text: string, backend: Backend, field = '--peer'): PeerSpec {
  const eq = text.indexOf('=');
  if (eq < 0) throw new ConfigError(field, 'must be SUBNET=UNDERLAY_IP[,MAC]', JSON.stringify(text));
  const cidr = parseCidr(text.slice(0, eq), field);
  if (cidr.hostBitsSet)
    throw new ConfigError(field, `subnet must have no host bits set (did you mean ${cidr.text}?)`);
  const [ip, mac, ...rest] = text.slice(eq + 1).split(',');
  if (rest.length > 0) throw new ConfigError(field, 'must be SUBNET=UNDERLAY_IP[,MAC]', JSON.stringify(text));
  const publicIpU32 = ipv4ToU32(ip ?? '', field);
  let vtepMac: Buffer | null = null;
  if (mac !== undefined) vtepMac = macToBuffer(mac, field);
  if (backend === 'vxlan' && vtepMac === null) {
    throw new ConfigError(
      field,
      'a vxlan peer needs its VTEP MAC: SUBNET=UNDERLAY_IP,MAC',
      JSON.stringify(text),
    );
  }
  return { subnet: cidr.text, publicIp: ip!, publicIpU32, vtepMac, backend };
}

/** run is the `weft link` entry point; resolves to 0 after a clean shutdown on SIGINT/SIGTERM. */
/**
 * offloadSummary is the start line's offload word: `tso+gso+gro+coalesce+uso`, `tso+gso`, `off`
 * or `refused`; without USO (kernel < 6.2) UDP is not coalesced and the word says why.
 */
function offloadSummary(node: DataplaneNode): string {
  const o = node.stats().offload;
  if (o === undefined || !o.enabled) return o?.refused ? 'refused' : 'off';
  const word = ['tso', o.gso ? 'gso' : '', o.gro ? 'gro+coalesce' : '', o.gro && o.uso ? 'uso' : '']
    .filter((x) => x !== '')
    .join('+');
  return o.gro && !o.uso && o.usoRefused !== null ? `${word} (no uso: ${o.usoRefused})` : word;
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  const opts = commandLine(() => parseLinkArgs(argv));
  const node = new DataplaneNode(opts.config);
  node.onUnderlayMtu = (e) => process.stdout.write(`weft link: ${e.message}\n`);
  await node.start();
  const c = opts.config;
  process.stdout.write(
    `weft link: dev ${c.dev} vtep-mac ${c.backend === 'vxlan' ? bufferToMac(c.vtepMac) : '-'} local ${c.local} ` +
      `port ${c.port} backend ${c.backend} io ${c.io} mtu ${node.mtu} offload ${offloadSummary(node)}` +
      (node.srcPortFlow ? ` src-port ${node.srcPortSummary()}` : '') +
      '\n',
  );
  const tunIo = node.stats().tunIo;
  process.stdout.write(
    `weft link: tun-io ${tunIo?.mode ?? 'readv'}` +
      (tunIo?.refused ? ` (io_uring refused, read()/write() used: ${tunIo.refused})` : '') +
      '\n',
  );
  const printStats = async (): Promise<void> => {
    // Worker threads' counters are fetched first, so the line is exact, not up to a second old.
    await node.refreshStats();
    process.stdout.write(`weft link: stats ${JSON.stringify(node.stats())}\n`);
    if (opts.debug) process.stdout.write(`weft link: flows ${JSON.stringify(node.flows(20))}\n`);
  };
  const onStats = (): void => void printStats();
  const timer = opts.statsSeconds > 0 ? setInterval(onStats, opts.statsSeconds * 1000) : undefined;
  process.on('SIGUSR1', onStats);
  // Signal handlers do not keep the event loop alive; the poll handles do, except while both are
  // briefly inactive (egress waiting for socket space), so hold the loop open explicitly.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  process.stdout.write('ready\n');

  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  if (timer) clearInterval(timer);
  clearInterval(keepAlive);
  process.off('SIGUSR1', onStats);
  await node.stop();
  await printStats();
  process.stdout.write('weft link: stopped\n');
  return 0;
}
