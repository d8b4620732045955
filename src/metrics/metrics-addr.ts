// Where a distributed comet or job serves /metrics. Kept apart from serve.ts (node:http,
// the limit log) so that a comet primary, which only computes its workers' addresses, loads
// none of it.
import { parseListen } from '../config/listen.js';
import type { Config } from '../config/schema.js';

/** Default `metrics.addr` of the roles without an HTTP server (logic serves on httpServer.addr). */
export const DEFAULT_METRICS_ADDR = { comet: ':3190', job: ':3128' } as const;

/**
 * The metrics listen address of a distributed comet or job: `metrics.addr`, else the role
 * default; comet worker `worker` (0-based) listens on the port + worker (port 0 stays 0).
 */
export function metricsAddr(config: Config, role: 'comet' | 'job', worker = 0): string {
  const { host, port } = parseListen(config.metrics.addr ?? DEFAULT_METRICS_ADDR[role]);
  const p = port === 0 ? 0 : port + worker;
  if (host === undefined) return `:${p}`;
  return host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`;
}
