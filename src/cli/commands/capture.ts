/**
 * `weft capture`: live decoded capture of VXLAN / flannel-UDP frames on an underlay interface.
 *
 * libpcap (via the `cap` package) delivers each frame; `summarizeFrame` turns it into one line
 * with the outer and inner layers together; `--explain` adds the byte-by-byte view and `-w` saves
 * a classic pcap. It works on any interface that carries the overlay's UDP: a weft node's underlay,
 * or the underlay of a kernel `flannel.1` node. Stops after `-c COUNT` frames or on SIGINT/SIGTERM,
 * then prints a summary (frames by kind, malformed count) to stderr.
 */
import { networkInterfaces } from 'node:os';
import { UsageError } from '../../errors';
import { TcpSeqTracker } from '../../capture/tcp-seq';
import { ipv4ToU32 } from '../../net/addr';
import { choiceValue, commandLine, intValue, parseArgv } from '../args';
import { checkInputPath, checkOutputPath } from '../files';
import { LiveCapture } from '../../capture/live';
import { linkTypeName, PcapFileWriter } from '../../pcap/pcap-file';
import { readCaptureFile } from '../../pcap/read-capture';
import { readOffline } from '../../capture/offline';
import { explainCaptured } from '../../capture/explain-adapter';
import { DEFAULT_FLANNEL_UDP_PORT, DEFAULT_VXLAN_PORT } from '../../encap/constants';
import type { ChecksumState } from '../../wire/checksum-state';
import {
  FRAME_KINDS,
  checksumSummary,
  formatCaptureLine,
  summarizeFrame,
  type FrameKind,
  type OverlayKind,
  type SummarizeOptions,
} from '../../capture/summarize';

/** usage is the `weft help capture` text. */
export const usage = `usage: weft capture [-i IFACE] [-f BPF] [--port N ...] [--backend auto|vxlan|udp] [--vni N]
                    [--explain] [-w FILE.pcap] [-c COUNT] [--all]
       weft capture -r FILE [-f BPF] [--port N ...] [--backend auto|vxlan|udp] [--vni N] [--explain]
                    [-c COUNT] [--all]

Captures on IFACE (default: any) and prints one line per overlay frame, outer and inner layers
together:
  TIME OUTER_SRC:PORT > OUTER_DST:PORT VXLAN vni N | INNER_SRC_MAC > INNER_DST_MAC | INNER PACKET
  TIME OUTER_SRC:PORT > OUTER_DST:PORT flannel-UDP | INNER PACKET
Frames that do not decode are shown as [malformed: why]; other traffic as [not overlay].

  -i IFACE                interface to capture on (default "any")
  -r FILE                 read a saved capture instead (classic pcap or pcapng: tcpdump -w, dumpcap,
                          tshark, Wireshark, weft capture -w), with the same filter and lines
  -f BPF                  extra pcap-filter(7) expression, ANDed with the port filter
  --port N                overlay UDP port; repeatable. Replaces the defaults (8472 vxlan, 8285 udp)
  --backend B             how --port payloads are decoded: vxlan, udp, or auto (sniffed; default)
  --vni N                 flag VXLAN frames whose VNI is not N
  --explain               print the byte-by-byte view under each line
  -w FILE                 also write every captured frame to FILE (classic pcap)
  -c COUNT                stop after COUNT frames
  --all                   capture everything on IFACE (no port filter); non-overlay frames are listed

The default filter is "udp port 8472 or udp port 8285" plus non-first IPv4 fragments, which only
appear on an overlay underlay when the underlay MTU is too small. Stops on SIGINT/SIGTERM or after
-c, then prints a summary to stderr. Needs CAP_NET_RAW (root), except with -r.
Outer UDP checksums that are not valid are tagged: partial (the sending node's checksum offload had
not filled them in yet), bad probably offload (wrong, from a local address) or bad. TCP sequence
numbers are relative to each connection's start, as tcpdump prints them.`;

/** CaptureOptions is the parsed command line. */
export interface CaptureOptions {
  iface: string;
  userFilter: string;
  ports: number[];
  backend: 'auto' | 'vxlan' | 'udp';
  vni?: number;
  explain: boolean;
  write?: string;
  count: number;
  all: boolean;
  /** Saved capture to read (-r) instead of a live interface. */
  read?: string;
}

