// Bearer API keys on logic's push and admin endpoints (config `api`). goim's API has no
// authentication at all; tsim keeps it open only where nothing but this machine can reach
// it: an embedded server bound to loopback (`api.auth = "auto"`).
//
// Protection is decided by the route that matched, not by the request path, so encoded or
// oddly spelled paths cannot slip past it. Keys are compared as SHA-256 digests with
// timingSafeEqual, against every configured key, so timing reveals neither a key nor
// which one matched.
//
// Without keys, a browser on this machine is the way in: any page can send a "simple"
// cross-site POST to 127.0.0.1, and a page whose host name is re-pointed at 127.0.0.1 (DNS
// rebinding) can even read the answers. So a keyless API refuses requests from another
// origin and requests for a host name it does not know (docs/security.md#without-keys).
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Limit, type LimitLog } from '../../comet/limit-log.js';
import { parseListen } from '../../config/listen.js';
import { ConfigError } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { configText, isLoopbackHost } from '../auth/config-values.js';
import { envelope, JSON_TYPE } from './envelope.js';

/**
 * Routes that need a key: pushing, and reading who is online or which comets exist.
 * /goim/nodes/weighted stays open (clients call it to find comets), as do the demo files.
 */
export const PROTECTED_ROUTES: readonly string[] = [
  '/goim/push/keys',
  '/goim/push/mids',
  '/goim/push/room',
  '/goim/push/all',
  '/goim/online/top',
  '/goim/online/room',
  '/goim/online/total',
  '/goim/nodes/instances',
];
/** Guarded only with `api.protectMetrics`: scrapers rarely send keys; protect it at the network level. */
const METRICS_ROUTE = '/metrics';

export const UNAUTHORIZED_CODE = -401;
const UNAUTHORIZED_BODY = envelope(UNAUTHORIZED_CODE, 'missing or invalid API key');
export const FORBIDDEN_CODE = -403;
/** Short keys can be guessed; 16 characters of a random key is ~96 bits. */
const MIN_KEY_LENGTH = 16;
/** RFC 6750 b64token: what fits in `Authorization: Bearer <key>`. */
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER_HEADER = /^Bearer +([^\s]+) *$/i;

/** Whether `httpAddr` only accepts connections from this machine. */
function loopbackOnly(httpAddr: string): boolean {
  const { host } = parseListen(httpAddr);
  return host !== undefined && isLoopbackHost(host);
}

/**
 * Whether the API needs a key. `auto`: yes when keys are configured (they are meant to be
 * used), and otherwise unless this is an embedded server bound to loopback.
 */
export function apiAuthRequired(mode: Config['api']['auth'], httpAddr: string, embedded: boolean, keyCount = 0): boolean {
  if (mode === 'on') return true;
  if (mode === 'off') return false;
  return keyCount > 0 || !embedded || !loopbackOnly(httpAddr);
}

