// The Grafana dashboard in deploy/grafana/ queries only metrics tsim exports: every metric
// named in a panel's query (or a variable's) must be on the /metrics page of a real tsim
// server started here, so a renamed metric or a typo in the JSON fails this test by name.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { packageRoot } from '../../src/package-root.js';
import { metricSelectors, PromqlError } from './promql-selectors.js';

const DASHBOARD = join(packageRoot(), 'deploy', 'grafana', 'tsim-dashboard.json');
const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
/** What every selector carries, so the job and instance variables filter every panel. */
const FILTERS = ['job=~"$job"', 'instance=~"$instance"'];
/** Series Prometheus adds to every target itself, not on any /metrics page. */
const PROMETHEUS_SERIES = new Set(['up']);

interface Target {
  refId?: string;
  expr?: unknown;
  datasource?: unknown;
}

interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: unknown;
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}

interface Variable {
  name: string;
  type: string;
  query?: unknown;
  datasource?: unknown;
}

interface Dashboard {
  schemaVersion?: number;
  uid?: string;
  panels?: Panel[];
  templating?: { list?: Variable[] };
}

/** Series names of a Prometheus text page: histograms as their _bucket/_sum/_count series. */
function seriesOfPage(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) for (const n of seriesOf(type[1], type[2])) names.add(n);
    else if (line !== '' && !line.startsWith('#')) names.add(line.split(/[{ ]/, 1)[0]);
  }
  return names;
}

function seriesOf(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

/** Series names in docs/operations.md's metrics reference tables (`| \`name\` | type | …`). */
function seriesOfDocs(markdown: string): Set<string> {
  const start = markdown.indexOf('\n## Metrics reference');
  assert.ok(start >= 0, 'docs/operations.md has a "## Metrics reference" section');
  const end = markdown.indexOf('\n## ', start + 1);
  const names = new Set<string>();
  for (const m of markdown.slice(start, end < 0 ? undefined : end).matchAll(/^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \| (\w+) \|/gm)) {
    for (const n of seriesOf(m[1], m[2])) names.add(n);
  }
  return names;
}

/** The metric a histogram's base name stands for, to say what to query instead. */
function hint(name: string, exported: ReadonlySet<string>): string {
  return exported.has(`${name}_bucket`) ? ` (a histogram: query ${name}_bucket, _sum or _count)` : '';
}

/** Every panel, rows' nested panels included, with the row each sits under. */
function allPanels(dashboard: Dashboard): Array<{ panel: Panel; row: string }> {
  const out: Array<{ panel: Panel; row: string }> = [];
  let row = '(no row)';
  for (const p of dashboard.panels ?? []) {
    if (p.type === 'row') {
      row = p.title ?? '(untitled row)';
      for (const inner of p.panels ?? []) out.push({ panel: inner, row });
    } else out.push({ panel: p, row });
  }
  return out;
}

/** The first argument of label_values(…), the one expression in a Prometheus variable's query. */
function variableExpression(query: unknown): string | undefined {
  const text = typeof query === 'string' ? query : (query as { query?: unknown } | undefined)?.query;
  if (typeof text !== 'string') return undefined;
  const m = /^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/s.exec(text);
  return m ? m[1] : text;
}

/**
 * What is wrong with the dashboard's queries: each problem names the panel (or variable) and
 * the metric or expression. Empty when every metric queried is `exported`.
 */
function queryProblems(dashboard: Dashboard, exported: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const check = (where: string, expr: string, filtered: boolean): void => {
    let selectors;
    try {
      selectors = metricSelectors(expr);
    } catch (e) {
      if (!(e instanceof PromqlError)) throw e;
      problems.push(`${where}: cannot read the expression: ${e.message}`);
      return;
    }
    if (selectors.length === 0) problems.push(`${where}: no metric in ${JSON.stringify(expr)}`);
    for (const s of selectors) {
      if (!exported.has(s.name) && !PROMETHEUS_SERIES.has(s.name))
        problems.push(`${where}: metric ${s.name} is not exported by tsim${hint(s.name, exported)}`);
      const missing = FILTERS.filter((f) => !(s.matchers ?? '').includes(f));
      if (filtered && missing.length > 0) problems.push(`${where}: ${s.name} lacks ${missing.join(', ')}`);
    }
  };
  const panels = allPanels(dashboard);
  if (panels.length === 0) problems.push('the dashboard has no panels');
  for (const { panel, row } of panels) {
    const name = `panel "${panel.title ?? '(untitled)'}" (row ${row})`;
    if (!panel.targets?.length) problems.push(`${name}: no targets`);
    for (const t of panel.targets ?? []) {
      const where = `${name} target ${t.refId ?? '?'}`;
      if (typeof t.expr !== 'string' || t.expr.trim() === '') problems.push(`${where}: no expression`);
      else check(where, t.expr, true);
    }
  }
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const expr = variableExpression(v.query);
    if (expr === undefined) problems.push(`variable $${v.name}: no query`);
    // The job variable lists jobs, so it cannot filter by them.
    else check(`variable $${v.name}`, expr, false);
  }
  return problems;
}

