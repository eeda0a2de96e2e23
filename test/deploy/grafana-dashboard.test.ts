/**
 * deploy/grafana/weft-dashboard.json against the metrics weft exports: every metric a query names
 * exists in the registry createMetricsRegistry builds (read from it, not from a list), rate() and
 * increase() only see counters, histogram_quantile only a histogram's _bucket series, every label a
 * query filters or groups by is one the metric has (or instance/job, which Prometheus adds); the
 * panels operators asked for are there; the layout has no overlapping panels and unique ids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMetricsRegistry, newDaemonCounters } from '../../src/metrics/metrics';
import { REPO_ROOT } from '../helpers/paths';

interface Target {
  expr: string;
  refId: string;
  legendFormat?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  datasource?: { type: string; uid: string };
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
}

const DASHBOARD = join(REPO_ROOT, 'deploy', 'grafana', 'weft-dashboard.json');
const SCRAPE_LABELS = new Set(['instance', 'job']);

/** exported reads every weft metric's type and label names from the registry the daemon serves. */
async function exported(): Promise<Map<string, { type: string; labels: Set<string> }>> {
  const reg = createMetricsRegistry(
    { dataplane: () => null, counters: newDaemonCounters(), ready: () => false, lease: () => null },
    { defaults: false },
  );
  const out = new Map<string, { type: string; labels: Set<string> }>();
  for (const m of await reg.getMetricsAsJSON()) {
    const labels = new Set<string>();
    const metric = reg.getSingleMetric(m.name) as unknown as { labelNames?: string[] } | undefined;
    for (const l of metric?.labelNames ?? []) labels.add(l);
    for (const v of m.values) for (const l of Object.keys(v.labels)) labels.add(l);
    out.set(m.name, { type: String(m.type), labels });
  }
  return out;
}

/** series resolves a series name to its metric (`weft_batch_size_bucket` -> the histogram). */
function metricOf(
  name: string,
  metrics: Map<string, { type: string; labels: Set<string> }>,
): { metric: string; type: string; labels: Set<string> } | undefined {
  const m = metrics.get(name);
  if (m) return { metric: name, ...m };
  const h = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = h ? metrics.get(h[1]!) : undefined;
  if (h && base?.type === 'histogram') {
    const labels = new Set(base.labels);
    if (h[2] === 'bucket') labels.add('le');
    else labels.delete('le');
    return { metric: h[1]!, type: `histogram ${h[2]}`, labels };
  }
  return undefined;
}

/** checkExpr returns the problems of one PromQL expression against the exported metrics. */
function checkExpr(expr: string, metrics: Map<string, { type: string; labels: Set<string> }>): string[] {
  const problems: string[] = [];
  const seen: Array<{ metric: string; type: string; labels: Set<string> }> = [];
  for (const sel of expr.matchAll(/\b(weft_[a-z0-9_]+)(\{([^}]*)\})?/g)) {
    const m = metricOf(sel[1]!, metrics);
    if (!m) {
      problems.push(`${sel[1]} is not exported`);
      continue;
    }
    seen.push(m);
    for (const matcher of (sel[3] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)/g)) {
      const l = matcher[1]!;
      if (!m.labels.has(l) && !SCRAPE_LABELS.has(l)) problems.push(`${sel[1]} has no label ${l}`);
    }
  }
  if (seen.length === 0) problems.push('names no weft metric');
  for (const fn of expr.matchAll(/\b(rate|increase|irate)\(\s*(weft_[a-z0-9_]+)/g)) {
    const m = metricOf(fn[2]!, metrics);
    if (m && m.type !== 'counter' && m.type !== 'histogram bucket')
      problems.push(`${fn[1]}() over ${fn[2]}, a ${m.type}`);
  }
  if (/histogram_quantile/.test(expr) && !seen.some((m) => m.type === 'histogram bucket'))
    problems.push('histogram_quantile without a _bucket series');
  for (const by of expr.matchAll(/\b(by|without)\s*\(([^)]*)\)/g)) {
    for (const l of by[2]!.split(',').map((s) => s.trim())) {
      if (!SCRAPE_LABELS.has(l) && !seen.some((m) => m.labels.has(l)))
        problems.push(`groups by ${l}, which none of its metrics has`);
    }
  }
  return problems;
}

