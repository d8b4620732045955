// Logic's HTTP server (docs/http-api.md): goim's API on fastify, plus the demo page's files.
// Fastify is configured to behave like goim's gin router: bodies are raw bytes whatever
// their Content-Type, unknown routes answer `404 page not found`, trailing-slash variants
// of API routes redirect, no automatic HEAD routes.
import type { AddressInfo, Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { Limit, LimitLog } from '../../comet/limit-log.js';
import { isFdExhaustion } from '../../comet/listener.js';
import { parseListen } from '../../config/listen.js';
import { watchFds } from '../../fd-probe.js';
import { httpConnectionCap } from '../../file-descriptors.js';
import { applyHttpLimits, requestTimers } from '../../http-limits.js';
import type { Logger } from '../../log.js';
import type { Logic } from '../logic.js';
import type { LimitHits } from '../../metrics/limit-hits.js';
import { sharedRender, type MetricsSource } from '../../metrics/serve.js';
import { guardApi, type ApiAccess, type ApiAuthStats } from './api-keys.js';
import { Code, envelope, JSON_TYPE, SNIFFED_TEXT_TYPE } from './envelope.js';
import { registerHistoryRoutes } from './history-routes.js';
import { registerInboxRoutes } from './inbox-routes.js';
import { GOIM_ROUTES, registerGoimRoutes } from './routes.js';
import { StaticFiles } from './static-files.js';
import type { AdminAccess } from '../../config/admin-settings.js';
import { adminRoots } from '../../package-root.js';
import type { CometAdminDialer } from '../../ports/comet-admin.js';
import type { ClusterView } from '../admin/cluster-view.js';
import type { AdminAuthStats } from './admin-auth.js';
import { registerAdminRoutes } from './admin-routes.js';

/** What the HTTP API takes from the configuration (`httpServer`, `api`, `metrics`), resolved by the wiring; durations in ms. */
export interface LogicHttpSettings {
  /** Listen address, goim style: ":3111" = every interface. */
  addr: string;
  /** Largest request body (bytes); bigger ones are answered 413. */
  maxBody: number;
  /** Connections open at once; more are closed at accept. */
  maxConnections: number;
  /** Connections one client address may hold (0: no cap); undefined: a quarter of maxConnections. */
  maxConnectionsPerIp: number | undefined;
  /** Requests one connection may send ahead of their answers. */
  maxPipelined: number;
  /** A request's headers must arrive within this long of its first byte. */
  headersTimeout: number;
  /** A whole request must arrive within this long; also the longest a connection may stay silent. */
  requestTimeout: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeout: number;
  /** Scrapes of /metrics within this long of a render share it. */
  metricsRenderInterval: number;
  /** Who may call the protected routes: keys, or none and the Origin/Host check. */
  api: ApiAccess;
  /** Most body bytes one history API page holds (`api.historyPageBytes`). */
  historyPageBytes: number;
}

export interface LogicHttpServerOptions extends LogicHttpSettings {
  logic: Logic;
  log: Logger;
  /** Folders the demo page is served from, first match wins. */
  webRoots?: string[];
  /** When given, GET /metrics serves it (Prometheus text format). */
  metrics?: MetricsSource;
  /**
   * Counts refusals by limit: bodies over httpServer.maxBody ("http_body_size"), connections
   * over httpServer.maxConnections, requests past its timeouts, keyless requests from another
   * site, and running out of file descriptors.
   */
  limits?: LimitHits;
  /** The operations console (/admin); not served when absent or its access is "disabled". */
  admin?: {
    access: AdminAccess;
    view: ClusterView;
    comets: CometAdminDialer;
  };
}

const NOT_FOUND = '404 page not found';

function notFound(reply: FastifyReply): FastifyReply {
  return reply.code(404).type('text/plain').send(NOT_FOUND);
}

/** Go's html escaping of the redirect link (net/http htmlReplacer). */
function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]!);
}

/** net/http hexEscapeNonASCII on the Location value (Node reads the target as latin1). */
function hexEscapeNonAscii(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) out += ch;
    else if (c <= 0xff) out += '%' + c.toString(16);
    else for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16);
  }
  return out;
}

function decodePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export class LogicHttpServer {
  private readonly app: FastifyInstance;
  private readonly addr: string;
  private readonly log: Logger;
  private readonly apiAuth: ApiAuthStats;
  private readonly adminAuth: AdminAuthStats = { rejected: 0 };
  private readonly hits: LimitHits | undefined;
  private closing: Promise<void> | undefined;
  private releaseFds: (() => void) | undefined;

  constructor(opts: LogicHttpServerOptions) {
    const hs = opts;
    this.addr = hs.addr;
    this.log = opts.log;
    this.hits = opts.limits;
    const maxBody = hs.maxBody;
    const limits = new LimitLog(opts.limits, opts.log, 'logic http');
    // Absolute deadlines (docs/security.md#http-api): Node checks them from a request's first
    // byte (a new connection's arrival, for its first request), however slowly bytes come.
    const timers = requestTimers(hs.headersTimeout, hs.requestTimeout);
    const { headersTimeout, requestTimeout } = timers;
    const app = Fastify({
      logger: false,
      exposeHeadRoutes: false,
      bodyLimit: maxBody,
      // Node's default checks its request timers every 30 s (see requestTimers).
      http: timers,
      requestTimeout,
      // No byte either way for this long: a client that does not read its answer, too.
      connectionTimeout: requestTimeout,
      // A target Go cannot parse gets Go's plain 400.
      frameworkErrors: (_err, _req, reply) => {
        void (reply as FastifyReply).code(400).type(SNIFFED_TEXT_TYPE).send('400 Bad Request');
      },
    });
    this.app = app;
    const server = app.server;
    // Set here: fastify takes 0 for "its default" (72 s).
    server.keepAliveTimeout = hs.keepAliveTimeout;
    // Past it Node closes new sockets at accept; the comet's clients (embedded) and the
    // process's other descriptors keep theirs: at most a quarter of the fd limit, so a small
    // limit is not all taken by API connections (docs/operations.md#file-descriptors).
    const maxConnections = httpConnectionCap(hs.maxConnections);
    server.maxConnections = maxConnections;
    // One address gets a share, so it cannot hold every slot (docs/security.md#http-api).
    const maxConnectionsPerIp = hs.maxConnectionsPerIp ?? Math.max(1, Math.floor(maxConnections / 2));
    applyHttpLimits(server, { maxPipelined: hs.maxPipelined, maxConnectionsPerIp }, limits);
    server.on('drop', (data?: { remoteAddress?: string }) => limits.hit(Limit.HttpConnections, { remote: data?.remoteAddress, maxConnections }));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        limits.hit(Limit.HttpRequestTimeout, { remote: socket.remoteAddress, headersTimeout, requestTimeout });
      }
    });
    // Replaces Node's default for an idle socket (destroy), so it is counted too.
    server.on('timeout', (socket: Socket) => {
      limits.hit(Limit.HttpRequestTimeout, { remote: socket.remoteAddress, idleMs: requestTimeout });
      socket.destroy();
    });
    server.on('error', (err: Error) => {
      if (isFdExhaustion(err)) limits.hit(Limit.FileDescriptors, { code: (err as NodeJS.ErrnoException).code, listener: `http ${hs.addr}` });
      else if (server.listening) this.log.error({ err: err.message }, 'logic http: listener error');
    });

    // An error answered before the request body was read (401 without a key, 413, 403, 404
    // on a POST): close the connection instead of reading and discarding the rest of it, so a
    // client trickling a body holds nothing once answered.
    app.addHook('onSend', (req, reply, payload, done) => {
      if (reply.statusCode >= 400 && !req.raw.complete) void reply.header('connection', 'close');
      done(null, payload);
    });

    // Push bodies are the message bytes whatever the client calls them (curl sends form
    // encoding by default): drop the Content-Type so fastify never parses or refuses one,
    // and take every body as a Buffer.
    app.addHook('onRequest', (req, _reply, done) => {
      delete req.raw.headers['content-type'];
      done();
    });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, payload, done) => done(null, payload));

    // Before any body is read: refuses API calls without a valid key (config `api`).
    this.apiAuth = guardApi(app, { access: opts.api, log: opts.log, limits });

    registerGoimRoutes(app, opts.logic);
    registerHistoryRoutes(app, opts.logic, opts.log, { publicPages: opts.api.publicHistory === true, pageBytes: opts.historyPageBytes });
    registerInboxRoutes(app, opts.logic, opts.log, { pageBytes: opts.historyPageBytes });
    const admin = opts.admin;
    if (admin !== undefined && admin.access.mode !== 'disabled') {
      registerAdminRoutes(app, {
        access: admin.access,
        allowedHosts: opts.api.allowedHosts,
        allowedOrigins: opts.api.allowedOrigins,
        logic: opts.logic,
        view: admin.view,
        comets: admin.comets,
        roots: adminRoots(),
        log: opts.log,
        stats: this.adminAuth,
      });
      opts.log.info(`logic http: operations console on /admin (${admin.access.mode === 'keys' ? 'admin keys required' : 'no admin key: loopback'})`);
    } else if (admin !== undefined && admin.access.mode === 'disabled') {
      opts.log.info(`logic http: operations console off (${admin.access.why}): set admin.keys to serve /admin`);
    }

    // Prometheus scrapes (beyond goim): an exact route, so neither the file route nor the 404 rules see it.
    const metrics = opts.metrics && sharedRender(opts.metrics, opts.metricsRenderInterval);
    if (metrics) {
      app.get('/metrics', async (_req, reply) => {
        const body = await metrics.metrics();
        return reply.code(200).type(metrics.contentType).header('cache-control', 'no-store').send(body);
      });
    }

    const files = new StaticFiles(opts.webRoots ?? []);
    const serveFile = async (name: string, reply: FastifyReply): Promise<FastifyReply> => {
      const file = await files.find(name);
      if (file === undefined) return notFound(reply);
      return reply.code(200).type(file.contentType).header('cache-control', 'no-cache').send(file.body);
    };
    app.get('/', (_req, reply) => serveFile('', reply));
    app.get<{ Params: { name: string } }>('/:name', (req, reply) => serveFile(req.params.name, reply));

    app.setNotFoundHandler((req, reply) => {
      const q = req.url.indexOf('?');
      const path = decodePath(q < 0 ? req.url : req.url.slice(0, q));
      const target = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : undefined;
      if (target !== undefined && GOIM_ROUTES[req.method]?.includes(target)) {
        // gin's RedirectTrailingSlash through net/http's Redirect.
        const location = hexEscapeNonAscii(target + (q < 0 ? '' : req.url.slice(q)));
        reply.header('location', location);
        if (req.method === 'GET') {
          return reply
            .code(301)
            .type('text/html; charset=utf-8')
            .send(`<a href="${htmlEscape(location)}">Moved Permanently</a>.\n\n`);
        }
        return reply.code(307).send();
      }
      return notFound(reply);
    });

    app.setErrorHandler((err: FastifyError, req, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
        opts.limits?.hit('http_body_size');
        return reply
          .code(413)
          .type(JSON_TYPE)
          .send(envelope(Code.TooLarge, `request body too large (limit ${maxBody} bytes)`));
      }
      const status = err.statusCode ?? 500;
      if (status >= 400 && status < 500) {
        return reply.code(status).type(SNIFFED_TEXT_TYPE).send(envelope(Code.RequestErr, err.message));
      }
      // goim's recovery middleware answers a failed handler with an empty 500.
      this.log.error({ err, method: req.method, url: req.url }, `logic http: ${req.method} ${req.url} failed: ${err.message}`);
      return reply.code(500).send();
    });
  }

  /** Listens on `httpServer.addr` (":3111" = every interface). */
  async listen(): Promise<void> {
    const { host, port } = parseListen(this.addr);
    try {
      await this.app.listen({ host: host ?? '::', port });
    } catch (err) {
      // A host without IPv6 cannot bind "::"; fall back to every IPv4 interface.
      if (host !== undefined || (err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
      await this.app.listen({ host: '0.0.0.0', port });
    }
    const a = this.address();
    this.releaseFds ??= watchFds(this.hits, this.log);
    this.log.info(`logic http: listening on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
  }

  /** Whether API keys are required, and how many requests were refused (for metrics). */
  apiAuthStats(): ApiAuthStats {
    return { ...this.apiAuth };
  }

  /** Console requests refused for a missing or invalid admin key, or their origin. */
  adminAuthStats(): AdminAuthStats {
    return { ...this.adminAuth };
  }

  address(): AddressInfo {
    const a = this.app.server.address();
    if (a === null || typeof a === 'string') throw new Error('logic http: not listening');
    return a;
  }

  /** Stops accepting, closes idle keep-alive connections and waits for requests in flight. */
  close(): Promise<void> {
    this.releaseFds?.();
    this.closing ??= this.app.close();
    return this.closing;
  }
}
