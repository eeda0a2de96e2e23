/**
 * `weft pcap decap|encap IN OUT`: unwrap overlay frames from an underlay capture, or wrap inner
 * frames into complete underlay frames, offline. The work is in src/pcap/decap.ts and encap.ts;
 * this file parses flags, reads and writes the files and reports counts on stderr.
 */
import { UsageError } from '../../errors';
import { choiceValue, commandLine, intValue, parseArgv, type ParsedArgs } from '../args';
import { checkInputPath, checkOutputPath, sameFile } from '../files';
import { resetIpId } from '../../encap';
import { CHECKSUM_POLICIES, countsReport, decapPcap, type ChecksumPolicy } from '../../pcap/decap';
import { encapPcap } from '../../pcap/encap';
import { linkTypeName, writePcapFile } from '../../pcap/pcap-file';
import { readCaptureFile } from '../../pcap/read-capture';
import { ipv4ToU32, macToBuffer } from '../../net/addr';
import type { Backend } from '../../route/peer';

/** usage is the `weft help pcap` text. */
export const usage = `usage: weft pcap decap IN OUT.pcap [--backend vxlan|udp] [--port N] [--vni N] [--local-mac MAC]
                       [--checksum offload|strict|off] [--local-ip A ...]
       weft pcap encap IN.pcap OUT.pcap --local-ip A --remote-ip B [--local-mac M1 --remote-mac M2]
                       [--backend vxlan|udp] [--vni N] [--port N] [--outer-src-mac M] [--outer-dst-mac M]
                       [--no-udp-checksum]

decap: reads underlay frames (Ethernet, raw IP or Linux cooked captures) and writes the inner
       frames: inner Ethernet frames (link type 1) for vxlan, raw IP packets (link type 101) for
       udp. Frames that are not valid overlay frames are skipped and counted on stderr by reason.
       Without --local-mac every frame's own inner destination counts as "our" VTEP MAC.
       Outer UDP checksums are reported by state, as Wireshark marks them: valid, none, partial
       (only the pseudo-header sum: a capture on the sending node, or on veth, taken before
       checksum offload filled it in), "bad, probably offload" (wrong, from a local address: one
       that sent partial checksums in this capture, or a --local-ip) and bad (from anyone else).
encap: reads inner frames (Ethernet or raw IP) and writes complete underlay frames: Ethernet +
       IPv4 + UDP (checksum computed) + VXLAN header + inner Ethernet, or + the IP packet for udp.
       Ethernet input keeps its own inner MACs unless --local-mac/--remote-mac are given; raw IP
       input needs both for vxlan. Outer MACs default to 02:00 + the outer IPv4 address bytes.

  --backend vxlan|udp   overlay format (default vxlan)
  --port N              UDP destination port (default 8472 for vxlan, 8285 for udp)
  --vni N               VXLAN network identifier (default 1)
  --local-ip A          outer source IPv4 address (encap)
  --remote-ip B         outer destination IPv4 address (encap)
  --local-mac M1        our VTEP MAC: inner source (encap) / the only accepted destination (decap)
  --remote-mac M2       the peer's VTEP MAC: inner destination (encap)
  --no-udp-checksum     encap: send outer UDP checksum 0 (RFC 7348 §5 allows it over IPv4)
  --checksum P          decap: which outer UDP checksums drop a frame: offload (default: only bad
                        ones, as a receiving kernel), strict (every incorrect one, partial too:
                        RFC 7348 §5 to the letter) or off (none)
  --local-ip A          decap: an underlay address of the capturing node (repeatable); its
                        wrong checksums are "bad, probably offload"

IN is classic pcap (tcpdump -w, dumpcap -P) or pcapng (dumpcap, tshark, Wireshark); OUT is
classic pcap. tshark decodes port 8472 as VXLAN with
  tshark -d udp.port==8472,vxlan -r OUT.pcap`;

/** PCAP_VALUE_FLAGS are the `weft pcap` flags that take a value. */
const PCAP_VALUE_FLAGS = [
  '--backend', '--port', '--vni', '--checksum', '--remote-ip', '--local-mac', '--remote-mac', '--outer-src-mac', '--outer-dst-mac',
] as const; // prettier-ignore

/** PcapFlag is any `weft pcap` flag. */
export type PcapFlag = (typeof PCAP_VALUE_FLAGS)[number] | '--no-udp-checksum' | '--local-ip';

/** PcapArgs is the parsed command line. */
export interface PcapArgs {
  /** `decap` or `encap`. */
  mode: 'decap' | 'encap';
  /** Input file. */
  input: string;
  /** Output file. */
  output: string;
  /** The flags (`flags.get('--port')` -> `8472`). */
  flags: ParsedArgs<PcapFlag>;
}

