// Bearer API keys on logic's push and admin endpoints (config `api`). goim's API has no
// authentication at all; tsim keeps it open only where nothing but this machine can reach
// it: an embedded server bound to loopback (`api.auth = "auto"`; the wiring decides, see
// config/logic-settings.ts). A keyless API checks Origin and Host instead (origin-check.ts).
//
// Protection is decided by the route that matched, not by the request path, so encoded or
// oddly spelled paths cannot slip past it. Keys are compared as SHA-256 digests with
// timingSafeEqual, against every configured key, so timing reveals neither a key nor
// which one matched.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Limit, type LimitLog } from '../../comet/limit-log.js';
import type { Logger } from '../../log.js';
import { envelope, JSON_TYPE } from './envelope.js';
import { INBOX_ROUTES } from './inbox-routes.js';
import { BEARER_HEADER, KeyDigests } from './key-digests.js';
import { crossSiteRefusal, hostRefusal, hostSet, originSet } from './origin-check.js';

/**
 * Routes that need a key: pushing, and reading who is online or which comets exist.
 * /goim/nodes/weighted stays open (clients call it to find comets), as do the demo files.
 */
const PROTECTED_ROUTES: readonly string[] = [
  '/goim/push/keys',
  '/goim/push/mids',
  '/goim/push/room',
  '/goim/push/all',
  '/goim/online/top',
  '/goim/online/room',
  '/goim/online/total',
  '/goim/nodes/instances',
  // A user's durable inbox (docs/http-api.md#inbox): private, always behind the keys.
  ...INBOX_ROUTES,
];
/** The history API (docs/http-api.md#history): guarded unless `api.publicHistory`. */
const HISTORY_ROUTES: readonly string[] = ['/tsim/history/room', '/tsim/history/progress'];
/** Guarded only with `api.protectMetrics`: scrapers rarely send keys; protect it at the network level. */
const METRICS_ROUTE = '/metrics';

const UNAUTHORIZED_CODE = -401;
const UNAUTHORIZED_BODY = envelope(UNAUTHORIZED_CODE, 'missing or invalid API key');
const FORBIDDEN_CODE = -403;

export class ApiKeys {
  private readonly digests: KeyDigests<true>;

  /** `keys`: the key values, already read and checked (config/logic-settings.ts apiKeyValues). */
  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new Error('ApiKeys: no key');
    this.digests = new KeyDigests(keys.map((key) => ({ holder: true as const, key })));
  }

  /** Whether an Authorization header value carries one of the keys. */
  accepts(authorization: string | undefined): boolean {
    const m = authorization === undefined ? null : BEARER_HEADER.exec(authorization);
    return m !== null && this.digests.holder(m[1]) === true;
  }
}

/** Who may call the protected routes (config `api` and `httpServer`), as the wiring decided it. */
export interface ApiAccess {
  /** The keys a request must carry, read and checked, never empty; undefined: no key is required. */
  keys: readonly string[] | undefined;
  /** Guard /metrics as well. */
  protectMetrics: boolean;
  /** Leave the history API open (keyless, any origin). */
  publicHistory?: boolean;
  /** For a keyless API: host names it answers on besides loopback names and IP addresses. */
  allowedHosts: readonly string[];
  /** For a keyless API: origins besides its own whose pages may call it. */
  allowedOrigins: readonly string[];
}

/** Counters for metrics. */
export interface ApiAuthStats {
  /** Whether keys are required at all. */
  enabled: boolean;
  /** Requests refused with 401. */
  rejected: number;
}

export interface ApiGuardOptions {
  access: ApiAccess;
  log: Logger;
  /** Counts and logs keyless requests refused for their Origin or Host (limit http_origin). */
  limits?: LimitLog;
}

/** Adds the key check (or, keyless, the Origin/Host check) to `app`; returns its live counters. Throws on a bad allowedOrigins entry. */
export function guardApi(app: FastifyInstance, opts: ApiGuardOptions): ApiAuthStats {
  const { access } = opts;
  const stats: ApiAuthStats = { enabled: access.keys !== undefined, rejected: 0 };
  const guarded = new Set(PROTECTED_ROUTES);
  if (access.protectMetrics) guarded.add(METRICS_ROUTE);
  if (access.publicHistory !== true) for (const r of HISTORY_ROUTES) guarded.add(r);
  if (access.keys === undefined) {
    const hosts = hostSet(access.allowedHosts);
    const origins = originSet(access.allowedOrigins);
    app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done) => {
      const route = req.routeOptions.url;
      // Host on every route (the demo page and /metrics too), so a DNS-rebinding page reads
      // nothing; Origin on the routes a key would guard.
      const why = route !== undefined && guarded.has(route) ? crossSiteRefusal(req.headers, hosts, origins) : hostRefusal(req.headers.host, hosts);
      if (why === undefined) return done();
      opts.limits?.hit(Limit.HttpOrigin, { ip: req.ip, route, host: req.headers.host, origin: req.headers.origin });
      void reply.code(403).type(JSON_TYPE).send(envelope(FORBIDDEN_CODE, why));
    });
    return stats;
  }
  const keys = new ApiKeys(access.keys);
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done) => {
    const route = req.routeOptions.url;
    if (route === undefined || !guarded.has(route) || keys.accepts(req.headers.authorization)) return done();
    stats.rejected++;
    opts.log.debug(
      { ip: req.ip, route, hasHeader: req.headers.authorization !== undefined },
      `logic http: ${route} refused: missing or invalid API key`,
    );
    void reply.code(401).header('www-authenticate', 'Bearer').type(JSON_TYPE).send(UNAUTHORIZED_BODY);
  });
  opts.log.info(`logic http: API keys required on ${[...guarded].join(', ')}`);
  return stats;
}
