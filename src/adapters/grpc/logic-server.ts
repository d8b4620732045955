// goim.logic.Logic over gRPC (src/rpc/proto/goim/logic/logic.proto): what comets — tsim's or
// goim's — call on logic. Each method delegates to a LogicService (the Logic role implements it).
import type { LogicService } from '../../ports/index.js';
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
      await target.receive(req.mid, fromWireProto(req.proto));
      return {};
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
