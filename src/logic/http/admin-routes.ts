// The operations console (docs/operations.md#operations-console): the page at /admin with its
// files, and its JSON API under /admin/api/ (docs/http-api.md#operations-console-api), all
// behind the admin credential (admin-auth.ts) in a scope of their own. Actions go through the
// same Logic calls as the push API and are logged at info with who made them.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AdminAccess } from '../../config/admin-settings.js';
import type { Logger } from '../../log.js';
import { CONNECTION_INFO_MAX, type CometAdminDialer, type ConnectionInfo } from '../../ports/comet-admin.js';
import { parseGoQuery } from '../../protocol/go/go-url.js';
import { UnknownNodeError, type ClusterView } from '../admin/cluster-view.js';
import { NoHistoryError } from '../history-reader.js';
import { roomTypeOf } from '../../protocol/room-key.js';
import { InboxUnavailableError } from '../inbox.js';
import { PushTooLargeError, type Logic } from '../logic.js';
import { adminGuard, type AdminAuthStats, type AdminCaller } from './admin-auth.js';
import { envelope, JSON_TYPE } from './envelope.js';
import { reservedOp } from './routes.js';
import { StaticFiles } from './static-files.js';

const MID = /^-?[0-9]{1,19}$/;
const INT32 = /^-?[0-9]{1,10}$/;

/** The `limit` query parameter: an integer from 1 to `max` (at most three digits), else a ParamError. */
function limitParam(q: Map<string, string[]>, fallback: number, max: number): number {
  const v = q.get('limit')?.[0] ?? String(fallback);
  const limit = /^[0-9]{1,3}$/.test(v) ? Number(v) : 0;
  if (limit < 1 || limit > max) throw new ParamError(`limit must be an integer from 1 to ${max}`);
  return limit;
}
/**
 * Longest connection key looked up, in bytes. Clients choose their keys (goim's token, JWT and
 * webhook claims): any key an auth body can carry (protocol.maxBody, 4096 at most by default)
 * must be reachable, or a client could pick one the console cannot disconnect.
 */
const KEY_MAX_BYTES = 16_384;
const NODE = /^(comet|logic|job)\/[\x21-\x7e]{1,128}$/;
const ROOMS_MAX = 100;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

class ParamError extends Error {}

/**
 * The page and its files: never framed by another page (a framed console would disconnect and
 * push on a click made on someone else's site), scripts and styles only from itself.
 */
