// CometService over gRPC (src/rpc/proto/goim/comet/comet.proto): job's client for one comet,
// dialed from the comet's registry instance (its `grpc://host:port` address).
import type { CometService, CometDialer, InboxSeqs, Instance, Proto, RoomBatchParts } from '../../ports/index.js';
import { CometClient as CometStub } from '../../rpc/gen/goim/comet/comet.js';
import { grpcTarget } from './address.js';
import { channelOptions, channelSecurity, type RpcClientTls } from './channel-options.js';
import { BATCH_PARTS_HEADER, encodeBatchParts } from './batch-parts.js';
import { unaryCall } from './unary-call.js';
import { toWireProto } from './proto.js';

export interface GrpcCometClientOptions {
  /** Per-call deadline in ms (config rpcClient.timeout); 0 = none. Default 5 s. */
  timeoutMs?: number;
  /** Call the comet over TLS (config rpcClient.caFile); plaintext when absent. */
  tls?: RpcClientTls;
}

export class GrpcCometClient implements CometService {
  private readonly stub: CometStub;
  private readonly target: string;
  private readonly timeoutMs: number;

  /** `addr`: "host:port" or "grpc://host:port". */
  constructor(addr: string, opts: GrpcCometClientOptions = {}) {
    this.target = grpcTarget([addr]) ?? addr;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    const { creds, options } = channelSecurity(opts.tls);
    this.stub = new CometStub(this.target, creds, { ...channelOptions(), ...options });
  }

  async pushMsg(keys: string[], protoOp: number, proto: Proto, inbox?: InboxSeqs): Promise<void> {
    const req = { keys, protoOp, proto: toWireProto(proto), inboxMids: inbox?.mids ?? [], inboxSeqs: inbox?.seqs.map(BigInt) ?? [] };
    await unaryCall<object>('comet PushMsg', this.target, this.timeoutMs, (md, o, cb) => this.stub.pushMsg(req, md, o, cb));
  }

  async broadcast(protoOp: number, proto: Proto, speed: number): Promise<void> {
    const req = { protoOp, proto: toWireProto(proto), speed };
    await unaryCall<object>('comet Broadcast', this.target, this.timeoutMs, (md, o, cb) => this.stub.broadcast(req, md, o, cb));
  }

  /** `parts` go in metadata (docs/internal-protocol.md#room-batch-numbers); a goim comet ignores them. */
  async broadcastRoom(roomId: string, proto: Proto, parts?: RoomBatchParts): Promise<void> {
    const req = { roomID: roomId, proto: toWireProto(proto) };
    await unaryCall<object>('comet BroadcastRoom', this.target, this.timeoutMs, (md, o, cb) => {
      if (parts !== undefined) md.set(BATCH_PARTS_HEADER, encodeBatchParts(parts));
      return this.stub.broadcastRoom(req, md, o, cb);
    });
  }

  async rooms(): Promise<string[]> {
    const r = await unaryCall<{ rooms: Record<string, boolean> }>('comet Rooms', this.target, this.timeoutMs, (md, o, cb) =>
      this.stub.rooms({}, md, o, cb),
    );
    return Object.keys(r.rooms).filter((room) => r.rooms[room]);
  }

  async close(): Promise<void> {
    this.stub.close();
  }
}

/** A CometDialer for job: one GrpcCometClient per comet instance's `grpc://` address. */
export function grpcCometDialerWith(opts: GrpcCometClientOptions = {}): CometDialer {
  return (instance: Instance) => {
    const target = grpcTarget(instance.addrs);
    if (!target) throw new Error(`comet ${instance.hostname}: no grpc:// address in ${JSON.stringify(instance.addrs)}`);
    return new GrpcCometClient(target, opts);
  };
}

export const grpcCometDialer: CometDialer = grpcCometDialerWith();
