// Serving the Prometheus text format: a handler for an existing HTTP server, and a small
// node:http server of its own for roles without one (distributed comet and job).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListen } from '../config/listen.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';

/** What serving needs: a prom-client Registry, or a MetricsRegistry, has both. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export const METRICS_PATH = '/metrics';

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

/** Writes the exposition text (500 with the error text when collecting fails). */
export async function writeMetrics(source: MetricsSource, res: ServerResponse): Promise<void> {
  let body: string;
  try {
    body = await source.metrics();
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`collecting metrics failed: ${(err as Error).message}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': source.contentType, 'cache-control': 'no-store' });
  res.end(body);
}

export interface MetricsServer {
  address(): AddressInfo;
  close(): Promise<void>;
}

/** Serves GET /metrics on `addr` (goim style, ":3190" = every interface); other paths get 404. */
export async function serveMetrics(source: MetricsSource, addr: string, log?: Logger): Promise<MetricsServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('405 method not allowed');
      return;
    }
    void writeMetrics(source, res);
  });
  const { host, port } = parseListen(addr);
  const listenOn = (h: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: h, port }, () => {
        server.removeListener('error', onError);
        resolve();
      });
    });
  try {
    await listenOn(host ?? '::');
  } catch (err) {
    // A host without IPv6 cannot bind "::"; fall back to every IPv4 interface.
    if (host !== undefined || (err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') {
      throw new Error(`metrics: cannot listen on ${addr}: ${(err as Error).message}`, { cause: err });
    }
    await listenOn('0.0.0.0');
  }
  const bound = server.address() as AddressInfo;
  // A failed accept after this point (e.g. no descriptor left) must not become an uncaught
  // 'error' that ends the process; fd-probe.ts counts descriptor exhaustion.
  server.on('error', (err) => log?.error({ err: err.message, addr }, 'metrics: listener error'));
  log?.info(`metrics: serving ${METRICS_PATH} on ${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`);
  let closing: Promise<void> | undefined;
  return {
    address: () => bound,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
