/**
 * `weft explain HEX | --pcap FILE --frame N`: print one frame layer by layer and byte by byte
 * (offset, bytes, field, decoded value, RFC section). The decoder is src/explain (shared with
 * `weft capture --explain`); this file only gets the bytes and decides about colour.
 */
import { readFileSync } from 'node:fs';
import { FormatError, UsageError } from '../../errors';
import { choiceValue, commandLine, intValue, parseArgv } from '../args';
import { checkInputPath } from '../files';
import {
  DEFAULT_FLANNEL_UDP_PORTS,
  DEFAULT_VXLAN_PORTS,
  explainFrame,
  type ExplainLink,
} from '../../explain';
import { linkTypeName, readPcapFile } from '../../pcap/pcap-file';

/** usage is the `weft help explain` text. */
export const usage = `usage: weft explain HEX [--link eth|ip] [--port N] [--udp-port N]
       weft explain --pcap FILE --frame N [--port N] [--udp-port N]
       weft explain --hex-file FILE [--link eth|ip]

Prints one frame layer by layer: a heading per protocol with its byte range and RFC section, then
per field its offset, bytes in hex, name and decoded value; bit fields (IPv4 DF/MF, VXLAN I flag,
TCP flags) broken out; checksums verified; an overhead summary at the end. Truncated or malformed
frames are explained as far as they go.

  HEX              the frame as hex; spaces, colons and a leading 0x are ignored
  --hex-file FILE  read the hex from FILE ('-' for stdin), e.g. a copy from Wireshark
  --pcap FILE      take frame number --frame N (1-based, as tshark numbers them) from a pcap file
  --link eth|ip    what the first byte is: an Ethernet header (default) or an IP header
  --port N         also decode UDP destination port N as VXLAN (default: 8472 and 4789)
  --udp-port N     also decode UDP destination port N as flannel-UDP (default: 8285)

Colour is used when stdout is a terminal and NO_COLOR is not set.`;

/** parseHex turns hex text (spaces, colons, newlines and 0x prefixes allowed) into bytes. */
export function parseHex(text: string): Buffer {
  const clean = text.replace(/0x/gi, '').replace(/[\s:.-]/g, '');
  if (clean.length === 0) throw new FormatError('no hex digits given');
  if (!/^[0-9a-fA-F]*$/.test(clean)) {
    const bad = clean.match(/[^0-9a-fA-F]/)![0];
    throw new FormatError(`not hex: unexpected character ${JSON.stringify(bad)}`);
  }
  if (clean.length % 2 !== 0) throw new FormatError(`odd number of hex digits (${clean.length})`);
  return Buffer.from(clean, 'hex');
}

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
}

/** parseExplainArgs parses `weft explain` arguments; anything not starting with `--` is HEX. */
export function parseExplainArgs(argv: string[]): ExplainArgs {
  const a = parseArgv(argv, {
    value: ['--pcap', '--hex-file', '--frame', '--link'],
    repeat: ['--port', '--udp-port'],
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
    link: linkFlag,
  } = commandLine(() => parseExplainArgs(argv));
  let link = linkFlag;
  const sources = [pcap !== undefined, hexFile !== undefined, hexParts.length > 0].filter(Boolean).length;
  if (sources !== 1) throw new UsageError('give exactly one of: HEX, --hex-file FILE, --pcap FILE --frame N');
  let bytes: Buffer;
  let title: string;
  if (pcap !== undefined) {
    if (frame === undefined) throw new UsageError('--pcap needs --frame N');
    checkInputPath(pcap, '--pcap');
    const file = readPcapFile(pcap);
    if (frame > file.records.length) {
      throw new UsageError(`${pcap} has ${file.records.length} frames; --frame ${frame} does not exist`);
    }
    const rec = file.records[frame - 1]!;
    bytes = rec.data;
    link ??= file.linkType;
    const cut = rec.origLen > rec.data.length ? ` (captured ${rec.data.length} of ${rec.origLen} bytes)` : '';
    title = `frame ${frame} of ${pcap}, ${linkTypeName(file.linkType)}${cut}`;
  } else {
    if (frame !== undefined) throw new UsageError('--frame goes with --pcap');
    if (hexFile !== undefined && hexFile !== '-') checkInputPath(hexFile, '--hex-file');
    const text =
      hexFile !== undefined ? readFileSync(hexFile === '-' ? 0 : hexFile, 'utf8') : hexParts.join('');
    bytes = parseHex(text);
    title = `frame from ${hexFile !== undefined ? hexFile : 'the command line'}`;
  }
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  process.stdout.write(explainFrame(bytes, { link, vxlanPorts, udpPorts, color, title }));
  return 0;
}
