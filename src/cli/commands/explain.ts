/**
 * `weft explain HEX | --pcap FILE --frame N`: print one frame layer by layer and byte by byte
 * (offset, bytes, field, decoded value, RFC section). The decoder is src/explain (shared with
 * `weft capture --explain`); this file only gets the bytes and decides about colour.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../../errors';
import { choiceValue, commandLine, intValue, parseArgv } from '../args';
import { checkInputPath } from '../files';
import {
  DEFAULT_FLANNEL_UDP_PORTS,
  DEFAULT_VXLAN_PORTS,
  explainFrame,
  type ExplainLink,
} from '../../explain';
import { parseHexInput, rawIpHint } from '../../explain/hex-input';
import { localSenders } from '../../pcap/decap';
import { linkTypeName } from '../../pcap/pcap-file';
import { readCaptureFile } from '../../pcap/read-capture';
import { ipv4ToU32 } from '../../net/addr';

/** usage is the `weft help explain` text. */
export const usage = `usage: weft explain HEX [--link eth|ip] [--port N] [--udp-port N]
       weft explain --pcap FILE --frame N [--port N] [--udp-port N] [--local-ip A ...]
       weft explain --hex-file FILE [--link eth|ip]

Prints one frame layer by layer: a heading per protocol with its byte range and RFC section, then
per field its offset, bytes in hex, name and decoded value; bit fields (IPv4 DF/MF, VXLAN I flag,
TCP flags) broken out; checksums verified; an overhead summary at the end. Truncated or malformed
frames are explained as far as they go.

  HEX              the frame as hex; spaces, colons and a leading 0x are ignored
  --hex-file FILE  read the frame from FILE ('-' for stdin): plain hex, tcpdump -xx / -x output,
                   tshark -x output or Wireshark's "Copy as Hex Dump" (offsets are recognised and
                   checked, ASCII columns dropped; the first packet is explained)
  --pcap FILE      take frame number --frame N (1-based, as tshark numbers them) from a pcap or
                   pcapng file
  --link eth|ip    what the first byte is: an Ethernet header (default) or an IP header (tcpdump
                   -x prints no link header; a bare IP packet read as Ethernet gets a hint)
  --local-ip A     an underlay address of the capturing node (repeatable): its wrong checksums are
                   "bad, probably offload"; with --pcap, senders of partial checksums count too
  --port N         also decode UDP destination port N as VXLAN (default: 8472 and 4789)
  --udp-port N     also decode UDP destination port N as flannel-UDP (default: 8285)

Colour is used when stdout is a terminal and NO_COLOR is not set.`;

export { parseHex } from '../../explain/hex-input';

/** ExplainArgs is the parsed command line of `weft explain`. */
export interface ExplainArgs {
  /** HEX arguments, in order (joined before decoding). */
  hexParts: string[];
  pcap?: string;
  hexFile?: string;
  frame?: number;
  link?: ExplainLink;
  /** Ports decoded as VXLAN: --port values (last given first), then the defaults. */
  vxlanPorts: number[];
  /** Ports decoded as flannel-UDP: --udp-port values (last given first), then the defaults. */
  udpPorts: number[];
  /** --local-ip addresses, host-order u32. */
  localIps: number[];
}

/** parseExplainArgs parses `weft explain` arguments; anything not starting with `--` is HEX. */
export function parseExplainArgs(argv: string[]): ExplainArgs {
  const a = parseArgv(argv, {
    value: ['--pcap', '--hex-file', '--frame', '--link'],
    repeat: ['--port', '--udp-port', '--local-ip'],
    positional: true,
    flagPrefix: '--',
    unknown: (_arg, flag) => `unknown flag ${flag}`,
  });
  const linkText = a.get('--link');
  const link = linkText === undefined ? undefined : choiceValue('--link', linkText, ['eth', 'ip']);
  const frame = a.get('--frame');
  const ports = (flag: '--port' | '--udp-port'): number[] =>
    a
      .all(flag)
      .map((v) => intValue(flag, v, 1, 65535))
      .reverse();
  return {
    hexParts: a.positional,
    pcap: a.get('--pcap'),
    hexFile: a.get('--hex-file'),
    frame: frame === undefined ? undefined : intValue('--frame', frame, 1, 2 ** 31),
    link,
    vxlanPorts: [...ports('--port'), ...DEFAULT_VXLAN_PORTS],
    udpPorts: [...ports('--udp-port'), ...DEFAULT_FLANNEL_UDP_PORTS],
    localIps: a.all('--local-ip').map((v) => ipv4ToU32(v, '--local-ip')),
  };
}

/** run executes `weft explain`; returns 0 (a frame was explained, even a broken one). */
export async function run(argv: string[]): Promise<number> {
  const {
    hexParts,
    pcap,
    hexFile,
    frame,
    vxlanPorts,
    udpPorts,
    localIps,
    link: linkFlag,
  } = commandLine(() => parseExplainArgs(argv));
  let local = new Set(localIps);
  let link = linkFlag;
  const sources = [pcap !== undefined, hexFile !== undefined, hexParts.length > 0].filter(Boolean).length;
  if (sources !== 1) throw new UsageError('give exactly one of: HEX, --hex-file FILE, --pcap FILE --frame N');
  let bytes: Buffer;
  let title: string;
  if (pcap !== undefined) {
    if (frame === undefined) throw new UsageError('--pcap needs --frame N');
    checkInputPath(pcap, '--pcap');
    const file = readCaptureFile(pcap);
    if (frame > file.records.length) {
      throw new UsageError(`${pcap} has ${file.records.length} frames; --frame ${frame} does not exist`);
    }
    const rec = file.records[frame - 1]!;
    bytes = rec.data;
    const linkType = rec.linkType ?? file.linkType;
    link ??= linkType;
    // Senders of partial checksums anywhere in the file are the capturing node (see src/pcap/decap.ts).
    for (const p of vxlanPorts.concat(udpPorts)) local = localSenders(file, p, [...local]);
    const cut = rec.origLen > rec.data.length ? ` (captured ${rec.data.length} of ${rec.origLen} bytes)` : '';
    title = `frame ${frame} of ${pcap}, ${linkTypeName(linkType)}${cut}`;
  } else {
    if (frame !== undefined) throw new UsageError('--frame goes with --pcap');
    if (hexFile !== undefined && hexFile !== '-') checkInputPath(hexFile, '--hex-file');
    const text =
      hexFile !== undefined ? readFileSync(hexFile === '-' ? 0 : hexFile, 'utf8') : hexParts.join('');
    const input = parseHexInput(text);
    bytes = input.bytes;
    const from = {
      hex: '',
      tcpdump: ', read as tcpdump -x/-xx output',
      'offset-dump': ', read as an offset hex dump',
    }[input.format];
    title = `frame from ${hexFile !== undefined ? hexFile : 'the command line'}${from}`;
    if (input.morePackets)
      process.stderr.write('weft explain: the input holds more packets; explaining the first\n');
    const hint = link === undefined ? rawIpHint(bytes) : undefined;
    if (hint) process.stderr.write(`weft explain: hint: ${hint}\n`);
  }
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const opts = { link, vxlanPorts, udpPorts, color, title, ...(local.size ? { localAddresses: local } : {}) };
  process.stdout.write(explainFrame(bytes, opts));
  return 0;
}
