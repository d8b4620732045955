// goim.logic.Logic over gRPC (src/rpc/proto/goim/logic/logic.proto): what comets — tsim's or
// goim's — call on logic. Each method delegates to a LogicService (the Logic role implements it).
import { InboxAckRangeError, type LogicService } from '../../ports/index.js';
import { LogicService as LogicServiceDefinition, type LogicServer } from '../../rpc/gen/goim/logic/logic.js';
import { fromWireProto } from './proto.js';
import { serveService, unary, type RpcServerOptions, type RunningServer } from './serve.js';

const NS_PER_MS = 1_000_000n;

/**
 * Serves `target` on `addr` (":3119", "127.0.0.1:0", …). Accepts gzip- and
 * deflate-compressed requests (goim comets send RenewOnline gzipped).
 */
export function serveLogic(target: LogicService, addr: string, opts: RpcServerOptions = {}): Promise<RunningServer> {
  const impl: LogicServer = {
    connect: unary(async (req) => {
      const reply = await target.connect({
        server: req.server,
        cookie: req.cookie,
        token: req.token,
        ...(req.clientIp !== '' ? { clientIp: req.clientIp } : {}),
      });
      return {
        mid: reply.mid,
        key: reply.key,
        roomID: reply.roomId,
        accepts: reply.accepts,
        heartbeat: BigInt(Math.round(reply.heartbeatMs)) * NS_PER_MS,
        roomFixed: reply.roomFixed === true,
        acceptsFixed: reply.acceptsFixed === true,
        offsets: reply.history !== undefined,
        historyLast: reply.history?.last ?? 0,
        historySince: reply.history?.since !== undefined ? BigInt(reply.history.since) : undefined,
        historyEpoch: reply.history?.epoch ?? '',
        inbox: reply.inbox === true,
        roomsListed: reply.rooms !== undefined,
        rooms: reply.rooms ?? [],
      };
    }),
    disconnect: unary(async (req) => ({
      has: await target.disconnect({ mid: req.mid, key: req.key, server: req.server }),
    })),
    heartbeat: unary(async (req) => {
      await target.heartbeat({ mid: req.mid, key: req.key, server: req.server });
      return {};
    }),
    renewOnline: unary(async (req) => ({
      allRoomCount: await target.renewOnline(req.server, req.roomCount),
    })),
    receive: unary(async (req) => {
      const r = await target.receive({ mid: req.mid, key: req.key, room: req.room, proto: fromWireProto(req.proto) });
      return r.handled ? { handled: true, reply: Buffer.from(r.reply ?? new Uint8Array(0)) } : { handled: false, reply: Buffer.alloc(0) };
    }),
    history: unary(async (req) => {
      const h = await target.history({
        room: req.room,
        last: req.last,
        ...(req.since !== undefined ? { since: Number(req.since) } : {}),
        ...(req.epoch !== '' ? { epoch: req.epoch } : {}),
        limit: req.limit,
      });
      return {
        epoch: h.epoch,
        first: BigInt(h.first),
        last: BigInt(h.last),
        records: h.records.map((r) => ({ offset: BigInt(r.offset), op: r.op, body: Buffer.from(r.body) })),
        recovered: h.recovered,
        reason: h.reason ?? '',
        cap: h.cap,
      };
    }),
    inbox: unary(async (req) => {
      const r = await target.inbox({
        mid: req.mid,
        key: req.key,
        ...(req.after !== undefined ? { after: Number(req.after) } : {}),
        limit: req.limit,
        maxBytes: Number(req.maxBytes),
      });
      return {
        acked: BigInt(r.acked),
        first: BigInt(r.first),
        last: BigInt(r.last),
        records: r.records.map((x) => ({ seq: BigInt(x.seq), op: x.op, body: Buffer.from(x.body) })),
        cut: r.cut,
      };
    }),
    inboxAck: unary(async (req) => {
      try {
        return { acked: BigInt(await target.inboxAck({ mid: req.mid, key: req.key, seq: Number(req.seq) })), aboveLast: false, last: 0n };
      } catch (err) {
        if (err instanceof InboxAckRangeError) return { acked: 0n, aboveLast: true, last: BigInt(err.last) };
        throw err;
      }
    }),
    nodes: unary(async (req) => {
      const n = await target.nodes(req.platform, req.clientIP);
      return {
        domain: n.domain,
        tcpPort: n.tcpPort,
        wsPort: n.wsPort,
        wssPort: n.wssPort,
        heartbeat: n.heartbeat,
        nodes: n.nodes,
        backoff: { ...n.backoff },
        heartbeatMax: n.heartbeatMax,
      };
    }),
  };
  return serveService(LogicServiceDefinition, impl, addr, opts);
}
