// The history API (docs/http-api.md#history, docs/history.md#history-over-http): a room's
// stored messages by offset or by video position, paged, in goim's envelope. Pages that can no
// longer change carry an ETag and may be cached by anyone; the others are `no-cache`.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../log.js';
import type { HistoryRecord } from '../../ports/index.js';
import { NoHistoryError, type HistoryPage } from '../history-reader.js';
import type { Logic } from '../logic.js';
import { parseGoQuery } from '../../protocol/go/go-url.js';
import { envelope, JSON_TYPE } from './envelope.js';

/** Most records one page holds, and the default. */
const HISTORY_MAX_LIMIT = 1000;
const HISTORY_DEFAULT_LIMIT = 100;
/** Widest /progress range: ten 6-minute segments. */
const HISTORY_MAX_RANGE_MS = 3_600_000;
/** How long a closed page may be cached: its records do not change (retention may only remove them). */
const CLOSED_MAX_AGE_S = 3600;
const Codes = { BadRequest: -400, NotFound: -404, Unavailable: -503 } as const;

/** Room type names: what a room key's scheme may hold. */
const TYPE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_ROOM_CHARS = 256;
/** A decimal integer, digits only: no sign, point, exponent, hex or spaces. */
const DECIMAL = /^[0-9]{1,16}$/;

/** A parameter out of bounds: answered 400 with its message. */
class ParamError extends Error {}

/**
 * The query string, parsed as the goim routes parse theirs (docs/http-api.md#parameter-binding),
 * so `room` names the same room key as in a push: a parameter given twice takes its first value.
 */
class Query {
  private readonly values: Map<string, string[]>;

  constructor(url: string) {
    const q = url.indexOf('?');
    this.values = parseGoQuery(q < 0 ? '' : url.slice(q + 1));
  }

  private raw(name: string): string | undefined {
    return this.values.get(name)?.[0];
  }

  private required(name: string): string {
    const v = this.raw(name);
    if (v === undefined || v === '') throw new ParamError(`querystring/${name} is required`);
    return v;
  }

  /** The room type: 1 to 64 characters of A-Z a-z 0-9 _ . - */
  type(): string {
    const v = this.required('type');
    if (!TYPE_PATTERN.test(v)) throw new ParamError('querystring/type must be 1 to 64 characters of A-Z a-z 0-9 _ . -');
    return v;
  }

  /** The room id: 1 to 256 characters, no NUL (no store can hold it, and no push could have numbered it). */
  room(): string {
    const v = this.required('room');
    if ([...v].length > MAX_ROOM_CHARS) throw new ParamError(`querystring/room must be at most ${MAX_ROOM_CHARS} characters`);
    if (v.includes('\0')) throw new ParamError('querystring/room must not contain NUL');
    return v;
  }

  /** A decimal integer in [min, max]; `fallback` when the parameter is absent (else it is required). An empty value is not a number. */
  int(name: string, min: number, max: number, fallback?: number): number {
    const v = this.raw(name);
    if (v === undefined) {
      if (fallback === undefined) throw new ParamError(`querystring/${name} is required`);
      return fallback;
    }
    const n = DECIMAL.test(v) ? Number(v) : NaN;
    if (!(n >= min && n <= max)) throw new ParamError(`querystring/${name} must be an integer from ${min} to ${max}`);
    return n;
  }

