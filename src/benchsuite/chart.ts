/** chart: the SVG chart of `weft bench --svg`. */
import { CASE_LABELS, type CaseName } from './cases';
import type { BenchReport, Row } from './report';

const COLORS: Record<CaseName, string> = {
  kernel: '#1f77b4',
  'weft-batch': '#d62728',
  'weft-nooff': '#ff9896',
  'weft-w2': '#ff7f0e',
  'weft-dgram': '#9467bd',
  'weft-udp': '#2ca02c',
  socat: '#8c564b',
  veth: '#7f7f7f',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** renderSvg draws TCP Gbit/s (y) against underlay MTU (x) for every case; a standalone SVG file. */
export function renderSvg(report: BenchReport): string {
  const W = 860;
  const H = 500;
  const L = 70;
  const R = 250;
  const T = 50;
  const B = 60;
  const pw = W - L - R;
  const ph = H - T - B;
  const mtus = [...report.options.mtus].sort((a, b) => a - b);
  const rows = report.rows;
  const ymaxRaw = Math.max(
    1,
    ...rows.flatMap((r) => [r.tcp1Gbps, r.tcp4Gbps].filter((x) => Number.isFinite(x))),
  );
  const step = niceStep(ymaxRaw / 5);
  const ymax = Math.ceil(ymaxRaw / step) * step;
  const xmin = mtus[0]!;
  const xmax = mtus[mtus.length - 1]!;
  const x = (m: number): number => (xmax === xmin ? L + pw / 2 : L + ((m - xmin) / (xmax - xmin)) * pw);
  const y = (v: number): number => T + ph - (v / ymax) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="24" font-size="16" font-weight="bold">TCP throughput vs underlay MTU (weft bench, ${esc(report.date.slice(0, 10))})</text>`,
    `<text x="${L}" y="40" fill="#555">iperf3 ${report.options.duration} s, median of ${report.options.rounds}; solid = 1 stream, dashed = 4 streams; ${esc(report.machine.cpus + ' CPUs, kernel ' + report.machine.kernel)}</text>`,
  );
  for (let v = 0; v <= ymax + 1e-9; v += step) {
    out.push(
      `<line x1="${L}" y1="${y(v).toFixed(1)}" x2="${L + pw}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`,
      `<text x="${L - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${+v.toFixed(2)}</text>`,
    );
  }
  for (const m of mtus) {
    out.push(
      `<line x1="${x(m).toFixed(1)}" y1="${T + ph}" x2="${x(m).toFixed(1)}" y2="${T + ph + 5}" stroke="#333"/>`,
      `<text x="${x(m).toFixed(1)}" y="${T + ph + 20}" text-anchor="middle">${m}</text>`,
    );
  }
  out.push(
    `<line x1="${L}" y1="${T + ph}" x2="${L + pw}" y2="${T + ph}" stroke="#333"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="#333"/>`,
    `<text x="${L + pw / 2}" y="${H - 15}" text-anchor="middle">underlay MTU (bytes)</text>`,
    `<text x="18" y="${T + ph / 2}" text-anchor="middle" transform="rotate(-90 18 ${T + ph / 2})">Gbit/s</text>`,
  );
  const cases = report.options.cases;
  cases.forEach((c, i) => {
    const pts = (key: 'tcp1Gbps' | 'tcp4Gbps'): Array<[number, number]> =>
      mtus
        .map((m) => rows.find((r) => r.case === c && r.mtu === m))
        .filter((r): r is Row => r !== undefined && Number.isFinite(r[key]))
        .map((r) => [x(r.mtu), y(r[key])]);
    const color = COLORS[c];
    for (const [key, dash] of [
      ['tcp1Gbps', ''],
      ['tcp4Gbps', ' stroke-dasharray="6 4"'],
    ] as const) {
      const p = pts(key);
      if (p.length === 0) continue;
      if (p.length > 1) {
        const d = p.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
        out.push(`<polyline points="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
      }
      for (const [px, py] of p) {
        out.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="${dash ? 3 : 4}" fill="${color}"/>`);
      }
    }
    const ly = T + 10 + i * 20;
    out.push(
      `<line x1="${L + pw + 20}" y1="${ly}" x2="${L + pw + 45}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${L + pw + 52}" y="${ly + 4}">${esc(CASE_LABELS[c])}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceStep(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}