const PAGE_HEADERS = {
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export interface AdminRoutesOptions {
  access: Exclude<AdminAccess, { mode: 'disabled' }>;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  logic: Logic;
  view: ClusterView;
  /** The console's line to a comet by server id (lookups' details, disconnects). */
  comets: CometAdminDialer;
  /** Where the page's files are (package-root.ts adminRoots). */
  roots: readonly string[];
  log: Logger;
  stats: AdminAuthStats;
}

function send(reply: FastifyReply, status: number, code: number, message: string, data?: unknown): FastifyReply {
  return reply
    .code(status)
    .type(JSON_TYPE)
    .header('cache-control', 'no-store')
    .send(envelope(code, message, data));
}

function query(req: FastifyRequest): Map<string, string[]> {
  const q = req.url.indexOf('?');
  return parseGoQuery(q < 0 ? '' : req.url.slice(q + 1));
}

/** A user (mid, an int64) or a connection key from the query: exactly one of them. */
function target(q: Map<string, string[]>): { mid: bigint } | { key: string } {
  const mid = q.get('mid')?.[0];
  const key = q.get('key')?.[0];
  if ((mid === undefined) === (key === undefined)) throw new ParamError('give either mid or key');
  if (key !== undefined) {
    if (key === '' || Buffer.byteLength(key) > KEY_MAX_BYTES) throw new ParamError(`key must be 1 to ${KEY_MAX_BYTES} bytes`);
    return { key };
  }
  const n = MID.test(mid!) ? BigInt(mid!) : undefined;
  if (n === undefined || n < INT64_MIN || n > INT64_MAX) throw new ParamError('mid must be a decimal int64');
  return { mid: n };
}

const callerOf = new WeakMap<FastifyRequest, AdminCaller>();

/** A room key as comets hold them: "type://id", printable, up to 256 bytes. */
const ROOM_KEY = /^[A-Za-z0-9_.-]{0,64}:\/\/[^\x00-\x1f\x7f]{1,245}$/;
/** Records of a room's recent history shown, and bytes of each body. */
const HISTORY_RECORDS = 20;
const HISTORY_BODY_CHARS = 200;

/** The room's last records (its type keeps history), or why there are none. */
async function recentHistory(logic: Logic, key: string): Promise<object> {
  const type = roomTypeOf(key);
  const id = key.slice(type.length + 3);
  try {
    const head = await logic.historyPage(type, id, 0, { limit: 1, maxBytes: 1 });
    const since = Math.max(0, head.last - HISTORY_RECORDS);
    const page = head.last === 0 ? head : await logic.historyPage(type, id, since, { limit: HISTORY_RECORDS, maxBytes: HISTORY_RECORDS * 1024 });
    return {
      epoch: page.epoch,
      first: page.first,
      last: page.last,
      records: page.records.map((r) => ({
        offset: r.offset,
        op: r.op,
        time: r.time,
        mid: String(r.mid),
        body: Buffer.from(r.body).toString('utf8').slice(0, HISTORY_BODY_CHARS),
      })),
    };
  } catch (err) {
    if (err instanceof NoHistoryError) return { unavailable: err.message };
    return { unavailable: `reading the history failed: ${(err as Error).message}` };
  }
}

/** Registers the console's routes in a scope whose every request passes the admin guard first. */
export function registerAdminRoutes(app: FastifyInstance, opts: AdminRoutesOptions): void {
  const guard = adminGuard(opts, opts.stats);
  const files = new StaticFiles(opts.roots);
  const { logic, log } = opts;
  const audit = (req: FastifyRequest, action: string, detail: Record<string, unknown>): void => {
    const caller = callerOf.get(req);
    log.info({ admin: caller?.who, ip: caller?.ip, action, ...detail }, `admin: ${caller?.who ?? '?'} from ${caller?.ip ?? '?'}: ${action}`);
  };

  void app.register((scope, _o, done) => {
    scope.addHook('onRequest', (req, reply, next) => {
      const caller = guard(req, reply);
      if (caller === undefined) return; // answered
      callerOf.set(req, caller);
      next();
    });
    // Parameter errors are 400s with their reason; anything else is the server's.
    scope.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
      if (err instanceof ParamError) return send(reply, 400, -400, err.message);
      if (err instanceof UnknownNodeError) return send(reply, 404, -404, err.message);
      if (err instanceof PushTooLargeError) return send(reply, 413, -413, err.message);
      if (err instanceof InboxUnavailableError) return send(reply, 503, -503, err.message);
      if (err.statusCode !== undefined && err.statusCode < 500) return send(reply, err.statusCode, -err.statusCode, err.message);
      log.error({ err, url: req.url }, `admin: ${req.method} ${req.url} failed: ${err.message}`);
      return send(reply, 500, -500, err.message);
    });

    const serveFile = async (name: string, reply: FastifyReply): Promise<FastifyReply> => {
      const file = await files.find(name);
      if (file === undefined) return reply.code(404).type('text/plain').send('404 page not found');
      return reply.code(200).type(file.contentType).header('cache-control', 'no-cache').headers(PAGE_HEADERS).send(file.body);
    };
    scope.get('/admin', (_req, reply) => serveFile('', reply));
    scope.get<{ Params: { name: string } }>('/admin/:name', (req, reply) => serveFile(req.params.name, reply));

    scope.get('/admin/api/overview', async (req, reply) => {
      const node = query(req).get('node')?.[0];
      if (node !== undefined && !NODE.test(node)) throw new ParamError('node must be "<role>/<id>"');
      return send(reply, 200, 0, '', await opts.view.overview(node));
    });

    scope.get('/admin/api/rooms', (req, reply) => {
      const limit = limitParam(query(req), 20, ROOMS_MAX);
      return send(reply, 200, 0, '', { byMembers: logic.roomsTop(limit), byRate: opts.view.busiestRooms(limit) });
    });

    scope.get('/admin/api/room', async (req, reply) => {
      const q = query(req);
      const room = q.get('room')?.[0] ?? '';
      if (!ROOM_KEY.test(room) || Buffer.byteLength(room) > 256) throw new ParamError('room must be a room key "type://id" of 1 to 256 bytes');
      const limit = limitParam(q, 50, CONNECTION_INFO_MAX);
      // Every comet logic knows, at once: each answers its own members, bounded by the deadline of its calls.
      const comets = await Promise.all(
        logic.comets().map(async ({ hostname }) => {
          const comet = opts.comets(hostname);
          if (comet === undefined) return { comet: hostname, total: 0, connections: [] as ConnectionInfo[], error: 'not reachable from this logic' };
          try {
            return { comet: hostname, ...(await comet.roomMembers(room, limit)) };
          } catch (err) {
            return { comet: hostname, total: 0, connections: [] as ConnectionInfo[], error: (err as Error).message };
          }
        }),
      );
      const members = comets.flatMap((c) => c.connections).slice(0, limit);
      const total = comets.reduce((n, c) => n + c.total, 0);
      // Who is in a room, with their addresses, is personal data: who looked is kept.
      audit(req, 'room', { room, shown: members.length });
      return send(reply, 200, 0, '', {
        room,
        total,
        comets: comets.map((c) => ({ comet: c.comet, total: c.total, ...('error' in c ? { error: c.error } : {}) })),
        members,
        history: await recentHistory(logic, room),
      });
    });

    scope.get('/admin/api/lookup', async (req, reply) => {
      const who = target(query(req));
      const routes = await logic.routesOf(who, CONNECTION_INFO_MAX);
      const byServer = new Map<string, string[]>();
      for (const r of routes) byServer.set(r.server, [...(byServer.get(r.server) ?? []), r.key]);
      const connections: (ConnectionInfo | { key: string; comet: string; details: string })[] = [];
      // Every comet at once: a lookup waits for the slowest, not for the sum (each call is bounded by rpcClient.timeout).
      const answers = await Promise.all(
        [...byServer].map(async ([server, keys]) => {
          const comet = opts.comets(server);
          if (comet === undefined) return { server, keys, found: undefined, why: 'comet not reachable from this logic' };
          try {
            return { server, keys, found: await comet.connectionInfo(keys), why: '' };
          } catch (err) {
            return { server, keys, found: undefined, why: `comet did not answer: ${(err as Error).message}` };
          }
        }),
      );
      for (const { server, keys, found, why } of answers) {
        for (const key of keys) {
          const info = found?.find((c) => c.key === key);
          if (info !== undefined) connections.push(info);
          // Routing without a connection: the comet is unreachable from here, or the routing outlived its connection (until its TTL).
          else
            connections.push({
              key,
              comet: server,
              details: found === undefined ? why : 'not connected (stale routing)',
            });
        }
      }
      audit(req, 'lookup', { ...('mid' in who ? { mid: String(who.mid) } : { key: who.key }), found: connections.length });
      return send(reply, 200, 0, '', { connections });
    });

    scope.post('/admin/api/disconnect', async (req, reply) => {
      const who = target(query(req));
      if (!('key' in who)) throw new ParamError('disconnect takes a key');
      const [route] = await logic.routesOf(who, 1);
      const comet = route === undefined ? undefined : opts.comets(route.server);
      let closed = false;
      let failure: string | undefined;
      try {
        closed = comet === undefined ? false : await comet.disconnect(who.key);
      } catch (err) {
        failure = (err as Error).message;
      }
      audit(req, 'disconnect', { key: who.key, comet: route?.server, closed, ...(failure !== undefined ? { error: failure } : {}) });
      if (route === undefined) return send(reply, 404, -404, `no connection with key ${who.key}`);
      if (comet === undefined) return send(reply, 502, -502, `comet ${route.server} is not among the comets this logic knows`);
      if (failure !== undefined) return send(reply, 502, -502, `comet ${route.server} did not answer: ${failure}`);
      return send(reply, closed ? 200 : 404, closed ? 0 : -404, closed ? '' : `comet ${route.server} has no connection with key ${who.key}`, {
        closed,
      });
    });

    scope.post('/admin/api/push', async (req, reply) => {
      const q = query(req);
      const who = target(q);
      const opText = q.get('operation')?.[0] ?? '';
      const op = INT32.test(opText) ? Number(opText) : NaN;
      if (!(op >= -(2 ** 31) && op < 2 ** 31)) throw new ParamError('operation must be an int32');
      const reserved = reservedOp(op);
      if (reserved !== undefined) throw new ParamError(reserved);
      const body = req.body instanceof Uint8Array ? req.body : new Uint8Array(0);
      const what = { ...('key' in who ? { key: who.key } : { mid: String(who.mid) }), operation: op, bytes: body.length };
      try {
        // The push API's own calls: the same checks, counts and queue.
        if ('key' in who) await logic.pushKeys(op, [who.key], body);
        else await logic.pushMids(op, [who.mid], body);
      } catch (err) {
        audit(req, 'push', { ...what, error: (err as Error).message });
        throw err;
      }
      audit(req, 'push', what);
      return send(reply, 200, 0, '');
    });
    done();
  });
}
