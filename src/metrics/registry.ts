// One metrics registry per process (never prom-client's global one, so several can live
// in one process, as in tests): the process metrics plus those of each role present.
import { Registry } from 'prom-client';
import { registerCometMetrics, type CometMetricsSource } from './comet-metrics.js';
import { registerJobMetrics, registerQueueMetrics, type JobMetricsSource, type QueueMetricsSource } from './job-metrics.js';
import { LimitHits } from './limit-hits.js';
import { registerLogicMetrics, type LogicMetricsSource } from './logic-metrics.js';
import { registerProcessMetrics } from './process-metrics.js';
import type { MetricsSource } from './serve.js';

export interface MetricsParts {
  comet?: CometMetricsSource;
  logic?: LogicMetricsSource;
  job?: JobMetricsSource;
  /** The queue the job consumes (memory or NATS). */
  queue?: QueueMetricsSource;
  /** Shared with the code enforcing limits; a new one when absent. */
  limits?: LimitHits;
}

export interface MetricsRegistry extends MetricsSource {
  readonly registry: Registry;
  /** Where limit enforcement counts its refusals (tsim_limit_hits_total). */
  readonly limits: LimitHits;
  /** Stops background sampling (event-loop delay). */
  close(): void;
}

export function createMetricsRegistry(parts: MetricsParts): MetricsRegistry {
  const registry = new Registry();
  const limits = parts.limits ?? new LimitHits();
  const proc = registerProcessMetrics(registry, limits);
  if (parts.comet) registerCometMetrics(registry, parts.comet);
  if (parts.logic) registerLogicMetrics(registry, parts.logic);
  if (parts.job) registerJobMetrics(registry, parts.job);
  if (parts.queue) registerQueueMetrics(registry, parts.queue);
  return {
    registry,
    limits,
    contentType: registry.contentType,
    metrics: () => registry.metrics(),
    close: () => proc.close(),
  };
}
