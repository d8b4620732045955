// Metrics whose values are read from role counters when scraped, never pushed into the
// library on the hot path. Each is a small object implementing what prom-client's Registry
// calls on a metric (name, help, type, aggregator, get, reset), so a role's plain `n++`
// counters and BucketCounts become Prometheus counters, gauges and histograms.
import type { Metric, Registry } from 'prom-client';
import type { BucketCounts } from './bucket-counts.js';

type Labels = Record<string, string | number>;

interface Sample {
  value: number;
  labels: Labels;
  metricName?: string;
}

type MetricType = 'counter' | 'gauge' | 'histogram';

class LazyMetric {
  /** How prom-client's cluster aggregation combines workers: counts add up. */
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly read: () => Sample[],
  ) {}

  async get(): Promise<{ name: string; help: string; type: MetricType; aggregator: string; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.read() };
  }

  /** Values belong to the role objects: nothing to reset here. */
  reset(): void {}
}

function register(registry: Registry, metric: LazyMetric): void {
  registry.registerMetric(metric as unknown as Metric);
}

/** One value, or one value per label value (label values become the label `label`). */
export type Reading = number | Readonly<Record<string, number>>;

export interface ValueSpec {
  name: string;
  help: string;
  /** Required when read() returns a record. */
  label?: string;
  read: () => Reading;
}

function samples(spec: ValueSpec): () => Sample[] {
  return () => {
    const v = spec.read();
    if (typeof v === 'number') return [{ value: v, labels: {} }];
    const label = spec.label;
    if (label === undefined) throw new Error(`metric ${spec.name}: a labelled reading needs spec.label`);
    const out: Sample[] = [];
    for (const key of Object.keys(v)) {
      const n = v[key];
      if (typeof n === 'number' && Number.isFinite(n)) out.push({ value: n, labels: { [label]: key } });
    }
    return out;
  };
}

/** A counter read from a monotonic role counter. */
export function lazyCounter(registry: Registry, spec: ValueSpec): void {
  register(registry, new LazyMetric(spec.name, spec.help, 'counter', samples(spec)));
}

/** A gauge read from a role's current state. */
export function lazyGauge(registry: Registry, spec: ValueSpec): void {
  register(registry, new LazyMetric(spec.name, spec.help, 'gauge', samples(spec)));
}

export interface SamplesSpec {
  name: string;
  help: string;
  /** Every labelled value (for metrics with more than one label). */
  read: () => Array<{ labels: Labels; value: number }>;
}

/** A counter with several labels, read as a list of labelled values. */
export function lazyCounterSamples(registry: Registry, spec: SamplesSpec): void {
  register(registry, new LazyMetric(spec.name, spec.help, 'counter', () => spec.read()));
}

export interface HistogramSpec {
  name: string;
  help: string;
  label?: string;
  read: () => Readonly<BucketCounts> | Readonly<Record<string, Readonly<BucketCounts>>>;
}

function histogramSamples(name: string, b: Readonly<BucketCounts>, labels: Labels, out: Sample[]): void {
  const cum = b.cumulative();
  for (let i = 0; i < b.bounds.length; i++) {
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: b.bounds[i] }, value: cum[i] });
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cum[cum.length - 1] });
  out.push({ metricName: `${name}_sum`, labels, value: b.sum });
  out.push({ metricName: `${name}_count`, labels, value: b.count });
}

function isBuckets(v: unknown): v is Readonly<BucketCounts> {
  return typeof v === 'object' && v !== null && Array.isArray((v as BucketCounts).counts);
}

/** A histogram read from BucketCounts (one, or one per label value). */
export function lazyHistogram(registry: Registry, spec: HistogramSpec): void {
  const read = (): Sample[] => {
    const v = spec.read();
    const out: Sample[] = [];
    if (isBuckets(v)) {
      histogramSamples(spec.name, v, {}, out);
      return out;
    }
    if (spec.label === undefined) throw new Error(`metric ${spec.name}: a labelled reading needs spec.label`);
    for (const key of Object.keys(v)) histogramSamples(spec.name, v[key], { [spec.label]: key }, out);
    return out;
  };
  register(registry, new LazyMetric(spec.name, spec.help, 'histogram', read));
}