describe('promql metric selectors', () => {
  const names = (expr: string): string[] => metricSelectors(expr).map((s) => s.name);

  it('finds the metric names, skipping functions, keywords, labels, numbers, durations, strings and variables', () => {
    assert.deepEqual(
      names(
        'histogram_quantile(0.99, sum by (le, kind) (rate(tsim_fanout_latency_seconds_bucket{job=~"$job", instance=~"${instance}"}[$__rate_interval])))',
      ),
      ['tsim_fanout_latency_seconds_bucket'],
    );
    assert.deepEqual(names('sum without (instance) (a_total offset 5m) / on (job) group_left (kind) max(b{x="sum by (c)"}[1h30m:1m]) > bool 1e-3'), [
      'a_total',
      'b',
    ]);
    assert.deepEqual(names('sum(rate(x[5m])) by (le) or vector(0) and on() count_values("v", y) unless topk(3, z)'), ['x', 'y', 'z']);
    assert.deepEqual(names('label_replace(m, "dst", "$1", "src", "(.*)") * 0x1F + inf - nan # a comment naming not_a_metric'), ['m']);
    assert.deepEqual(metricSelectors('m {a="}"} + n'), [
      { name: 'm', matchers: 'a="}"' },
      { name: 'n', matchers: undefined },
    ]);
  });

  it('throws on what it cannot read instead of passing it', () => {
    for (const bad of [
      'sum(rate(x[5m])',
      'sum(x))',
      'x{a="b}',
      'x{a="b"',
      '{job="tsim"}',
      'x{a="b"}{c="d"}',
      '{__name__="x"}',
      'x[5m',
      'x & y',
      'sum by x',
      '$',
    ]) {
      assert.throws(() => metricSelectors(bad), PromqlError, bad);
    }
  });
});

