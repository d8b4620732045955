// What each role puts in its node snapshot (ports/node-stats.ts): a few of the numbers its
// /metrics shows, under the names the console reads (docs/operations.md#node-snapshots).
// Counters are cumulative; the console turns them into rates.
import type { CometMetricsSource } from './comet-metrics.js';
import type { JobMetricsSource, QueueMetricsSource } from './job-metrics.js';
import type { LogicMetricsSource } from './logic-metrics.js';

const sum = (counts: Readonly<Record<string, number>>): number => Object.values(counts).reduce((a, b) => a + b, 0);

export function cometValues(comet: CometMetricsSource): Record<string, number> {
  const s = comet.stats();
  const c = comet.counters();
  return {
    connections: s.connections,
    rooms: s.rooms,
    ips: s.ips,
    sockets: c.sockets,
    delivered: sum(c.pushesDelivered),
    dropped: sum(c.pushesDropped),
    slow_disconnects: c.slowDisconnects,
    auth_failures: c.authFailed,
  };
}

export function logicValues(logic: LogicMetricsSource): Record<string, number> {
  return { pushes_in: sum(logic.pushCounts), comets: logic.comets().length };
}

export function jobValues(job: JobMetricsSource, queue: QueueMetricsSource): Record<string, number> {
  const load = job.load();
  return { queue_lag: queue.queueStats().depth, pending: load.pending, held: load.heldMessages, job_rooms: load.rooms };
}
