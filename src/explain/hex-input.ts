/**
 * hex-input: the bytes of one frame from text an operator pastes, in the forms tools print:
 *
 *   plain hex      `0200c0000202 0200 ...`, `02:00:c0:...`, `0x0200...` (spaces, colons, 0x ignored)
 *   tcpdump -x/-xx `<TAB>0x0000:  0200 c000 0202 ...` (16-bit groups; -X adds ASCII after two spaces)
 *   tshark -x      `0000  02 00 c0 00 ...   ..ascii..` (ASCII after three spaces, last line padded)
 *   Wireshark      "Copy as Hex Dump": `0000   02 00 c0 ...   ..ascii..` (same, three spaces after the offset)
 *
 * An offset dump is recognised by its offsets: a `0x`-prefixed or colon-terminated first offset of 0,
 * or a first offset of 0 that the second line's offset continues. Each line's offset must equal the
 * bytes read so far (a FormatError names the line otherwise), so offsets are never read as data, and
 * the ASCII column is cut at its gap. Lines without an offset (tcpdump's packet headers) are skipped;
 * a second packet (offset back to 0) ends the frame and is reported in `morePackets`.
 */
import { FormatError } from '../errors';

/** HexFormat names the recognised input forms. */
export type HexFormat = 'hex' | 'tcpdump' | 'offset-dump';

/** HexInput is the parsed frame and what it was read from. */
export interface HexInput {
  bytes: Buffer;
  format: HexFormat;
  /** True when the text held more packets after the first (only the first is returned). */
  morePackets: boolean;
}

const OFFSET_LINE = /^\s*(0x)?([0-9a-fA-F]{4,8})(:?)(\s+)(.*)$/;

interface DumpLine {
  offset: number;
  prefixed: boolean;
  line: number;
  rest: string;
}

/** parseHex turns plain hex text (spaces, colons, newlines, dots, dashes and 0x prefixes allowed) into bytes. */
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

/** dumpLines returns the offset lines of an offset dump, or undefined when `text` is not one. */
function dumpLines(text: string): DumpLine[] | undefined {
  const lines: DumpLine[] = [];
  text.split(/\r?\n/).forEach((l, i) => {
    const m = l.match(OFFSET_LINE);
    if (!m || !/^[0-9a-fA-F]{2}/.test(m[5])) return;
    lines.push({
      offset: parseInt(m[2], 16),
      prefixed: m[1] !== undefined || m[3] === ':',
      line: i + 1,
      rest: m[5],
    });
  });
  if (lines.length === 0 || lines[0].offset !== 0) return undefined;
  if (lines[0].prefixed) return lines;
  // `0000  02 00 ...` without 0x or colon: the second offset must continue the first line.
  if (lines.length < 2) return undefined;
  const first = lineBytes(lines[0].rest, false, Infinity);
  return lines[1].offset === first.length ? lines : undefined;
}

/**
 * lineBytes reads the hex bytes at the start of `rest`: 2-digit tokens (tshark, Wireshark) or
 * 4-digit groups (tcpdump), stopping at the ASCII column (a gap of three spaces, or two after
 * tcpdump groups), at a token that is not hex, or after `max` bytes.
 */
function lineBytes(rest: string, tcpdump: boolean, max: number): number[] {
  const out: number[] = [];
  const re = /(\s*)(\S+)/g;
  let m: RegExpExecArray | null;
  let first = true;
  while ((m = re.exec(rest)) !== null && out.length < max) {
    const gap = m[1].length;
    if (!first && gap >= (tcpdump ? 2 : 3)) break;
    first = false;
    const tok = m[2];
    if (!/^[0-9a-fA-F]+$/.test(tok) || tok.length % 2 !== 0 || tok.length > (tcpdump ? 4 : 2)) break;
    for (let i = 0; i < tok.length && out.length < max; i += 2) out.push(parseInt(tok.slice(i, i + 2), 16));
  }
  return out;
}

/** parseHexInput reads one frame from pasted text in any of the forms in the file comment. */
export function parseHexInput(text: string): HexInput {
  const lines = dumpLines(text);
  if (!lines) return { bytes: parseHex(text), format: 'hex', morePackets: false };
  const tcpdump = lines[0].prefixed && /^[0-9a-fA-F]{4}(\s|$)/.test(lines[0].rest);
  const bytes: number[] = [];
  let morePackets = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (i > 0 && l.offset === 0) {
      morePackets = true;
      break;
    }
    if (l.offset !== bytes.length) {
      throw new FormatError(
        `line ${l.line}: offset 0x${l.offset.toString(16).padStart(4, '0')} but ${bytes.length} bytes were read before it (lines missing or cut?)`,
      );
    }
    const next = lines[i + 1];
    const max = next && next.offset > l.offset ? next.offset - l.offset : Infinity;
    const got = lineBytes(l.rest, tcpdump, max);
    if (got.length === 0) throw new FormatError(`line ${l.line}: no hex bytes after the offset`);
    bytes.push(...got);
  }
  return { bytes: Buffer.from(bytes), format: tcpdump ? 'tcpdump' : 'offset-dump', morePackets };
}

/**
 * rawIpHint returns a hint when bytes read as an Ethernet frame look like a bare IP packet instead
 * (`tcpdump -x` prints no link header): version 4 with a plausible header and total length equal to
 * the bytes, or version 6 with a payload length that fits, while bytes 12-13 are no EtherType weft
 * decodes. Undefined otherwise.
 */
export function rawIpHint(b: Uint8Array): string | undefined {
  const ethType = b.length >= 14 ? (b[12] << 8) | b[13] : -1;
  if ([0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8].includes(ethType)) return undefined;
  const v = b.length > 0 ? b[0] >>> 4 : 0;
  let ip = false;
  if (v === 4 && b.length >= 20 && (b[0] & 0x0f) >= 5) ip = ((b[2] << 8) | b[3]) === b.length;
  else if (v === 6 && b.length >= 40) ip = 40 + ((b[4] << 8) | b[5]) === b.length;
  if (!ip) return undefined;
  return `these bytes look like a bare IPv${v} packet, not an Ethernet frame (tcpdump -x prints no link header): add --link ip`;
}