/** parsePcapArgs splits argv into mode, files and flags; throws UsageError on unknown or missing ones. */
export function parsePcapArgs(argv: string[]): PcapArgs {
  const flags = parseArgv<PcapFlag>(argv, {
    bool: ['--no-udp-checksum'],
    value: PCAP_VALUE_FLAGS,
    repeat: ['--local-ip'],
    positional: true,
    flagPrefix: '--',
    unknown: (_arg, flag) => `unknown flag ${flag}`,
  });
  const [mode, input, output, ...extra] = flags.positional;
  if (mode !== 'decap' && mode !== 'encap') throw new UsageError('first argument must be decap or encap');
  if (!input || !output) throw new UsageError(`weft pcap ${mode} needs IN.pcap and OUT.pcap`);
  if (extra.length) throw new UsageError(`unexpected argument ${extra[0]}`);
  if (sameFile(input, output))
    throw new UsageError(`OUT.pcap ${output} is the input file; write to another file`);
  return { mode, input, output, flags };
}

function intFlag(flags: ParsedArgs<PcapFlag>, flag: PcapFlag, min: number, max: number): number | undefined {
  const v = flags.get(flag);
  return v === undefined ? undefined : intValue(flag, v, min, max);
}

function backendFlag(flags: ParsedArgs<PcapFlag>): Backend {
  return choiceValue('--backend', flags.get('--backend') ?? 'vxlan', ['vxlan', 'udp']);
}

function macFlag(flags: ParsedArgs<PcapFlag>, flag: PcapFlag): Buffer | undefined {
  const v = flags.get(flag);
  return v === undefined ? undefined : macToBuffer(v, flag);
}

/** run executes `weft pcap`; returns 0, or 1 when no frame could be converted. */
export async function run(argv: string[]): Promise<number> {
  const args = commandLine(() => parsePcapArgs(argv));
  const f = args.flags;
  const { backend, port, vni, localMac } = commandLine(() => ({
    backend: backendFlag(f),
    port: intFlag(f, '--port', 1, 65535),
    vni: intFlag(f, '--vni', 0, 0xffffff),
    localMac: macFlag(f, '--local-mac'),
  }));
  checkInputPath(args.input, 'IN.pcap');
  checkOutputPath(args.output, 'OUT.pcap');
  const file = readCaptureFile(args.input);
  let written: number;
  let lines: string[];
  if (args.mode === 'decap') {
    for (const bad of [
      '--remote-ip',
      '--remote-mac',
      '--outer-src-mac',
      '--outer-dst-mac',
      '--no-udp-checksum',
    ] as const) {
      if (f.has(bad)) throw new UsageError(`${bad} applies to encap only`);
    }
    const checksum: ChecksumPolicy = commandLine(() =>
      choiceValue('--checksum', f.get('--checksum') ?? 'offload', CHECKSUM_POLICIES),
    );
    const localAddresses = commandLine(() => f.all('--local-ip').map((a) => ipv4ToU32(a, '--local-ip')));
    const res = decapPcap(file, { backend, port, vni, localMac, checksum, localAddresses });
    writePcapFile(args.output, { linkType: res.linkType, records: res.records });
    written = res.records.length;
    lines = countsReport(res);
    process.stderr.write(
      `weft pcap decap: ${file.records.length} frames read (${linkTypeName(file.linkType)}), ` +
        `${written} inner frames written (${linkTypeName(res.linkType)}), ${file.records.length - written} skipped\n`,
    );
  } else {
    if (f.has('--checksum')) throw new UsageError('--checksum applies to decap only');
    if (f.all('--local-ip').length > 1) throw new UsageError('encap takes one --local-ip');
    const local = f.get('--local-ip');
    const remote = f.get('--remote-ip');
    if (!local || !remote) throw new UsageError('encap needs --local-ip and --remote-ip');
    const remoteMac = commandLine(() => macFlag(f, '--remote-mac'));
    if (!!localMac !== !!remoteMac) throw new UsageError('--local-mac and --remote-mac go together');
    // A fixed starting IP ID makes the output file reproducible run to run.
    resetIpId(0);
    const res = encapPcap(
      file,
      commandLine(() => ({
        backend,
        port,
        vni,
        localIp: ipv4ToU32(local, '--local-ip'),
        remoteIp: ipv4ToU32(remote, '--remote-ip'),
        localMac,
        remoteMac,
        outerSrcMac: macFlag(f, '--outer-src-mac'),
        outerDstMac: macFlag(f, '--outer-dst-mac'),
        udpChecksum: !f.has('--no-udp-checksum'),
      })),
    );
    writePcapFile(args.output, { linkType: res.linkType, records: res.records });
    written = res.records.length;
    lines = countsReport({ drops: res.drops });
    if (res.notIp) lines.unshift(`not_ip: ${res.notIp} (not IPv4/IPv6, e.g. ARP: flannel does not carry it)`);
    process.stderr.write(
      `weft pcap encap: ${file.records.length} frames read (${linkTypeName(file.linkType)}), ` +
        `${written} underlay frames written (${backend}), ${file.records.length - written} skipped\n`,
    );
  }
  for (const l of lines) process.stderr.write(`  ${l}\n`);
  return written > 0 || file.records.length === 0 ? 0 : 1;
}
