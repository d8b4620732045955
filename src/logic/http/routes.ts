// goim's HTTP API (docs/http-api.md): push, online and nodes endpoints with goim's parameter
// binding, envelopes, codes and statuses. Logic answers plain values; goim-json-shapes.ts
// gives them goim's JSON.
import { FIRST_INBOX_OP, LAST_INBOX_OP, Op } from '../../protocol/ops.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseGoQuery } from '../../protocol/go/go-url.js';
import { InboxUnavailableError } from '../inbox.js';
import { PushTooLargeError, type Logic } from '../logic.js';
import { instancesJson, nodesReplyJson, onlineTotalJson, roomTopJson } from './goim-json-shapes.js';
import { Code, envelope, JSON_TYPE, SNIFFED_TEXT_TYPE } from './envelope.js';
import { BindingError, bindQuery, validationMessage } from './query-binding.js';

/** Paths per method; the not-found handler redirects their trailing-slash variants. */
export const GOIM_ROUTES: Readonly<Record<string, readonly string[]>> = {
  POST: ['/goim/push/keys', '/goim/push/mids', '/goim/push/room', '/goim/push/all'],
  GET: ['/goim/online/top', '/goim/online/room', '/goim/online/total', '/goim/nodes/weighted', '/goim/nodes/instances'],
};

type Handler = (query: Map<string, string[]>, req: FastifyRequest, reply: FastifyReply) => Promise<void> | void;

function rawQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
}

function ok(reply: FastifyReply, data?: unknown): void {
  reply
    .code(200)
    .type(JSON_TYPE)
    .send(envelope(Code.OK, '', data));
}

/** A logic-level failure: HTTP 200 with a negative code, as goim. */
function failed(reply: FastifyReply, code: number, message: string): void {
  reply.code(200).type(JSON_TYPE).send(envelope(code, message));
}

/**
 * A push that failed: too large for any connection's send queue is the caller's error (413,
 * as an over-long body); anything else is a server-side failure, -500 with its reason.
 */
function pushFailed(reply: FastifyReply, err: unknown): void {
  if (err instanceof PushTooLargeError) {
    reply.code(413).type(JSON_TYPE).send(envelope(Code.TooLarge, err.message));
    return;
  }
  // A durable push the inbox could not keep is refused, not accepted and lost (docs/http-api.md#push).
  if (err instanceof InboxUnavailableError) {
    reply.code(503).type(JSON_TYPE).send(envelope(Code.Unavailable, err.message));
    return;
  }
  failed(reply, Code.ServerErr, messageOf(err));
}

/** Ops the client protocol gives a meaning of tsim's (docs/protocol.md#operations): a push with one would be misread by some clients. */
export function reservedOp(op: number): string | undefined {
  // Ops 19-23 join rooms; a push with op 23 would read as a multi-room envelope.
  if (op >= Op.Join && op <= Op.RoomMessage) return `operation ${op} is reserved for joining rooms (docs/protocol.md#several-rooms)`;
  if (op >= FIRST_INBOX_OP && op <= LAST_INBOX_OP)
    return `operation ${op} is reserved: ops ${FIRST_INBOX_OP} to ${LAST_INBOX_OP} are the durable inbox's (docs/protocol.md#durable-inbox)`;
  return undefined;
}

/** `durable`: absent = the configured default; 1 / true or 0 / false. */
function durableParam(query: Map<string, string[]>): boolean | undefined {
  const v = query.get('durable')?.[0];
  if (v === undefined) return undefined;
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new BindingError('durable must be 0, 1, true or false');
}

/** A binding failure: goim writes the status line before the envelope, so Go sniffs text/plain. */
function badRequest(reply: FastifyReply, message: string): void {
  reply.code(400).type(SNIFFED_TEXT_TYPE).send(envelope(Code.RequestErr, message));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function body(req: FastifyRequest): Uint8Array {
  return req.body instanceof Uint8Array ? req.body : new Uint8Array(0);
}

function goimHandler(fn: Handler) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    try {
      await fn(parseGoQuery(rawQuery(req.url)), req, reply);
    } catch (err) {
      if (!(err instanceof BindingError)) throw err;
      badRequest(reply, err.message);
    }
    return reply;
  };
}