/** What a missing value of these flags should have been, for the usage error. */
const NEEDS: Record<string, string> = {
  '--interface': 'an interface name',
  '--filter': 'a BPF expression',
  '--write': 'a file name',
  '--read': 'a capture file',
};

/** parseCaptureArgs parses `weft capture` flags; throws UsageError on anything unknown or bad. */
export function parseCaptureArgs(argv: string[]): CaptureOptions {
  const a = parseArgv(argv, {
    bool: ['--explain', '--all'],
    value: ['--interface', '--filter', '--backend', '--vni', '--write', '--count', '--read'],
    repeat: ['--port'],
    alias: { '-i': '--interface', '-f': '--filter', '-w': '--write', '-c': '--count', '-r': '--read' },
    nonEmpty: ['--interface', '--write', '--read'],
    unknown: (arg) => `unknown argument: ${arg}`,
    missing: (written, flag) => `${written} needs ${NEEDS[flag] ?? 'a value'}`,
  });
  const backend = choiceValue('--backend', a.get('--backend') ?? 'auto', ['auto', 'vxlan', 'udp']);
  const o: CaptureOptions = {
    iface: a.get('--interface') ?? 'any',
    userFilter: a.get('--filter') ?? '',
    ports: a.all('--port').map((p) => intValue('--port', p, 1, 65535)),
    backend,
    explain: a.has('--explain'),
    count: 0,
    all: a.has('--all'),
  };
  const vni = a.get('--vni');
  if (vni !== undefined) o.vni = intValue('--vni', vni, 0, 0xffffff);
  const write = a.get('--write');
  if (write !== undefined) o.write = write;
  const read = a.get('--read');
  if (read !== undefined) {
    if (a.has('--interface')) throw new UsageError('-r reads a file; -i captures live: give one of them');
    if (write !== undefined) throw new UsageError('-w goes with a live capture, not with -r');
    o.read = read;
  }
  const count = a.get('--count');
  if (count !== undefined) o.count = intValue(a.written('--count'), count, 1, Number.MAX_SAFE_INTEGER);
  return o;
}

/** portMap returns which ports are decoded how, from --port and --backend. */
export function portMap(o: Pick<CaptureOptions, 'ports' | 'backend'>): Map<number, OverlayKind> {
  const m = new Map<number, OverlayKind>();
  if (o.ports.length > 0) {
    for (const p of o.ports) m.set(p, o.backend);
    return m;
  }
  if (o.backend !== 'udp') m.set(DEFAULT_VXLAN_PORT, 'vxlan');
  if (o.backend !== 'vxlan') m.set(DEFAULT_FLANNEL_UDP_PORT, 'udp');
  return m;
}

/** buildFilter returns the BPF expression: overlay ports (+ non-first IPv4 fragments) ANDed with -f. */
export function buildFilter(o: Pick<CaptureOptions, 'ports' | 'backend' | 'userFilter' | 'all'>): string {
  const user = o.userFilter.trim();
  if (o.all) return user;
  const ports = [...portMap(o).keys()].map((p) => `udp port ${p}`);
  const base = `${ports.join(' or ')} or (ip and ip[6:2] & 0x1fff != 0)`;
  return user ? `(${base}) and (${user})` : base;
}

/** runOffline implements `weft capture -r FILE`. */
function runOffline(o: CaptureOptions & { read: string }): number {
  const file = readCaptureFile(o.read);
  const filter = buildFilter(o);
  const frames = readOffline(file, {
    ports: portMap(o),
    filter,
    explain: o.explain,
    count: o.count,
    ...(o.vni !== undefined ? { vni: o.vni } : {}),
  });
  process.stdout.write(frames.map((f) => f.text).join(''));
  const counts = new Map<FrameKind, number>();
  const sums: Partial<Record<ChecksumState, number>> = {};
  for (const f of frames) {
    counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
    if (f.checksum !== undefined) sums[f.checksum] = (sums[f.checksum] ?? 0) + 1;
  }
  const byKind = FRAME_KINDS.filter((k) => counts.has(k))
    .map((k) => `${k} ${counts.get(k)}`)
    .join(', ');
  process.stderr.write(
    `weft capture: ${o.read}: ${file.records.length} records (${linkTypeName(file.linkType)}), ` +
      `${frames.length} matched "${filter}"${byKind ? ` (${byKind})` : ''}, malformed ${counts.get('malformed') ?? 0}` +
      `${checksumSummary(sums)}\n`,
  );
  return 0;
}