  limit(): number {
    return this.int('limit', 1, HISTORY_MAX_LIMIT, HISTORY_DEFAULT_LIMIT);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A record as the API shows it: the body as text when it is UTF-8, else base64. */
function recordJson(r: HistoryRecord): Record<string, unknown> {
  let body: string;
  let base64 = false;
  try {
    body = utf8.decode(r.body);
  } catch {
    body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength).toString('base64');
    base64 = true;
  }
  return {
    offset: r.offset,
    op: r.op,
    mid: String(r.mid),
    time: r.time,
    progress: r.progress,
    body,
    ...(base64 ? { encoding: 'base64' } : {}),
  };
}

function send(reply: FastifyReply, status: number, code: number, message: string): FastifyReply {
  return reply.code(status).type(JSON_TYPE).header('cache-control', 'no-store').send(envelope(code, message));
}

/** The page in the envelope; closed pages get an ETag, and If-None-Match a 304. */
function sendPage(req: FastifyRequest, reply: FastifyReply, page: HistoryPage, publicPages: boolean): FastifyReply {
  const data = {
    room: page.room,
    epoch: page.epoch,
    first: page.first,
    last: page.last,
    next: page.next,
    ...(page.after !== undefined ? { after: page.after } : {}),
    records: page.records.map(recordJson),
  };
  const text = envelope(0, '', data);
  if (!page.closed) return reply.code(200).type(JSON_TYPE).header('cache-control', 'no-cache').send(text);
  const etag = `"${createHash('sha256').update(text).digest('base64url').slice(0, 32)}"`;
  void reply.header('etag', etag).header('cache-control', `${publicPages ? 'public' : 'private'}, max-age=${CLOSED_MAX_AGE_S}`);
  const match = req.headers['if-none-match'];
  if (match !== undefined && (match === '*' || match.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
    return reply.code(304).send();
  }
  return reply.code(200).type(JSON_TYPE).send(text);
}

/** Answers a failed read: a room type without history is 404, a store failure 503. */
function failed(log: Logger, req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof NoHistoryError) return send(reply, 404, Codes.NotFound, err.message);
  log.error({ err, url: req.url }, 'logic http: reading history failed');
  return send(reply, 503, Codes.Unavailable, 'history unavailable');
}

export interface HistoryRouteOptions {
  /** Pages behind an API key may be cached by the caller only, never by a shared cache. */
  publicPages: boolean;
  /** Most body bytes one page holds (`api.historyPageBytes`); a page holds at least one record. */
  pageBytes: number;
}

export function registerHistoryRoutes(app: FastifyInstance, logic: Logic, log: Logger, opts: HistoryRouteOptions): void {
  app.get('/tsim/history/room', async (req, reply) => {
    let type: string, room: string, since: number, limit: number;
    try {
      const q = new Query(req.url);
      type = q.type();
      room = q.room();
      since = q.int('since', 0, Number.MAX_SAFE_INTEGER, 0);
      limit = q.limit();
    } catch (err) {
      return badParam(reply, err);
    }
    let page: HistoryPage;
    try {
      page = await logic.historyPage(type, room, since, { limit, maxBytes: opts.pageBytes });
    } catch (err) {
      return failed(log, req, reply, err);
    }
    return sendPage(req, reply, page, opts.publicPages);
  });

  app.get('/tsim/history/progress', async (req, reply) => {
    let type: string, room: string, from: number, after: number, to: number, limit: number;
    try {
      const q = new Query(req.url);
      type = q.type();
      room = q.room();
      from = q.int('from', 0, Number.MAX_SAFE_INTEGER);
      to = q.int('to', 0, Number.MAX_SAFE_INTEGER);
      after = q.int('after', 0, Number.MAX_SAFE_INTEGER, 0);
      limit = q.limit();
      if (to <= from) throw new ParamError('querystring/to must be greater than from');
      if (to - from > HISTORY_MAX_RANGE_MS) throw new ParamError(`querystring/to - from must be at most ${HISTORY_MAX_RANGE_MS} (1 h)`);
    } catch (err) {
      return badParam(reply, err);
    }
    let page: HistoryPage;
    try {
      page = await logic.historyProgress(type, room, { progress: from, after }, to, { limit, maxBytes: opts.pageBytes });
    } catch (err) {
      return failed(log, req, reply, err);
    }
    return sendPage(req, reply, page, opts.publicPages);
  });
}

/** A parameter out of bounds: 400 in the envelope, naming it. */
function badParam(reply: FastifyReply, err: unknown): FastifyReply {
  if (!(err instanceof ParamError)) throw err;
  return send(reply, 400, Codes.BadRequest, err.message);
}