/** The start-up error when keys are required and none is configured. */
function noKeysError(mode: Config['api']['auth'], httpAddr: string, embedded: boolean): Error {
  if (mode === 'on') return new ConfigError('api.auth is on but api.keys is empty');
  const why = embedded ? `the HTTP API listens beyond loopback (httpServer.addr "${httpAddr}")` : 'logic runs distributed';
  const fixes = embedded ? 'set api.keys, bind httpServer.addr to 127.0.0.1, or set api.auth = "off"' : 'set api.keys, or set api.auth = "off" behind a trusted network';
  return new ConfigError(`api.auth is on but api.keys is empty: api.auth = "auto" turns it on because ${why}; ${fixes}`);
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class ApiKeys {
  private readonly digests: Buffer[];

  /** Throws (start-up) on an empty list or a key too short or not usable as a bearer token. */
  constructor(keys: readonly string[]) {
    if (keys.length === 0) throw new ConfigError('api.auth is on but api.keys is empty');
    this.digests = keys.map((value, i) => {
      const name = `api.keys[${i}]`;
      // A key file usually ends with a newline that is not part of the key.
      const key = value.startsWith('@') ? configText(value, name).replace(/\r?\n$/, '') : value;
      if (key.length < MIN_KEY_LENGTH) throw new ConfigError(`${name}: must be at least ${MIN_KEY_LENGTH} characters`);
      if (!BEARER_TOKEN.test(key)) throw new ConfigError(`${name}: must be a bearer token (letters, digits and - . _ ~ + / only)`);
      return digest(key);
    });
  }

  /** Whether an Authorization header value carries one of the keys. */
  accepts(authorization: string | undefined): boolean {
    const m = authorization === undefined ? null : BEARER_HEADER.exec(authorization);
    if (m === null) return false;
    const presented = digest(m[1]);
    let match = false;
    for (const d of this.digests) match = timingSafeEqual(d, presented) || match;
    return match;
  }
}

/** Counters for metrics. */
export interface ApiAuthStats {
  /** Whether keys are required at all. */
  enabled: boolean;
  /** Requests refused with 401. */
  rejected: number;
}

export interface ApiGuardOptions {
  config: Config;
  /** Embedded wiring (one process); distributed logic must pass false. */
  embedded: boolean;
  log: Logger;
  /** Counts and logs keyless requests refused for their Origin or Host (limit http_origin). */
  limits?: LimitLog;
}

/** A Host header's name, lower case, without port, brackets or a trailing dot; undefined if unparsable. */
function hostName(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Why a keyless request must be refused, or undefined when it may pass. Host: an IP address
 * (DNS rebinding needs a name the attacker controls), a loopback name, or one of
 * httpServer.allowedHosts. Origin (sent by browsers, not by curl or servers): the API's own
 * (the demo page it serves) or one of httpServer.allowedOrigins; `Sec-Fetch-Site:
 * cross-site` covers requests a browser sends without an Origin.
 */
export function crossSiteRefusal(
  headers: { host?: string; origin?: string; 'sec-fetch-site'?: string | string[] },
  allowedHosts: ReadonlySet<string>,
  allowedOrigins: ReadonlySet<string>,
): string | undefined {
  const host = headers.host;
  if (host !== undefined) {
    const name = hostName(host);
    const known = name !== undefined && (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || allowedHosts.has(name));
    if (!known) return `Host ${JSON.stringify(host)} is not a loopback name or an IP address: add it to httpServer.allowedHosts, or use api.keys`;
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    let own = false;
    let normalized = origin;
    try {
      const o = new URL(origin);
      normalized = o.origin;
      own = host !== undefined && new URL(`${o.protocol}//${host}`).host === o.host;
    } catch {
      // "null" (sandboxed pages, files) and garbage: not this API's origin.
    }
    if (!own && !allowedOrigins.has(normalized)) {
      return `cross-site request from origin ${JSON.stringify(origin)} refused: add it to httpServer.allowedOrigins, or use api.keys`;
    }
  } else if (headers['sec-fetch-site'] === 'cross-site') {
    return 'cross-site request refused (Sec-Fetch-Site: cross-site): use api.keys';
  }
  return undefined;
}

/** Normalized httpServer.allowedOrigins; throws on a value that is not an origin URL. */
function originSet(list: readonly string[]): Set<string> {
  return new Set(
    list.map((o, i) => {
      let u: URL;
      try {
        u = new URL(o);
      } catch {
        throw new ConfigError(`httpServer.allowedOrigins[${i}]: not a URL (expected e.g. "https://admin.example.com")`);
      }
      return u.origin;
    }),
  );
}

/** Adds the key check to `app` when required; returns its live counters. Throws on a bad `api` config. */
export function guardApi(app: FastifyInstance, opts: ApiGuardOptions): ApiAuthStats {
  const { api, httpServer } = opts.config;
  const stats: ApiAuthStats = { enabled: apiAuthRequired(api.auth, httpServer.addr, opts.embedded, api.keys.length), rejected: 0 };
  const guarded = new Set(PROTECTED_ROUTES);
  if (api.protectMetrics) guarded.add(METRICS_ROUTE);
  if (!stats.enabled) {
    if (!loopbackOnly(httpServer.addr)) {
      opts.log.warn(`logic http: api.auth is off and the API listens on ${httpServer.addr}: whoever reaches it can push`);
    }
    const hosts = new Set(httpServer.allowedHosts.map((h) => hostName(h) ?? h.toLowerCase()));
    const origins = originSet(httpServer.allowedOrigins);
    app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done) => {
      const route = req.routeOptions.url;
      const why = route === undefined || !guarded.has(route) ? undefined : crossSiteRefusal(req.headers, hosts, origins);
      if (why === undefined) return done();
      opts.limits?.hit(Limit.HttpOrigin, { ip: req.ip, route, host: req.headers.host, origin: req.headers.origin });
      void reply.code(403).type(JSON_TYPE).send(envelope(FORBIDDEN_CODE, why));
    });
    return stats;
  }
  if (api.keys.length === 0) throw noKeysError(api.auth, httpServer.addr, opts.embedded);
  const keys = new ApiKeys(api.keys);
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done) => {
    const route = req.routeOptions.url;
    if (route === undefined || !guarded.has(route) || keys.accepts(req.headers.authorization)) return done();
    stats.rejected++;
    opts.log.debug({ ip: req.ip, route, hasHeader: req.headers.authorization !== undefined }, `logic http: ${route} refused: missing or invalid API key`);
    void reply.code(401).header('www-authenticate', 'Bearer').type(JSON_TYPE).send(UNAUTHORIZED_BODY);
  });
  opts.log.info(`logic http: API keys required on ${[...guarded].join(', ')}`);
  return stats;
}
