/**
 * chart: the SVG of `weft bench --svg`, a standalone file that reads in a browser.
 *
 * One panel per measured measure (TCP 1 stream, TCP 4 streams, 64-byte UDP packets/s, and CPU
 * seconds per gigabit: path, kernel and tunnel, as report.ts's CPU_LEGEND defines them), each a dot plot: a row per case and MTU, the median as a dot coloured by MTU, a
 * grey bar from the smallest to the largest round (the spread), and on the right the figure with
 * its ratio to kernel VXLAN at the same MTU in the same run. Dots, not lines: two MTUs are two
 * measurements, not a curve. When three or more MTUs were measured (a sweep), a last panel draws
 * TCP 1 stream against MTU with lines through the measured points.
 */
import { CASE_LABELS, type CaseName } from './cases';
import type { BenchReport, Row } from './report';

/** MTU_COLORS colour the dots by underlay MTU, in the order the MTUs were given (colour-blind safe). */
export const MTU_COLORS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00'] as const;

/** Measure is one panel of the chart. */
interface Measure {
  title: string;
  unit: string;
  /** Median, or null when not measured for this row. */
  value: (r: Row) => number | null;
  /** Every round's figure (empty when the record keeps only the median). */
  samples: (r: Row) => readonly number[];
  /** Ratio to kernel VXLAN, or null when there is none. */
  ratio: (r: Row) => number | null;
  /** Figure format. */
  digits: number;
  /** What a missing value means, for the row's text. */
  missing: (r: Row) => string;
}

const finite = (x: number | null | undefined): number | null =>
  x !== null && x !== undefined && Number.isFinite(x) ? x : null;

const notRun = (): string => 'not measured';

/** MEASURES are the chart's panels, in order. */
const MEASURES: readonly Measure[] = [
  {
    title: 'TCP, 1 stream',
    unit: 'Gbit/s',
    value: (r) => finite(r.tcp1Gbps),
    samples: (r) => r.tcp1Samples,
    ratio: (r) => finite(r.ratioTcp1),
    digits: 2,
    missing: notRun,
  },
  {
    title: 'TCP, 4 streams',
    unit: 'Gbit/s',
    value: (r) => finite(r.tcp4Gbps),
    samples: (r) => r.tcp4Samples,
    ratio: (r) => finite(r.ratioTcp4),
    digits: 2,
    missing: notRun,
  },
  {
    title: '64-byte UDP',
    unit: 'kpps received',
    value: (r) => (finite(r.udpPps) === null ? null : r.udpPps / 1000),
    samples: (r) => r.udpPpsSamples.filter((x) => finite(x) !== null).map((x) => x / 1000),
    ratio: (r) => finite(r.ratioUdp),
    digits: 1,
    missing: notRun,
  },
  {
    title: 'Path CPU per gigabit',
    unit: 'kernel + tunnel user, s/Gbit',
    value: (r) => finite(r.pathCpuSecPerGbit),
    samples: () => [],
    ratio: (r) => finite(r.ratioPathCpu),
    digits: 3,
    missing: notRun,
  },
  {
    title: 'Kernel CPU per gigabit',
    unit: 'sys + irq + softirq, s/Gbit',
    value: (r) => finite(r.kernelCpuSecPerGbit),
    samples: () => [],
    ratio: () => null,
    digits: 3,
    missing: notRun,
  },
  {
    title: 'Tunnel CPU per gigabit',
    unit: 'utime + stime, s/Gbit',
    value: (r) => finite(r.cpuSecPerGbit),
    samples: () => [],
    ratio: () => null,
    digits: 3,
    missing: (r) => (r.case === 'kernel' || r.case === 'veth' ? 'no tunnel process' : 'not measured'),
  },
];

/** Layout constants (px). */
const W = 1180;
const PAD = 24;
const GAP = 28;
const PANEL_W = (W - 2 * PAD - GAP) / 2;
const LABEL_W = 205;
const VALUE_W = 104;
const ROW_H = 17;
const CASE_GAP = 7;
const PANEL_HEAD = 40;
const AXIS_H = 34;
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

function fmt(x: number, digits: number): string {
  return x.toFixed(digits);
}

/** axis returns a scale 0..max with about five ticks. */
function axis(max: number): { max: number; step: number } {
  const step = niceStep(Math.max(max, 1e-9) / 5);
  return { max: Math.max(step, Math.ceil(max / step - 1e-9) * step), step };
}

interface Ctx {
  cases: CaseName[];
  mtus: number[];
  rows: Row[];
}

function panelHeight(c: Ctx): number {
  return PANEL_HEAD + c.cases.length * (c.mtus.length * ROW_H + CASE_GAP) + AXIS_H;
}

