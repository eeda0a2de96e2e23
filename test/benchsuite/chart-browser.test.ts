/**
 * The `weft bench --svg` chart as a browser shows it: Debian's Chromium, headless, renders the
 * chart of a recorded run (bench/records, so no benchmark runs). The screenshot must show one dot
 * per measured figure in its MTU's colour, and Chromium's own text metrics must show no text
 * outside the picture or its panel and no two texts overlapping. Needs /usr/bin/chromium
 * (scripts/setup.sh installs it); the test fails, not skips, without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MTU_COLORS, renderSvg } from '../../src/benchsuite/chart';
import type { BenchReport } from '../../src/benchsuite/report';
import { REPO_ROOT } from '../helpers/paths';
import { blobs, decodePng } from '../helpers/png';

const CHROMIUM = '/usr/bin/chromium';
const RECORDS = [
  'weft-bench-issue5-run3.json',
  'weft-bench-workers.json',
  'weft-bench-issue5-rss.json',
  'weft-bench-issue16-cpu.json',
];

/** chromium runs headless Chromium with the flags this machine's closed network needs. */
function chromium(dir: string, args: string[]): string {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: run scripts/setup.sh (apt-get install chromium)`);
  const profile = mkdtempSync(join(dir, 'profile-'));
  const r = spawnSync(
    CHROMIUM,
    [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--user-data-dir=${profile}`, ...args,
    ], // prettier-ignore
    { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20 },
  );
  assert.equal(r.status, 0, `chromium ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function size(svg: string): { w: number; h: number } {
  const m = /<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
  return { w: Number(m[1]), h: Number(m[2]) };
}

/** LAYOUT_CHECK runs in the page: every text's box inside the picture and its panel, no overlaps. */
const LAYOUT_CHECK = `
const svg = document.querySelector('svg');
const W = svg.viewBox.baseVal.width, H = svg.viewBox.baseVal.height;
const problems = [];
const boxes = [...svg.querySelectorAll('text')].map((t) => {
  const b = t.getBBox();
  const panel = t.closest('g.panel');
  const frame = panel ? panel.querySelector('rect').getBBox() : { x: 0, y: 0, width: W, height: H };
  return { s: t.textContent, x: b.x, y: b.y, w: b.width, h: b.height, frame };
});
for (const b of boxes) {
  const f = b.frame;
  if (b.w === 0) problems.push('not rendered: ' + b.s);
  if (b.x < f.x - 0.5 || b.y < f.y - 0.5 || b.x + b.w > f.x + f.width + 0.5 || b.y + b.h > f.y + f.height + 0.5)
    problems.push('outside its frame: ' + b.s + ' ' + JSON.stringify([b.x, b.y, b.w, b.h]) + ' frame ' + JSON.stringify([f.x, f.y, f.width, f.height]));
}
for (let i = 0; i < boxes.length; i++)
  for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    const ox = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
    const oy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
    if (ox > 1 && oy > 2) problems.push('overlap: ' + a.s + ' / ' + b.s);
  }
const pre = document.createElement('pre');
pre.id = 'result';
pre.textContent = encodeURIComponent(JSON.stringify({ texts: boxes.length, problems }));
document.body.appendChild(pre);
`;

for (const name of RECORDS) {
  test(`chart of bench/records/${name} reads in a browser: dots drawn, no text clipped or overlapping`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-chart-browser-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const report = JSON.parse(readFileSync(join(REPO_ROOT, 'bench', 'records', name), 'utf8')) as BenchReport;
    const svg = renderSvg(report);
    const { w, h } = size(svg);
    const svgPath = join(dir, 'chart.svg');
    writeFileSync(svgPath, svg);

    // The layout, measured by the browser's own font metrics.
    const page = join(dir, 'layout.html');
    writeFileSync(
      page,
      `<!doctype html><html><body style="margin:0">${svg}<script>${LAYOUT_CHECK}</script></body></html>`,
    );
    const dom = chromium(dir, ['--dump-dom', `file://${page}`]);
    const m = /<pre id="result">([^<]*)<\/pre>/.exec(dom);
    assert.ok(m, `no layout result in the dumped DOM:\n${dom.slice(0, 500)}`);
    const res = JSON.parse(decodeURIComponent(m[1]!)) as { texts: number; problems: string[] };
    assert.ok(res.texts > 20, `only ${res.texts} texts`);
    assert.deepEqual(res.problems, []);

    // The picture: a screenshot at the chart's own size; one dot per figure in its MTU's colour.
    const png = join(dir, 'chart.png');
    chromium(dir, [`--screenshot=${png}`, `--window-size=${w},${h}`, `file://${svgPath}`]);
    const img = decodePng(readFileSync(png));
    assert.equal(img.width, w);
    assert.equal(img.height, h);
    const mtus = [...new Set(report.options.mtus)].sort((a, b) => a - b);
    mtus.forEach((mtu, i) => {
      const want = (svg.match(new RegExp(`class="dot"[^>]*fill="${MTU_COLORS[i]}"`, 'g')) ?? []).length;
      assert.ok(want > 0, `MTU ${mtu} has dots in the SVG`);
      // Dots are filled discs about 10 px across (+1 in the legend); text in the same colour is
      // thin strokes, which this shape test leaves out.
      const dots = blobs(img, MTU_COLORS[i]!).filter(
        (b) => b.w >= 7 && b.w <= 14 && b.h >= 7 && b.h <= 14 && b.pixels >= 0.55 * b.w * b.h,
      );
      assert.equal(dots.length, want + 1, `MTU ${mtu}: ${dots.length} dots seen, ${want} + legend drawn`);
    });
  });
}
