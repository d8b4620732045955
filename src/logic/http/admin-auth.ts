// The operations console's credential (config [admin], docs/security.md#operations-console):
// admin keys, separate from api.keys, as a Bearer token (scripts, `tsim status`) or as the
// password of HTTP Basic (browsers: the page and its files load with no login script). Keys
// are compared as digests against every configured key (key-digests.ts).
//
// Basic credentials are sent by the browser on its own, so a console action (a POST) must
// come from the console's own origin (no cross-site request forgery). A keyless console
// (embedded on loopback) checks Host and Origin as a keyless API does (origin-check.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminAccess, AdminKey } from '../../config/admin-settings.js';
import { envelope, JSON_TYPE } from './envelope.js';
import { BEARER_HEADER, KeyDigests } from './key-digests.js';
import { crossSiteRefusal, hostRefusal, hostSet, originSet, ownOrAllowedOrigin } from './origin-check.js';

const BASIC = /^Basic +([A-Za-z0-9+/=]{1,1024}) *$/i;

/** Who made a console request, for the log of its actions. */
export interface AdminCaller {
  /** The key's holder (admin.keys "name:key", else key#<n>), or "open" on a keyless console. */
  who: string;
  ip: string;
}

/** The key an Authorization header carries: a Bearer token, or a Basic password (any user name). */
function presentedKey(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const bearer = BEARER_HEADER.exec(authorization);
  if (bearer !== null) return bearer[1];
  const basic = BASIC.exec(authorization);
  if (basic === null) return undefined;
  const text = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : text.slice(colon + 1);
}

class AdminKeys {
  private readonly digests: KeyDigests<string>;

  constructor(keys: readonly AdminKey[]) {
    this.digests = new KeyDigests(keys.map((k) => ({ holder: k.who, key: k.key })));
  }

  /** The holder of the key in `authorization`, or undefined. Every key is compared, so timing tells nothing. */
  holder(authorization: string | undefined): string | undefined {
    const key = presentedKey(authorization);
    return key === undefined ? undefined : this.digests.holder(key);
  }
}

/**
 * Why a request that carries credentials the browser adds on its own (Basic) must be refused
 * as cross-site, or undefined: a state-changing request needs the console's own Origin (or,
 * without one, no Sec-Fetch-Site saying another site sent it).
 */
function foreignOrigin(req: FastifyRequest, allowedOrigins: ReadonlySet<string>): string | undefined {
  const { origin, host } = req.headers;
  if (origin !== undefined) {
    // The console's own origin, or one listed in httpServer.allowedOrigins (behind a proxy that rewrites Host).
    if (ownOrAllowedOrigin(origin, host, allowedOrigins)) return undefined;
    return `console actions must come from the console's own origin (got ${JSON.stringify(origin)})`;
  }
  const site = req.headers['sec-fetch-site'];
  return site === 'cross-site' || site === 'same-site'
    ? `console actions must come from the console's own origin (Sec-Fetch-Site: ${site})`
    : undefined;
}

export interface AdminGuardOptions {
  access: Exclude<AdminAccess, { mode: 'disabled' }>;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
}

/** Counters for the console's overview and metrics. */
export interface AdminAuthStats {
  rejected: number;
}

/**
 * The check every console route runs before anything else (an onRequest hook of their own).
 * Answers the refusal itself and resolves undefined, or resolves who is calling.
 */
export function adminGuard(opts: AdminGuardOptions, stats: AdminAuthStats): (req: FastifyRequest, reply: FastifyReply) => AdminCaller | undefined {
  const refuse = (reply: FastifyReply, status: number, message: string, basic = false): undefined => {
    stats.rejected++;
    if (basic) void reply.header('www-authenticate', 'Basic realm="tsim admin", charset="UTF-8"');
    void reply.code(status).type(JSON_TYPE).header('cache-control', 'no-store').send(envelope(-status, message));
    return undefined;
  };
  const mutating = (req: FastifyRequest): boolean => req.method !== 'GET' && req.method !== 'HEAD';
  if (opts.access.mode === 'open') {
    const hosts = hostSet(opts.allowedHosts);
    const origins = originSet(opts.allowedOrigins);
    return (req, reply) => {
      const why = mutating(req) ? crossSiteRefusal(req.headers, hosts, origins) : hostRefusal(req.headers.host, hosts);
      return why === undefined ? { who: 'open', ip: req.ip } : refuse(reply, 403, why);
    };
  }
  const keys = new AdminKeys(opts.access.keys);
  const allowed = originSet(opts.allowedOrigins);
  return (req, reply) => {
    const authorization = req.headers.authorization;
    const who = keys.holder(authorization);
    if (who === undefined) return refuse(reply, 401, 'missing or invalid admin key', true);
    if (mutating(req) && !BEARER_HEADER.test(authorization ?? '')) {
      const why = foreignOrigin(req, allowed);
      if (why !== undefined) return refuse(reply, 403, why);
    }
    return { who, ip: req.ip };
  };
}
