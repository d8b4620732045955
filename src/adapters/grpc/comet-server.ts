// goim.comet.Comet over gRPC (src/rpc/proto/goim/comet/comet.proto): what job — tsim's or
// goim's — calls on a comet, served from the comet's CometOps.
import type { CometOps } from '../../ports/index.js';
import { CONNECTION_INFO_MAX, type ConnectionInfo } from '../../ports/comet-admin.js';
import { CometService as CometServiceDefinition, type CometServer } from '../../rpc/gen/goim/comet/comet.js';
import { AdminService, type AdminServer } from '../../rpc/gen/tsim/comet/admin.js';
import { readBatchParts } from './batch-parts.js';
import { serveService, unary, type RpcServerOptions, type RunningServer } from './serve.js';

/** What the operations console calls on a comet (tsim.comet.Admin), answered by the Comet role. */
export interface CometAdminOps {
  connectionInfo(keys: readonly string[]): ConnectionInfo[];
  disconnect(key: string): boolean;
  roomMembers(room: string, limit: number): { connections: ConnectionInfo[]; total: number };
}

const wire = (c: ConnectionInfo) => ({ ...c, mid: BigInt(c.mid), since: BigInt(c.since) });

/** tsim.comet.Admin: the console's lookups and disconnects (docs/internal-protocol.md#tsimcometadmin). */
function adminImpl(admin: CometAdminOps): AdminServer {
  return {
    connections: unary((req) => ({
      connections: admin.connectionInfo(req.keys.slice(0, CONNECTION_INFO_MAX)).map(wire),
    })),
    disconnect: unary((req) => {
      if (req.key === '') throw new Error('rpc disconnect arg error');
      return { closed: admin.disconnect(req.key) };
    }),
    roomMembers: unary((req) => {
      if (req.room === '') throw new Error('rpc roommembers arg error');
      const r = admin.roomMembers(req.room, Math.min(Math.max(0, req.limit), CONNECTION_INFO_MAX));
      return { connections: r.connections.map(wire), total: r.total };
    }),
  };
}

/**
 * Serves `target` on `addr` (":3109", "127.0.0.1:0", …). Argument errors use goim's texts.
 * `admin`: also serve tsim.comet.Admin for the operations console.
 */
export function serveComet(target: CometOps, addr: string, opts: RpcServerOptions = {}, admin?: CometAdminOps): Promise<RunningServer> {
  const impl: CometServer = {
    pushMsg: unary(async (req) => {
      if (req.keys.length === 0 || req.proto === undefined) throw new Error('rpc pushmsg arg error');
      // Seqs without their users (or the reverse) are not a durable push: goim's bytes for everyone.
      const inbox =
        req.inboxMids.length > 0 && req.inboxMids.length === req.inboxSeqs.length
          ? { mids: req.inboxMids, seqs: req.inboxSeqs.map(Number) }
          : undefined;
      await target.pushMsg(req.keys, req.protoOp, req.proto, inbox);
      return {};
    }),
    broadcast: unary(async (req) => {
      if (req.proto === undefined) throw new Error('rpc broadcast arg error');
      await target.broadcast(req.protoOp, req.proto, req.speed);
      return {};
    }),
    broadcastRoom: unary(async (req, md) => {
      // Two spaces, as goim words it.
      if (req.proto === undefined || req.roomID === '') throw new Error('rpc broadcast  room arg error');
      await target.broadcastRoom(req.roomID, req.proto, readBatchParts(md));
      return {};
    }),
    rooms: unary(async () => {
      const rooms: Record<string, boolean> = {};
      for (const r of await target.rooms()) rooms[r] = true;
      return { rooms };
    }),
  };
  const also = admin === undefined ? [] : [{ service: AdminService, implementation: adminImpl(admin) }];
  return serveService(CometServiceDefinition, impl, addr, opts, also);
}
