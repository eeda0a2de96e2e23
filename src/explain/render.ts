/**
 * Text rendering of an Explanation: a heading per layer with its byte range and RFC section, then
 * one aligned row per field (offset, bytes in hex, field name, decoded value), bit fields broken out
 * beneath their field, notes, and the overhead summary at the end.
 *
 * Design notes: colour is opt-in (the CLI passes `color` only when stdout is a TTY and NO_COLOR is
 * unset) so piped output and tests see plain text; column widths are fixed so frames line up when
 * several are printed one after another.
 */
import type { ExplainField, ExplainLayer, Explanation, Status } from './model';

/** RenderOptions tune the text output. */
export interface RenderOptions {
  /** Use ANSI colours. Default false. */
  color?: boolean;
  /** A title line printed first, e.g. `frame 3 of kernel-vxlan-8472.pcap`. */
  title?: string;
}

/** BYTES_SHOWN is the most bytes printed in the hex column; longer fields end in an ellipsis. */
const BYTES_SHOWN = 8;
const W_OFF = 6;
const W_BYTES = BYTES_SHOWN * 3 + 1;
const W_NAME = 22;

type Paint = (s: string) => string;

function painter(
  on: boolean,
): Record<'bold' | 'dim' | 'cyan' | 'green' | 'yellow' | 'red' | 'magenta', Paint> {
  const wrap =
    (code: string): Paint =>
    (s) =>
      on ? `\x1b[${code}m${s}\x1b[0m` : s;
  return {
    bold: wrap('1'),
    dim: wrap('2'),
    cyan: wrap('36'),
    green: wrap('32'),
    yellow: wrap('33'),
    red: wrap('31'),
    magenta: wrap('35'),
  };
}

function hexBytes(buf: Uint8Array, off: number, len: number): string {
  const n = Math.max(0, Math.min(len, BYTES_SHOWN, buf.length - off));
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(buf[off + i].toString(16).padStart(2, '0'));
  return parts.join(' ') + (len > BYTES_SHOWN ? ' …' : '');
}

function heading(l: ExplainLayer, overlay: boolean): string {
  // "outer" only means something when there is an inner frame.
  const role =
    l.role === 'inner'
      ? 'inner '
      : l.role === 'quoted'
        ? 'quoted '
        : l.role === 'outer' && overlay
          ? 'outer '
          : '';
  const range =
    l.length > 0 ? `bytes ${l.offset}-${l.offset + l.length - 1} (${l.length})` : `at byte ${l.offset}`;
  return (`${role}${l.name}`.padEnd(24) + `  ${range}`.padEnd(24) + (l.ref ? `  ${l.ref}` : '')).trimEnd();
}

/**
 * renderExplanation turns an Explanation (from decodeFrame with the default `detail: 'full'`) into
 * the text `weft explain` prints. Throws TypeError for a `summary` decode, which has no rows.
 */
export function renderExplanation(ex: Explanation, buf: Uint8Array, opts: RenderOptions = {}): string {
  // A summary decode has no rows: rendering it would print headings over nothing, silently.
  if (ex.detail !== 'full')
    throw new TypeError(`renderExplanation needs a full decode, got detail '${ex.detail}'`);
  const c = painter(opts.color ?? false);
  const status = (s: Status | undefined, text: string): string =>
    s === 'ok' ? c.green(text) : s === 'bad' ? c.red(text) : s === 'warn' ? c.yellow(text) : text;
  const out: string[] = [];
  if (opts.title) out.push(c.bold(opts.title));
  out.push(`${ex.length} bytes, link type ${ex.linkName}`);
  out.push(c.dim(`${'offset'.padStart(W_OFF)}  ${'bytes'.padEnd(W_BYTES)} ${'field'.padEnd(W_NAME)} value`));
  const overlayInner = ex.overlay?.innerOffset;
  let innerRuleDone = false;
  for (const l of ex.layers) {
    if (!innerRuleDone && overlayInner !== undefined && l.role === 'inner' && l.offset >= overlayInner) {
      const what = ex.overlay?.kind === 'vxlan' ? 'inner Ethernet frame' : 'inner IP packet';
      out.push('');
      out.push(c.magenta(`──── decapsulated: ${what} starts at byte ${overlayInner} ────`));
      innerRuleDone = true;
    }
    out.push('');
    out.push(c.bold(c.cyan(heading(l, ex.overlay !== undefined))));
    for (const f of l.fields) out.push(...fieldLines(f, buf, c, status));
    for (const n of l.notes) {
      const mark = n.level === 'bad' ? c.red('!! ') : n.level === 'warn' ? c.yellow('!  ') : c.dim('·  ');
      out.push(`${' '.repeat(W_OFF + 2)}${mark}${n.level === 'bad' ? c.red(n.text) : n.text}`);
    }
  }
  if (ex.summary.length) {
    out.push('');
    out.push(c.bold('Summary'));
    for (const s of ex.summary) out.push(`  ${s.startsWith('problems') ? c.red(s) : s}`);
  }
  return out.join('\n') + '\n';
}

function fieldLines(
  f: ExplainField,
  buf: Uint8Array,
  c: ReturnType<typeof painter>,
  status: (s: Status | undefined, t: string) => string,
): string[] {
  const lines: string[] = [];
  const ref = f.ref ? c.dim(`  [${f.ref}]`) : '';
  lines.push(
    `${c.dim(String(f.offset).padStart(W_OFF))}  ${c.yellow(hexBytes(buf, f.offset, f.length).padEnd(W_BYTES))} ` +
      `${f.name.padEnd(W_NAME)} ${status(f.status, f.value)}${ref}`,
  );
  if (f.bits) {
    const indent = ' '.repeat(W_OFF + 2 + W_BYTES + 1 + 2);
    const wPat = Math.max(...f.bits.map((b) => b.pattern.length));
    const wName = Math.max(...f.bits.map((b) => b.name.length));
    for (const b of f.bits) {
      lines.push(
        `${indent}${c.dim(b.pattern.padEnd(wPat))}  ${b.name.padEnd(wName)}  ${status(b.status, b.value)}`,
      );
    }
  }
  return lines;
}