const dash = (): Dashboard => JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

test('every dashboard query names exported metrics, with their labels and the right functions', async () => {
  const metrics = await exported();
  assert.ok(metrics.size > 20, `registry exports ${metrics.size} weft metrics`);
  const problems: string[] = [];
  let queries = 0;
  for (const p of dash().panels) {
    for (const t of p.targets ?? []) {
      queries++;
      for (const e of checkExpr(t.expr, metrics)) problems.push(`${p.title} / ${t.refId}: ${e}: ${t.expr}`);
      for (const l of (t.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
        const grouped = /\b(by|without)\s*\(([^)]*)\)/
          .exec(t.expr)?.[2]
          ?.split(',')
          .map((s) => s.trim());
        if (grouped && !grouped.includes(l[1]!))
          problems.push(`${p.title}: legend {{${l[1]}}} is not kept by ${t.expr}`);
      }
    }
  }
  assert.ok(queries >= 15, `${queries} queries`);
  assert.deepEqual(problems, []);
});

test('the checker itself catches a wrong name, a wrong label and rate() over a gauge', async () => {
  const metrics = await exported();
  assert.deepEqual(checkExpr('rate(weft_drops_total[5m])', metrics), []);
  assert.match(checkExpr('rate(weft_drop_total[5m])', metrics).join(), /weft_drop_total is not exported/);
  assert.match(checkExpr('weft_drops_total{queue="0"}', metrics).join(), /has no label queue/);
  assert.match(checkExpr('rate(weft_routes[5m])', metrics).join(), /rate\(\) over weft_routes, a gauge/);
  assert.match(checkExpr('sum by (reason) (weft_packets_total)', metrics).join(), /groups by reason/);
  assert.deepEqual(
    checkExpr('histogram_quantile(0.5, sum by (le) (rate(weft_batch_size_bucket[1m])))', metrics),
    [],
  );
});

test('the panels operators need are there: drops by reason, per-queue packets, stalls, store errors', () => {
  const exprs = dash().panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const has = (re: RegExp, what: string): void =>
    assert.ok(
      exprs.some((e) => re.test(e)),
      what,
    );
  has(/by \([^)]*\breason\b[^)]*\) \(rate\(weft_drops_total/, 'drops by reason');
  has(/by \([^)]*\bqueue\b[^)]*\) \(rate\(weft_queue_packets_total/, 'packets per queue');
  has(/rate\(weft_egress_stalls_total/, 'egress stalls');
  has(/by \([^)]*\bop\b[^)]*\) \(rate\(weft_store_errors_total/, 'store errors by operation');
});

test('dashboard structure: unique ids, panels inside 24 columns and not overlapping, a datasource and node variable', () => {
  const d = dash();
  assert.equal(d.uid, 'weft-node');
  assert.ok(d.schemaVersion >= 36);
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
  const boxes = d.panels.map((p) => p.gridPos);
  for (const [i, a] of boxes.entries()) {
    assert.ok(a.x >= 0 && a.w > 0 && a.x + a.w <= 24, `${d.panels[i]!.title} fits 24 columns`);
    for (const [j, b] of boxes.entries()) {
      if (j <= i) continue;
      const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      assert.ok(!overlap, `${d.panels[i]!.title} overlaps ${d.panels[j]!.title}`);
    }
  }
  const vars = new Map(d.templating.list.map((v) => [v.name, v]));
  assert.equal(vars.get('datasource')?.type, 'datasource');
  assert.equal(vars.get('instance')?.type, 'query');
  for (const p of d.panels.filter((x) => x.type !== 'row')) {
    assert.equal(p.datasource?.uid, '${datasource}', `${p.title} uses the chosen data source`);
    assert.ok(p.description && p.description.length > 20, `${p.title} says what it shows`);
    for (const t of p.targets ?? [])
      assert.match(t.expr, /instance=~"\$instance"/, `${p.title}: filtered by node`);
  }
});
