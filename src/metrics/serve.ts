// Serving the Prometheus text format: a handler for an existing HTTP server, and a small
// node:http server of its own for roles without one (distributed comet and job).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Limit, LimitLog } from '../comet/limit-log.js';
import { parseListen } from '../config/listen.js';
import { configSchema, type Config } from '../config/schema.js';
import { applyHttpLimits, requestTimers } from '../http-limits.js';
import { silentLogger, type Logger } from '../log.js';
import type { LimitHits } from './limit-hits.js';

/** What serving needs: a prom-client Registry, or a MetricsRegistry, has both. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

const METRICS_PATH = '/metrics';

/**
 * `source` rendered at most once per `intervalMs`: a scrape within that long of the last
 * render gets its text, and scrapes arriving while a render runs share it, so a flood of
 * scrapes costs one render per interval (docs/operations.md#scraping-metrics). A failed render is
 * not kept.
 */
export function sharedRender(source: MetricsSource, intervalMs: number): MetricsSource {
  let pending: Promise<string> | undefined;
  let text: string | undefined;
  let renderedAt = -Infinity;
  return {
    contentType: source.contentType,
    metrics(): Promise<string> {
      if (pending !== undefined) return pending;
      if (text !== undefined && performance.now() - renderedAt < intervalMs) return Promise.resolve(text);
      pending = source.metrics().then(
        (t) => {
          text = t;
          renderedAt = performance.now();
          pending = undefined;
          return t;
        },
        (err: unknown) => {
          pending = undefined;
          throw err;
        },
      );
      return pending;
    },
  };
}

/** How serveMetrics guards its listener (docs/security.md#metrics). */
export interface MetricsServeOptions {
  /** Connections open at once (metrics.maxConnections); more are closed at accept. */
  maxConnections: number;
  /** Requests one connection may have unanswered (httpServer.maxPipelined). */
  maxPipelined: number;
  /** Milliseconds between renders at most (metrics.renderInterval). */
  renderInterval: number;
  /** httpServer.headersTimeout and requestTimeout, in ms. */
  headersTimeout: number;
  requestTimeout: number;
  /** Where refusals are counted (tsim_limit_hits_total). */
  limits?: LimitHits;
}

/** The MetricsServeOptions `config` asks for. */
export function metricsServeOptions(config: Config, limits?: LimitHits): MetricsServeOptions {
  const { maxPipelined, headersTimeout, requestTimeout } = config.httpServer;
  return {
    maxConnections: config.metrics.maxConnections,
    maxPipelined,
    renderInterval: config.metrics.renderInterval,
    headersTimeout,
    requestTimeout,
    limits,
  };
}

/** Writes the exposition text (500 with the error text when collecting fails). */
async function writeMetrics(source: MetricsSource, res: ServerResponse): Promise<void> {
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

/**
 * Serves GET /metrics on `addr` (goim style, ":3190" = every interface); other paths get 404.
 * `opts` default to the configuration's defaults.
 */
export async function serveMetrics(
  source: MetricsSource,
  addr: string,
  log?: Logger,
  opts: MetricsServeOptions = metricsServeOptions(configSchema.parse({})),
): Promise<MetricsServer> {
  const shared = sharedRender(source, opts.renderInterval);
  const httpOptions = requestTimers(opts.headersTimeout, opts.requestTimeout);
  const { headersTimeout, requestTimeout } = httpOptions;
  const server = createServer(httpOptions, (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== METRICS_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('405 method not allowed');
      return;
    }
    void writeMetrics(shared, res);
  });
  // The listener holds at most this many descriptors (file-descriptors.ts counts them for a
  // comet), and none longer than the HTTP deadlines.
  const limits = new LimitLog(opts.limits, log ?? silentLogger, 'metrics');
  server.maxConnections = opts.maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) =>
    limits.hit(Limit.HttpConnections, { remote: data?.remoteAddress, maxConnections: opts.maxConnections }),
  );
  server.setTimeout(requestTimeout);
  // Replaces Node's answer to a bad or late request (400/408, then close) to count the late ones.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const late = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (late) limits.hit(Limit.HttpRequestTimeout, { remote: socket.remoteAddress, headersTimeout, requestTimeout });
    if (socket.writable)
      socket.write(late ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    socket.destroy();
  });
  applyHttpLimits(server, { maxPipelined: opts.maxPipelined, maxConnectionsPerIp: 0 }, limits);
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