/** panel draws one measure at (x0, y0). */
function panel(m: Measure, c: Ctx, x0: number, y0: number, out: string[]): void {
  const plotX = x0 + LABEL_W;
  const plotW = PANEL_W - LABEL_W - VALUE_W;
  const found = (cs: CaseName, mtu: number): Row | undefined =>
    c.rows.find((r) => r.case === cs && r.mtu === mtu);
  const all = c.rows
    .flatMap((r) => [m.value(r), ...m.samples(r)])
    .filter((v): v is number => finite(v) !== null);
  const ax = axis(Math.max(0, ...all));
  const sx = (v: number): number => plotX + (v / ax.max) * plotW;
  const h = panelHeight(c);
  const top = y0 + PANEL_HEAD;
  const bottom = y0 + h - AXIS_H;
  out.push(
    `<g class="panel">`,
    `<rect x="${x0}" y="${y0}" width="${PANEL_W}" height="${h}" fill="#fafafa" stroke="#ddd"/>`,
    `<text x="${x0 + 10}" y="${y0 + 20}" font-size="15" font-weight="bold">${esc(m.title)}</text>`,
    `<text x="${x0 + PANEL_W - 10}" y="${y0 + 20}" font-size="12" fill="#555" text-anchor="end">${esc(m.unit)}${c.rows.some((r) => m.ratio(r) !== null) ? '; × kernel' : ''}</text>`,
  );
  for (let v = 0; v <= ax.max + 1e-9; v += ax.step) {
    const x = sx(v).toFixed(1);
    out.push(
      `<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${bottom}" stroke="#e3e3e3"/>`,
      `<text x="${x}" y="${bottom + 16}" font-size="11" fill="#444" text-anchor="middle">${+v.toFixed(3)}</text>`,
    );
  }
  out.push(`<line x1="${plotX}" y1="${bottom}" x2="${plotX + plotW}" y2="${bottom}" stroke="#888"/>`);
  let y = top;
  for (const cs of c.cases) {
    const blockH = c.mtus.length * ROW_H;
    out.push(
      `<text x="${plotX - 10}" y="${(y + blockH / 2 + 4).toFixed(1)}" font-size="12" text-anchor="end">${esc(CASE_LABELS[cs])}</text>`,
    );
    c.mtus.forEach((mtu, i) => {
      const cy = y + i * ROW_H + ROW_H / 2;
      const r = found(cs, mtu);
      const v = r ? m.value(r) : null;
      const color = MTU_COLORS[i % MTU_COLORS.length]!;
      if (r === undefined || v === null) {
        out.push(
          `<text x="${plotX + 4}" y="${(cy + 4).toFixed(1)}" font-size="11" fill="#999">${esc(r ? m.missing(r) : 'not measured')}</text>`,
        );
        return;
      }
      const s = m.samples(r).filter((x) => Number.isFinite(x));
      if (s.length > 1) {
        const lo = sx(Math.min(...s));
        const hi = sx(Math.max(...s));
        out.push(
          `<rect class="spread" x="${lo.toFixed(1)}" y="${(cy - 2).toFixed(1)}" width="${Math.max(1, hi - lo).toFixed(1)}" height="4" fill="#9a9a9a"/>`,
        );
      }
      out.push(`<circle class="dot" cx="${sx(v).toFixed(1)}" cy="${cy.toFixed(1)}" r="5" fill="${color}"/>`);
      const ratio = m.ratio(r);
      const ratioText = ratio === null || cs === 'kernel' ? '' : `  ${fmt(ratio, 2)}×`;
      out.push(
        `<text x="${x0 + PANEL_W - 10}" y="${(cy + 4).toFixed(1)}" font-size="11" text-anchor="end"><tspan fill="${color}">${fmt(v, m.digits)}</tspan><tspan fill="#333">${ratioText}</tspan></text>`,
      );
    });
    y += blockH + CASE_GAP;
  }
  out.push(`</g>`);
}

/** sweepPanel draws TCP 1 stream against MTU, with lines through the measured MTUs. */
function sweepPanel(c: Ctx, x0: number, y0: number, w: number, h: number, out: string[]): void {
  const L = x0 + 60;
  const R = x0 + w - 190;
  const T = y0 + 44;
  const B = y0 + h - 40;
  const vals = c.rows.map((r) => finite(r.tcp1Gbps)).filter((v): v is number => v !== null);
  const ax = axis(Math.max(0, ...vals));
  const xmin = c.mtus[0]!;
  const xmax = c.mtus[c.mtus.length - 1]!;
  const sx = (m: number): number => L + ((m - xmin) / (xmax - xmin)) * (R - L);
  const sy = (v: number): number => B - (v / ax.max) * (B - T);
  out.push(
    `<g class="panel">`,
    `<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="#fafafa" stroke="#ddd"/>`,
    `<text x="${x0 + 10}" y="${y0 + 20}" font-size="15" font-weight="bold">TCP, 1 stream, across the MTU sweep</text>`,
    `<text x="${x0 + 10}" y="${y0 + 36}" font-size="12" fill="#555">Gbit/s against underlay MTU; lines join measured MTUs only</text>`,
  );
  for (let v = 0; v <= ax.max + 1e-9; v += ax.step) {
    out.push(
      `<line x1="${L}" y1="${sy(v).toFixed(1)}" x2="${R}" y2="${sy(v).toFixed(1)}" stroke="#e3e3e3"/>`,
      `<text x="${L - 8}" y="${(sy(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${+v.toFixed(2)}</text>`,
    );
  }
  for (const m of c.mtus) {
    out.push(`<text x="${sx(m).toFixed(1)}" y="${B + 16}" font-size="11" text-anchor="middle">${m}</text>`);
  }
  const GREYS = ['#222', '#555', '#777', '#999', '#333', '#666', '#888', '#aaa'];
  c.cases.forEach((cs, i) => {
    const pts = c.mtus
      .map((m) => c.rows.find((r) => r.case === cs && r.mtu === m))
      .filter((r): r is Row => r !== undefined && finite(r.tcp1Gbps) !== null)
      .map((r) => [sx(r.mtu), sy(r.tcp1Gbps)] as const);
    const stroke = GREYS[i % GREYS.length]!;
    if (pts.length > 1) {
      out.push(
        `<polyline points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}" fill="none" stroke="${stroke}" stroke-width="1.5"/>`,
      );
    }
    for (const [x, y] of pts)
      out.push(
        `<rect x="${(x - 3).toFixed(1)}" y="${(y - 3).toFixed(1)}" width="6" height="6" fill="${stroke}"/>`,
      );
    const last = pts.at(-1);
    if (last) {
      out.push(
        `<text x="${R + 8}" y="${(T + 14 + i * 16).toFixed(1)}" font-size="11" fill="${stroke}">${esc(CASE_LABELS[cs])}</text>`,
      );
    }
  });
  out.push(`</g>`);
}

