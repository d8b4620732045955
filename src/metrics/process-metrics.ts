// Per-process metrics: prom-client's defaults (CPU, memory, heap, GC, handles, file
// descriptors) plus tsim's event-loop lag and limit hits.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, type Registry } from 'prom-client';
import { lazyCounter, lazyGauge } from './lazy-metrics.js';
import type { LimitHits } from './limit-hits.js';

export interface ProcessMetrics {
  /** Stops the event-loop sampler. */
  close(): void;
}

/**
 * Event-loop delay sampling resolution: fine enough for lag that matters (tens of ms: any
 * block this long is seen), cheap. Each sample is a timer that wakes an idle process: at 10 ms,
 * 0.6% of a core per process on a 2-vCPU VM, idle.
 */
const RESOLUTION_MS = 20;
/** prom-client's own nodejs_eventloop_lag_* sampler: once a second (its default, 10 ms, costs as much as ours again). */
const DEFAULT_METRICS_LAG_RESOLUTION_MS = 1000;

export function registerProcessMetrics(registry: Registry, limits: LimitHits): ProcessMetrics {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: DEFAULT_METRICS_LAG_RESOLUTION_MS });
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  delay.enable();
  lazyGauge(registry, {
    name: 'tsim_event_loop_lag_seconds',
    help: `Event-loop delay since the previous scrape (sampled every ${RESOLUTION_MS} ms), by quantile; 1 is the maximum.`,
    label: 'quantile',
    read: () => {
      // An idle interval has no samples (NaN percentiles): report 0 lag.
      const q = (p: number): number => (delay.count > 0 ? delay.percentile(p) / 1e9 : 0);
      const out = { '0.5': q(50), '0.9': q(90), '0.99': q(99), '1': delay.count > 0 ? delay.max / 1e9 : 0 };
      delay.reset();
      return out;
    },
  });
  lazyCounter(registry, {
    name: 'tsim_limit_hits_total',
    help: 'Requests, connections or messages refused because a configured limit was reached, by limit.',
    label: 'limit',
    read: () => limits.snapshot(),
  });
  return { close: () => delay.disable() };
}