/** hostIpv4Addresses returns this network namespace's IPv4 addresses, host-order u32. */
function hostIpv4Addresses(): Set<number> {
  const out = new Set<number>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.add(ipv4ToU32(a.address));
  }
  return out;
}

/** run implements `weft capture`. */
export async function run(argv: string[]): Promise<number> {
  const o = commandLine(() => parseCaptureArgs(argv));
  if (o.write !== undefined) checkOutputPath(o.write, '-w');
  if (o.read !== undefined) checkInputPath(o.read, '-r');
  if (o.read !== undefined) return runOffline({ ...o, read: o.read });
  const ports = portMap(o);
  const filter = buildFilter(o);
  const counts: Record<FrameKind, number> = {
    vxlan: 0,
    'flannel-udp': 0,
    fragment: 0,
    'not-overlay': 0,
    malformed: 0,
  };
  let total = 0;
  const sums: Partial<Record<ChecksumState, number>> = {};
  let writer: PcapFileWriter | undefined;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const out: string[] = [];
  let flushScheduled = false;
  const flush = (): void => {
    flushScheduled = false;
    if (out.length > 0) process.stdout.write(out.join(''));
    out.length = 0;
  };

  // Built on the first frame (the link type is known once the capture is open), then reused.
  let sumOpts: SummarizeOptions | undefined;
  const tcpSeq = new TcpSeqTracker();
  // This host's addresses, plus every sender of a partial checksum seen (on veth, the peer namespace).
  const local = hostIpv4Addresses();
  const cap = LiveCapture.open({ device: o.iface, filter }, (data, micros, truncated) => {
    if (o.count > 0 && total >= o.count) return;
    total++;
    // Without --explain the decode records only what the line prints; with it, one full decode
    // serves the line and the byte view.
    sumOpts ??= {
      linkType: cap.linkType,
      ports,
      explain: o.explain,
      tcpSeq,
      localAddresses: local,
      ...(o.vni !== undefined ? { vni: o.vni } : {}),
    };
    const s = summarizeFrame(data, sumOpts);
    if (s.outerChecksum === 'partial' && s.outerSrc !== undefined) local.add(ipv4ToU32(s.outerSrc));
    counts[s.kind]++;
    if (s.outerChecksum !== undefined) sums[s.outerChecksum] = (sums[s.outerChecksum] ?? 0) + 1;
    let line = formatCaptureLine(micros, s) + (truncated ? ' [truncated by capture buffer]' : '') + '\n';
    if (o.explain) line += explainCaptured(data, cap.linkType, ports, '    ', s.explanation) + '\n';
    out.push(line);
    writer?.write(data, micros);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
    if (o.count > 0 && total >= o.count) resolveDone(0);
  });
  try {
    if (o.write) writer = new PcapFileWriter(o.write, cap.linkType);
  } catch (err) {
    cap.close();
    throw err;
  }
  process.stderr.write(
    `weft capture: listening on ${o.iface}, link-type ${cap.linkType}, filter "${filter}"\n`,
  );
  const onSignal = (): void => resolveDone(0);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  cap.close();
  flush();
  writer?.close();
  const byKind = FRAME_KINDS.filter((k) => counts[k] > 0)
    .map((k) => `${k} ${counts[k]}`)
    .join(', ');
  process.stderr.write(
    `weft capture: ${total} frames${byKind ? ` (${byKind})` : ''}, malformed ${counts.malformed}` +
      `${checksumSummary(sums)}${writer ? `, ${writer.count} written to ${o.write}` : ''}\n`,
  );
  return code;
}