/** commandLines wraps the recorded command line at spaces so it fits the chart's width. */
function commandLines(cmd: string): string[] {
  const max = Math.floor((W - 2 * PAD) / 6.8);
  const lines: string[] = [];
  let cur = '';
  for (const word of cmd.split(' ')) {
    if (cur !== '' && cur.length + 1 + word.length > max) {
      lines.push(cur);
      cur = '    ';
    }
    cur = cur.trim() === '' ? cur + word : `${cur} ${word}`;
  }
  if (cur.trim() !== '') lines.push(cur);
  return lines;
}

/** renderSvg draws every measure of `report`; a standalone SVG document. */
export function renderSvg(report: BenchReport): string {
  const mtus = [...new Set(report.options.mtus)].sort((a, b) => a - b);
  const cases = report.options.cases.filter((cs) => report.rows.some((r) => r.case === cs));
  const rounds = report.options.rounds;
  const c: Ctx = { cases, mtus, rows: report.rows };
  const sweep = mtus.length >= 3;
  const ph = panelHeight(c);
  // A measure nobody measured (`--metrics tcp1`) gets no panel rather than an empty one.
  const measures = MEASURES.filter((m) => report.rows.some((r) => m.value(r) !== null));
  const panelRows = Math.max(1, Math.ceil(measures.length / 2));
  const headH = 86;
  const sweepH = sweep ? 330 : 0;
  const H =
    headH +
    panelRows * ph +
    (panelRows - 1) * GAP +
    (sweep ? GAP + sweepH : 0) +
    PAD +
    14 * commandLines(report.command).length;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`,
    `<title>weft bench ${esc(report.date.slice(0, 10))}: kernel VXLAN and weft, every measure</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${PAD}" y="30" font-size="19" font-weight="bold">weft bench, ${esc(report.date.slice(0, 10))}: tunnels against kernel VXLAN</text>`,
    `<text x="${PAD}" y="50" font-size="12" fill="#444">${esc(
      `iperf3 ${report.options.duration} s per run, ${rounds} round${rounds === 1 ? '' : 's'}: dot = median, grey bar = min–max across rounds; ` +
        `× kernel = ratio to kernel VXLAN at the same MTU in the same run`,
    )}</text>`,
    `<text x="${PAD}" y="68" font-size="12" fill="#444">${esc(
      `${report.machine.cpus} CPUs (${report.machine.model}), kernel ${report.machine.kernel}, Node ${report.machine.node}`,
    )}</text>`,
  );
  // Legend: one dot per MTU, on the right of the header.
  let lx = W - PAD;
  for (let i = mtus.length - 1; i >= 0; i--) {
    const label = `MTU ${mtus[i]}`;
    const tw = label.length * 8.5;
    out.push(
      `<text x="${lx}" y="34" font-size="13" text-anchor="end">${label}</text>`,
      `<circle class="legend" cx="${(lx - tw - 10).toFixed(1)}" cy="30" r="5" fill="${MTU_COLORS[i % MTU_COLORS.length]}"/>`,
    );
    lx -= tw + 36;
  }
  measures.forEach((m, i) => {
    const x0 = PAD + (i % 2) * (PANEL_W + GAP);
    const y0 = headH + Math.floor(i / 2) * (ph + GAP);
    panel(m, c, x0, y0, out);
  });
  if (sweep) sweepPanel(c, PAD, headH + panelRows * (ph + GAP), W - 2 * PAD, sweepH, out);
  commandLines(report.command).forEach((l, i, all) =>
    out.push(
      `<text x="${PAD}" y="${H - 10 - (all.length - 1 - i) * 14}" font-size="11" fill="#777">${esc(l)}</text>`,
    ),
  );
  out.push('</svg>');
  return out.join('\n') + '\n';
}
