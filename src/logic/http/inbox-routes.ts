// The inbox API (docs/http-api.md#inbox): a user's durable inbox paged by seq, the watermarks
// of its devices, and deletion, in goim's envelope, behind the push API's keys.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../log.js';
import type { InboxEntry } from '../../ports/index.js';
import { parseGoQuery } from '../../protocol/go/go-url.js';
import { InboxUnavailableError } from '../inbox.js';
import type { Logic } from '../logic.js';
import { envelope, JSON_TYPE } from './envelope.js';

/** Paths of the inbox API (api-keys.ts guards them like the push API). */
export const INBOX_ROUTES: readonly string[] = ['/tsim/inbox/:mid', '/tsim/inbox/:mid/devices'];

const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 100;
const Codes = { BadRequest: -400, Unavailable: -503 } as const;
/** A decimal integer, digits only: no sign, point, exponent, hex or spaces. */
const DECIMAL = /^[0-9]{1,16}$/;
const MID = /^[0-9]{1,19}$/;
const INT64_MAX = (1n << 63n) - 1n;

class ParamError extends Error {}

function send(reply: FastifyReply, status: number, code: number, message: string, data?: unknown): FastifyReply {
  return reply
    .code(status)
    .type(JSON_TYPE)
    .header('cache-control', 'no-store')
    .send(envelope(code, message, data));
}

/** The path's user: a decimal int64 above 0 (users ≤ 0 are anonymous and have no inbox). */
function midOf(req: FastifyRequest): bigint {
  const v = (req.params as { mid?: string }).mid ?? '';
  const n = MID.test(v) ? BigInt(v) : -1n;
  if (n <= 0n || n > INT64_MAX) throw new ParamError('mid must be a decimal integer from 1 to 2^63 - 1');
  return n;
}

class Query {
  private readonly values: Map<string, string[]>;

  constructor(url: string) {
    const q = url.indexOf('?');
    this.values = parseGoQuery(q < 0 ? '' : url.slice(q + 1));
  }

  /** A decimal integer in [min, max]; `fallback` when absent. An empty value is not a number. */
  int(name: string, min: number, max: number, fallback: number): number {
    const v = this.values.get(name)?.[0];
    if (v === undefined) return fallback;
    const n = DECIMAL.test(v) ? Number(v) : NaN;
    if (!(n >= min && n <= max)) throw new ParamError(`querystring/${name} must be an integer from ${min} to ${max}`);
    return n;
  }

  flag(name: string): boolean {
    const v = this.values.get(name)?.[0];
    if (v === undefined || v === '0' || v === 'false') return false;
    if (v === '1' || v === 'true') return true;
    throw new ParamError(`querystring/${name} must be 0, 1, true or false`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** An entry as the API shows it: the body as text when it is UTF-8, else base64. */
function entryJson(e: InboxEntry): Record<string, unknown> {
  let body: string;
  let base64 = false;
  try {
    body = utf8.decode(e.body);
  } catch {
    body = Buffer.from(e.body.buffer, e.body.byteOffset, e.body.byteLength).toString('base64');
    base64 = true;
  }
  return { seq: e.seq, id: e.id, op: e.op, time: e.time, body, ...(base64 ? { encoding: 'base64' } : {}) };
}

export interface InboxRouteOptions {
  /** Most body bytes one page holds (`api.historyPageBytes`); a page holds at least one entry. */
  pageBytes: number;
}

export function registerInboxRoutes(app: FastifyInstance, logic: Logic, log: Logger, opts: InboxRouteOptions): void {
  /** Runs `fn` with bad parameters answered 400 and storage failures 503. */
  const handle = (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>) => async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      return await fn(req, reply);
    } catch (err) {
      if (err instanceof ParamError) return send(reply, 400, Codes.BadRequest, err.message);
      if (err instanceof InboxUnavailableError) {
        log.error({ err, url: req.url }, 'logic http: the inbox store failed');
        return send(reply, 503, Codes.Unavailable, err.message);
      }
      throw err;
    }
  };

  app.get(
    '/tsim/inbox/:mid',
    handle(async (req, reply) => {
      const mid = midOf(req);
      const q = new Query(req.url);
      const after = q.int('after', 0, Number.MAX_SAFE_INTEGER, 0);
      const limit = q.int('limit', 1, MAX_LIMIT, DEFAULT_LIMIT);
      const page = await logic.inboxPage(mid, after, limit, opts.pageBytes);
      return send(reply, 200, 0, '', {
        mid: String(mid),
        first: page.first,
        last: page.last,
        ...(page.next !== undefined ? { next: page.next } : {}),
        entries: page.entries.map(entryJson),
      });
    }),
  );

  app.get(
    '/tsim/inbox/:mid/devices',
    handle(async (req, reply) => {
      const mid = midOf(req);
      const devices = await logic.inboxDevices(mid);
      return send(reply, 200, 0, '', { mid: String(mid), devices: devices.map((d) => ({ key: d.key, acked: d.acked, seen: d.seen })) });
    }),
  );

  app.delete(
    '/tsim/inbox/:mid',
    handle(async (req, reply) => {
      const mid = midOf(req);
      const q = new Query(req.url);
      const upTo = q.int('upTo', 0, Number.MAX_SAFE_INTEGER, Infinity);
      const devices = q.flag('devices');
      const removed = await logic.inboxDelete(mid, upTo, devices);
      return send(reply, 200, 0, '', { mid: String(mid), removed });
    }),
  );
}
