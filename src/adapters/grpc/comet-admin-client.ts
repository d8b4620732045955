// tsim.comet.Admin over gRPC (src/rpc/proto/tsim/comet/admin.proto): the operations console's
// line from logic to a comet, dialed from the comet's registry entry (its grpc:// address).
import type { Instance } from '../../ports/index.js';
import type { CometAdmin, CometAdminDialer, ConnectionInfo } from '../../ports/comet-admin.js';
import { AdminClient as AdminStub, type Connection } from '../../rpc/gen/tsim/comet/admin.js';
import { grpcTarget } from './address.js';
import { channelOptions, channelSecurity, type RpcClientTls } from './channel-options.js';
import { unaryCall } from './unary-call.js';

export interface GrpcCometAdminOptions {
  /** Per-call deadline in ms (config rpcClient.timeout); 0 = none. Default 5 s. */
  timeoutMs?: number;
  tls?: RpcClientTls;
}

function connectionInfo(c: Connection): ConnectionInfo {
  return {
    key: c.key,
    mid: String(c.mid),
    comet: c.comet,
    remote: c.remote,
    rooms: c.rooms,
    since: Number(c.since),
    transport: c.transport === 'websocket' ? 'websocket' : 'tcp',
    tls: c.tls,
  };
}

class GrpcCometAdmin implements CometAdmin {
  private readonly stub: AdminStub;

  constructor(
    private readonly target: string,
    private readonly timeoutMs: number,
    tls: RpcClientTls | undefined,
  ) {
    const { creds, options } = channelSecurity(tls);
    this.stub = new AdminStub(target, creds, { ...channelOptions(), ...options });
  }

  async connectionInfo(keys: readonly string[]): Promise<ConnectionInfo[]> {
    const r = await unaryCall<{ connections: Connection[] }>('comet Admin.Connections', this.target, this.timeoutMs, (md, o, cb) =>
      this.stub.connections({ keys: [...keys] }, md, o, cb),
    );
    return r.connections.map(connectionInfo);
  }

  async disconnect(key: string): Promise<boolean> {
    const r = await unaryCall<{ closed: boolean }>('comet Admin.Disconnect', this.target, this.timeoutMs, (md, o, cb) =>
      this.stub.disconnect({ key }, md, o, cb),
    );
    return r.closed;
  }

  async roomMembers(room: string, limit: number): Promise<{ connections: ConnectionInfo[]; total: number }> {
    const r = await unaryCall<{ connections: Connection[]; total: number }>('comet Admin.RoomMembers', this.target, this.timeoutMs, (md, o, cb) =>
      this.stub.roomMembers({ room, limit }, md, o, cb),
    );
    return { connections: r.connections.map(connectionInfo), total: r.total };
  }

  close(): void {
    this.stub.close();
  }
}

/**
 * The console's dialer in a distributed logic: the comet with that server id among `comets()`
 * (logic's registry view), one channel per address, kept while the address stays the same.
 */
export class GrpcCometAdminDialer {
  private readonly clients = new Map<string, GrpcCometAdmin>();

  constructor(
    private readonly comets: () => readonly Instance[],
    private readonly opts: GrpcCometAdminOptions = {},
  ) {}

  readonly dial: CometAdminDialer = (server) => {
    const instance = this.comets().find((c) => c.hostname === server);
    const target = instance === undefined ? undefined : grpcTarget(instance.addrs);
    if (target === undefined) return undefined;
    let client = this.clients.get(target);
    if (client === undefined) {
      // Comets come and go: drop channels to addresses no comet has any more.
      const live = new Set(this.comets().map((c) => grpcTarget(c.addrs)));
      for (const [t, c] of this.clients) {
        if (live.has(t)) continue;
        c.close();
        this.clients.delete(t);
      }
      client = new GrpcCometAdmin(target, this.opts.timeoutMs ?? 5_000, this.opts.tls);
      this.clients.set(target, client);
    }
    return client;
  };

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
