// The history API (docs/http-api.md#history, docs/history.md#history-over-http): a room's
// stored messages by offset or by video position, paged, in goim's envelope. Pages that can no
// longer change carry an ETag and may be cached by anyone; the others are `no-cache`.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../log.js';
import type { HistoryRecord } from '../../ports/index.js';
import { NoHistoryError, type HistoryPage } from '../history-reader.js';
import type { Logic } from '../logic.js';
import { envelope, JSON_TYPE } from './envelope.js';

/** Most records one page holds, and the default. */
const HISTORY_MAX_LIMIT = 1000;
const HISTORY_DEFAULT_LIMIT = 100;
/** Widest /progress range: ten 6-minute segments. */
const HISTORY_MAX_RANGE_MS = 3_600_000;
/** How long a closed page may be cached: its records do not change (retention may only remove them). */
const CLOSED_MAX_AGE_S = 3600;
const Codes = { BadRequest: -400, NotFound: -404, Unavailable: -503 } as const;

const typeParam = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' } as const;
const roomParam = { type: 'string', minLength: 1, maxLength: 256 } as const;
const offsetParam = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const limitParam = { type: 'integer', minimum: 1, maximum: HISTORY_MAX_LIMIT, default: HISTORY_DEFAULT_LIMIT } as const;

interface RoomQuery {
  type: string;
  room: string;
  since: number;
  limit: number;
}
interface ProgressQuery {
  type: string;
  room: string;
  from: number;
  to: number;
  limit: number;
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

/** Validation failures answer 400 in the envelope, naming the parameter. */
function invalid(req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  const err = req.validationError;
  if (err === undefined || err === null) return undefined;
  return send(reply, 400, Codes.BadRequest, err.message);
}

export function registerHistoryRoutes(app: FastifyInstance, logic: Logic, log: Logger, publicPages = false): void {
  app.get<{ Querystring: RoomQuery }>(
    '/tsim/history/room',
    {
      attachValidation: true,
      schema: {
        querystring: {
          type: 'object',
          required: ['type', 'room'],
          properties: { type: typeParam, room: roomParam, since: { ...offsetParam, default: 0 }, limit: limitParam },
        },
      },
    },
    async (req, reply) => {
      const bad = invalid(req, reply);
      if (bad) return bad;
      const q = req.query;
      let page: HistoryPage;
      try {
        page = await logic.historyPage(q.type, q.room, q.since, q.limit);
      } catch (err) {
        return failed(log, req, reply, err);
      }
      return sendPage(req, reply, page, publicPages);
    },
  );

  app.get<{ Querystring: ProgressQuery }>(
    '/tsim/history/progress',
    {
      attachValidation: true,
      schema: {
        querystring: {
          type: 'object',
          required: ['type', 'room', 'from', 'to'],
          properties: { type: typeParam, room: roomParam, from: offsetParam, to: offsetParam, limit: limitParam },
        },
      },
    },
    async (req, reply) => {
      const bad = invalid(req, reply);
      if (bad) return bad;
      const q = req.query;
      if (q.to <= q.from) return send(reply, 400, Codes.BadRequest, 'querystring/to must be greater than from');
      if (q.to - q.from > HISTORY_MAX_RANGE_MS) {
        return send(reply, 400, Codes.BadRequest, `querystring/to - from must be at most ${HISTORY_MAX_RANGE_MS} (1 h)`);
      }
      let page: HistoryPage;
      try {
        page = await logic.historyProgress(q.type, q.room, q.from, q.to, q.limit);
      } catch (err) {
        return failed(log, req, reply, err);
      }
      return sendPage(req, reply, page, publicPages);
    },
  );
}