export function registerGoimRoutes(app: FastifyInstance, logic: Logic): void {
  app.post(
    '/goim/push/keys',
    goimHandler(async (query, req, reply) => {
      const arg = bindQuery(query, { Op: { param: 'operation', kind: 'int32' }, Keys: { param: 'keys', kind: 'string[]' } });
      // goim answers a bare -400 here (Redis refuses the empty MGET); say why instead.
      if (arg.Keys === undefined) return failed(reply, Code.RequestErr, 'keys required');
      const reserved = reservedOp(arg.Op);
      if (reserved !== undefined) return badRequest(reply, reserved);
      try {
        await logic.pushKeys(arg.Op, arg.Keys, body(req));
      } catch (err) {
        // goim reports push/keys failures as a bare -400; like the other pushes, a server-side
        // failure is -500 with its reason (docs/protocol.md#differs-push-keys-failure).
        return pushFailed(reply, err);
      }
      ok(reply);
    }),
  );

  app.post(
    '/goim/push/mids',
    goimHandler(async (query, req, reply) => {
      const arg = bindQuery(query, { Op: { param: 'operation', kind: 'int32' }, Mids: { param: 'mids', kind: 'int64[]' } });
      const durable = durableParam(query);
      const reserved = reservedOp(arg.Op);
      if (reserved !== undefined) return badRequest(reply, reserved);
      try {
        await logic.pushMids(arg.Op, arg.Mids ?? [], body(req), durable);
      } catch (err) {
        return pushFailed(reply, err);
      }
      ok(reply);
    }),
  );

  app.post(
    '/goim/push/room',
    goimHandler(async (query, req, reply) => {
      const arg = bindQuery(query, {
        Op: { param: 'operation', kind: 'int32', required: true },
        Type: { param: 'type', kind: 'string', required: true },
        Room: { param: 'room', kind: 'string', required: true },
      });
      // Op 18 in a room's stream is tsim's RoomState, which goim connections never receive
      // (docs/history.md#opting-in): refused rather than delivered to some members only.
      if (arg.Op === Op.RoomState) return badRequest(reply, `operation ${Op.RoomState} is reserved for room history state (docs/history.md)`);
      const reserved = reservedOp(arg.Op);
      if (reserved !== undefined) return badRequest(reply, reserved);
      try {
        await logic.pushRoom(arg.Op, arg.Type, arg.Room, body(req));
      } catch (err) {
        return pushFailed(reply, err);
      }
      ok(reply);
    }),
  );

  app.post(
    '/goim/push/all',
    goimHandler(async (query, req, reply) => {
      const arg = bindQuery(query, {
        Op: { param: 'operation', kind: 'int32', required: true },
        Speed: { param: 'speed', kind: 'int32' },
      });
      const reserved = reservedOp(arg.Op);
      if (reserved !== undefined) return badRequest(reply, reserved);
      try {
        await logic.pushAll(arg.Op, arg.Speed, body(req));
      } catch (err) {
        return pushFailed(reply, err);
      }
      ok(reply);
    }),
  );

  app.get(
    '/goim/online/top',
    goimHandler((query, _req, reply) => {
      const arg = bindQuery(query, {
        Type: { param: 'type', kind: 'string', required: true },
        Limit: { param: 'limit', kind: 'int64', required: true },
      });
      // goim panics on a negative limit (HTTP 500, empty body); refuse it like a binding error.
      if (arg.Limit < 0n) throw new BindingError(validationMessage('Limit', 'min'));
      const limit = arg.Limit > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(arg.Limit);
      ok(reply, roomTopJson(logic.onlineTop(arg.Type, limit)));
    }),
  );

  app.get(
    '/goim/online/room',
    goimHandler((query, _req, reply) => {
      const arg = bindQuery(query, {
        Type: { param: 'type', kind: 'string', required: true },
        Rooms: { param: 'rooms', kind: 'string[]', required: true },
      });
      // A Go map: goJson writes its keys in Go's order.
      ok(reply, logic.onlineRooms(arg.Type, arg.Rooms ?? []));
    }),
  );

  app.get(
    '/goim/online/total',
    goimHandler((_query, _req, reply) => {
      ok(reply, onlineTotalJson(logic.onlineTotal()));
    }),
  );

  app.get(
    '/goim/nodes/weighted',
    goimHandler(async (query, req, reply) => {
      const arg = bindQuery(query, { Platform: { param: 'platform', kind: 'string' } });
      ok(reply, nodesReplyJson(await logic.nodes(arg.Platform, req.ip)));
    }),
  );

  app.get(
    '/goim/nodes/instances',
    goimHandler((_query, _req, reply) => {
      ok(reply, instancesJson(logic.comets()));
    }),
  );
}