describe('the Grafana dashboard (deploy/grafana/tsim-dashboard.json)', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  let tsim: Embedded;
  /** Series on the embedded server's page. */
  let scraped: Set<string>;
  /** Those and the documented ones. */
  let exported: Set<string>;

  before(async () => {
    // Embedded mode registers every role's metrics in one process, so its page is the union of
    // what the comet, logic and job processes export; it is scraped from a real server rather
    // than read from the sources, so a metric registered under another name is caught.
    tsim = await startEmbedded(
      buildConfig({ tcp: { bind: ['127.0.0.1:0'] }, websocket: { bind: ['127.0.0.1:0'] }, httpServer: { addr: '127.0.0.1:0' } }),
      silentLogger,
    );
    const res = await fetch(`http://127.0.0.1:${tsim.addresses().http.port}/metrics`);
    assert.equal(res.status, 200);
    scraped = seriesOfPage(await res.text());
    exported = new Set(scraped);
    // A metric only a distributed process registers (none today) would be missing from that
    // page; starting each distributed role needs Redis and NATS, so for those the names in the
    // documented metrics reference count too (every metric tsim exports is to be listed there).
    for (const n of seriesOfDocs(readFileSync(join(packageRoot(), 'docs', 'operations.md'), 'utf8'))) exported.add(n);
  });

  after(async () => {
    await tsim.stop();
  });

  it('imports into Grafana 10/11 anywhere: a Prometheus datasource variable, job and instance variables', () => {
    assert.ok(
      dashboard.schemaVersion !== undefined && dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41,
      `schemaVersion ${dashboard.schemaVersion}`,
    );
    assert.equal(typeof dashboard.uid, 'string');
    const vars = dashboard.templating?.list ?? [];
    const ds = vars.find((v) => v.name === 'DS_PROMETHEUS');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    for (const name of ['job', 'instance']) {
      const v = vars.find((x) => x.name === name);
      assert.equal(v?.type, 'query', `variable $${name}`);
      assert.deepEqual(v?.datasource, DATASOURCE, `variable $${name} datasource`);
    }
    const ids = new Set<number>();
    for (const { panel } of allPanels(dashboard)) {
      assert.deepEqual(panel.datasource, DATASOURCE, `panel "${panel.title}" datasource`);
      for (const t of panel.targets ?? []) assert.deepEqual(t.datasource, DATASOURCE, `panel "${panel.title}" target ${t.refId} datasource`);
      assert.ok(panel.id !== undefined && !ids.has(panel.id), `panel "${panel.title}" id ${panel.id} is unique`);
      ids.add(panel.id);
      const g = panel.gridPos;
      assert.ok(g && g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0, `panel "${panel.title}" gridPos`);
    }
  });

  it('queries only metrics tsim exports, each filtered by $job and $instance', (t) => {
    assert.ok(scraped.has('tsim_comet_connections') && scraped.has('process_cpu_seconds_total'), 'the scrape read');
    assert.deepEqual(queryProblems(dashboard, exported), []);
    const docsOnly = new Set<string>();
    for (const { panel } of allPanels(dashboard)) {
      for (const target of panel.targets ?? []) {
        for (const s of metricSelectors(target.expr as string)) if (!scraped.has(s.name) && !PROMETHEUS_SERIES.has(s.name)) docsOnly.add(s.name);
      }
    }
    if (docsOnly.size > 0) t.diagnostic(`queried, documented, not on the embedded page: ${[...docsOnly].join(', ')}`);
  });

  it('would name the panel and metric of a typo, a missing expression, or no panels at all', () => {
    const broken = structuredClone(dashboard);
    const { panel } = allPanels(broken).find(({ panel: p }) => p.title === 'Connections per comet')!;
    const [a, b] = panel.targets!;
    a.expr = (a.expr as string).replace('tsim_comet_connections', 'tsim_comet_conections');
    delete b.expr;
    // Only this panel's problems: the dashboard as committed is checked by the test above.
    const problems = (): string[] => queryProblems(broken, exported).filter((p) => p.startsWith('panel "Connections per comet"'));
    assert.deepEqual(problems(), [
      'panel "Connections per comet" (row Comet) target A: metric tsim_comet_conections is not exported by tsim',
      'panel "Connections per comet" (row Comet) target B: no expression',
    ]);
    a.expr = 'histogram_quantile(0.9, rate(tsim_fanout_latency_seconds{job=~"$job", instance=~"$instance"}[5m]))';
    b.expr = 'sum(tsim_comet_rooms{job=~"$job"})';
    assert.deepEqual(problems(), [
      'panel "Connections per comet" (row Comet) target A: metric tsim_fanout_latency_seconds is not exported by tsim (a histogram: query tsim_fanout_latency_seconds_bucket, _sum or _count)',
      'panel "Connections per comet" (row Comet) target B: tsim_comet_rooms lacks instance=~"$instance"',
    ]);
    assert.deepEqual(queryProblems({ ...dashboard, panels: [] }, exported), ['the dashboard has no panels']);
  });
});
