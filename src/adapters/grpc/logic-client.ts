// LogicService over gRPC (src/rpc/proto/goim/logic/logic.proto): round-robin over the logic
// instances registered as goim.logic (and any static addresses), RenewOnline gzip-compressed
// as goim comets send it.
import type { ChannelCredentials, ClientOptions } from '@grpc/grpc-js';
import { asBuffer } from '../../lib/bytes.js';
import {
  AppId,
  InboxAckRangeError,
  type ConnectReply,
  type ConnectRequest,
  type HistoryReply,
  type HistoryRequest,
  type InboxAckRequest,
  type InboxReply,
  type InboxRequest,
  type Instance,
  type LogicService,
  type NodesReply,
  type ReceiveRequest,
  type ReceiveResult,
  type Registry,
  type SessionRef,
} from '../../ports/index.js';
import { float32Shortest } from '../../protocol/go/go-json.js';
import {
  LogicClient as LogicStub,
  type ConnectReply as WireConnectReply,
  type HistoryReply as WireHistoryReply,
  type InboxAckReply as WireInboxAckReply,
  type InboxReply as WireInboxReply,
  type NodesReply as WireNodesReply,
} from '../../rpc/gen/goim/logic/logic.js';
import { grpcTarget } from './address.js';
import { channelOptions, channelSecurity, type RpcClientTls } from './channel-options.js';
import { unaryCall } from './unary-call.js';
import { toWireProto } from './proto.js';

export interface GrpcLogicClientOptions {
  /** Watched for goim.logic instances. */
  registry?: Registry;
  /** "host:port" or "grpc://host:port" addresses used besides the registry's. */
  addrs?: readonly string[];
  /** Per-call deadline in ms (config rpcClient.timeout); 0 = none. Default 5 s. */
  timeoutMs?: number;
  /** Prefer instances of this zone; all zones when none is in it (goim's ZONE rule). */
  zone?: string;
  /** Call logic over TLS (config rpcClient.caFile); plaintext when absent. */
  tls?: RpcClientTls;
}

/** One logic instance: a plain channel, and a gzip one for RenewOnline. */
interface Endpoint {
  target: string;
  plain: LogicStub;
  gzip: LogicStub;
}

const NS_PER_MS = 1_000_000n;

function openEndpoint(target: string, sec: { creds: ChannelCredentials; options: Partial<ClientOptions> }): Endpoint {
  return {
    target,
    plain: new LogicStub(target, sec.creds, { ...channelOptions(), ...sec.options }),
    gzip: new LogicStub(target, sec.creds, { ...channelOptions(true), ...sec.options }),
  };
}

function closeEndpoint(e: Endpoint): void {
  e.plain.close();
  e.gzip.close();
}

export class GrpcLogicClient implements LogicService {
  private readonly timeoutMs: number;
  private readonly staticTargets: string[];
  private endpoints: Endpoint[] = [];
  private readonly byTarget = new Map<string, Endpoint>();
  private next = 0;
  private stopWatch: (() => void) | undefined;
  /** Resolves at the registry's first answer, so calls made at start-up wait for it. */
  private firstList: Promise<void> | undefined;
  private closed = false;
  /** Credentials shared by every endpoint (TLS files read once). */
  private readonly security: ReturnType<typeof channelSecurity>;

  constructor(opts: GrpcLogicClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.security = channelSecurity(opts.tls);
    this.staticTargets = (opts.addrs ?? []).map((a) => grpcTarget([a]) ?? a);
    this.update([]);
    const { registry, zone } = opts;
    if (registry) {
      let seen!: () => void;
      this.firstList = new Promise<void>((resolve) => (seen = resolve));
      this.stopWatch = registry.watch(AppId.Logic, (instances) => {
        this.update(pickZone(instances, zone));
        seen();
      });
    }
  }

  private update(instances: readonly Instance[]): void {
    if (this.closed) return;
    const targets = new Set(this.staticTargets);
    for (const i of instances) {
      const t = grpcTarget(i.addrs);
      if (t) targets.add(t);
    }
    for (const [t, e] of this.byTarget) {
      if (!targets.has(t)) {
        closeEndpoint(e);
        this.byTarget.delete(t);
      }
    }
    for (const t of targets) if (!this.byTarget.has(t)) this.byTarget.set(t, openEndpoint(t, this.security));
    this.endpoints = [...this.byTarget.values()];
  }

  private async pick(): Promise<Endpoint> {
    if (this.closed) throw new Error('logic client closed');
    if (this.endpoints.length === 0 && this.firstList) await withTimeout(this.firstList, this.timeoutMs);
    const n = this.endpoints.length;
    if (n === 0) throw new Error('no logic instance available');
    this.next = (this.next + 1) % n;
    return this.endpoints[this.next];
  }

  async connect(req: ConnectRequest): Promise<ConnectReply> {
    const e = await this.pick();
    const wire = { server: req.server, cookie: req.cookie, token: asBuffer(req.token), clientIp: req.clientIp ?? '' };
    const r = await unaryCall<WireConnectReply>('logic Connect', e.target, this.timeoutMs, (md, o, cb) => e.plain.connect(wire, md, o, cb));
    return {
      mid: r.mid,
      key: r.key,
      roomId: r.roomID,
      accepts: r.accepts,
      heartbeatMs: Number(r.heartbeat / NS_PER_MS),
      roomFixed: r.roomFixed,
      acceptsFixed: r.acceptsFixed,
      ...(r.roomsListed ? { rooms: r.rooms } : {}),
      ...(r.offsets
        ? {
            history: {
              last: r.historyLast,
              ...(r.historySince !== undefined ? { since: Number(r.historySince) } : {}),
              ...(r.historyEpoch !== '' ? { epoch: r.historyEpoch } : {}),
            },
          }
        : {}),
      ...(r.inbox ? { inbox: true } : {}),
    };
  }

  async disconnect(ref: SessionRef): Promise<boolean> {
    const e = await this.pick();
    const req = { mid: ref.mid, key: ref.key, server: ref.server };
    const r = await unaryCall<{ has: boolean }>('logic Disconnect', e.target, this.timeoutMs, (md, o, cb) => e.plain.disconnect(req, md, o, cb));
    return r.has;
  }

  async heartbeat(ref: SessionRef): Promise<void> {
    const e = await this.pick();
    const req = { mid: ref.mid, key: ref.key, server: ref.server };
    await unaryCall<object>('logic Heartbeat', e.target, this.timeoutMs, (md, o, cb) => e.plain.heartbeat(req, md, o, cb));
  }

  async renewOnline(server: string, roomCount: Record<string, number>): Promise<Record<string, number>> {
    const e = await this.pick();
    const req = { server, roomCount };
    const r = await unaryCall<{ allRoomCount: Record<string, number> }>('logic RenewOnline', e.target, this.timeoutMs, (md, o, cb) =>
      e.gzip.renewOnline(req, md, o, cb),
    );
    return r.allRoomCount;
  }

  async receive(r: ReceiveRequest): Promise<ReceiveResult> {
    const e = await this.pick();
    const req = { mid: r.mid, proto: toWireProto(r.proto), key: r.key, room: r.room };
    const reply = await unaryCall<{ handled?: boolean; reply?: Uint8Array }>('logic Receive', e.target, this.timeoutMs, (md, o, cb) =>
      e.plain.receive(req, md, o, cb),
    );
    // A goim logic answers an empty ReceiveReply: not handled.
    return reply.handled === true ? { handled: true, reply: reply.reply ?? new Uint8Array(0) } : { handled: false };
  }

  async history(r: HistoryRequest): Promise<HistoryReply> {
    const e = await this.pick();
    const req = { room: r.room, last: r.last, since: r.since !== undefined ? BigInt(r.since) : undefined, epoch: r.epoch ?? '', limit: r.limit };
    const h = await unaryCall<WireHistoryReply>('logic History', e.target, this.timeoutMs, (md, o, cb) => e.plain.history(req, md, o, cb));
    return {
      epoch: h.epoch,
      first: Number(h.first),
      last: Number(h.last),
      records: h.records.map((x) => ({ offset: Number(x.offset), op: x.op, body: x.body })),
      recovered: h.recovered,
      ...(h.reason !== '' ? { reason: h.reason } : {}),
      ...(h.cap !== undefined ? { cap: h.cap } : {}),
    };
  }

  async inbox(r: InboxRequest): Promise<InboxReply> {
    const e = await this.pick();
    const req = { mid: r.mid, key: r.key, after: r.after !== undefined ? BigInt(r.after) : undefined, limit: r.limit, maxBytes: BigInt(r.maxBytes) };
    const x = await unaryCall<WireInboxReply>('logic Inbox', e.target, this.timeoutMs, (md, o, cb) => e.plain.inbox(req, md, o, cb));
    return {
      acked: Number(x.acked),
      first: Number(x.first),
      last: Number(x.last),
      records: x.records.map((y) => ({ seq: Number(y.seq), op: y.op, body: y.body })),
      cut: x.cut,
    };
  }

  async inboxAck(r: InboxAckRequest): Promise<number> {
    const e = await this.pick();
    const req = { mid: r.mid, key: r.key, seq: BigInt(r.seq) };
    const x = await unaryCall<WireInboxAckReply>('logic InboxAck', e.target, this.timeoutMs, (md, o, cb) => e.plain.inboxAck(req, md, o, cb));
    if (x.aboveLast) throw new InboxAckRangeError(r.seq, Number(x.last));
    return Number(x.acked);
  }

  async nodes(platform: string, clientIp: string): Promise<NodesReply> {
    const e = await this.pick();
    const req = { platform, clientIP: clientIp };
    const r = await unaryCall<WireNodesReply>('logic Nodes', e.target, this.timeoutMs, (md, o, cb) => e.plain.nodes(req, md, o, cb));
    const b = r.backoff ?? { maxDelay: 0, baseDelay: 0, factor: 0, jitter: 0 };
    return {
      domain: r.domain,
      tcpPort: r.tcpPort,
      wsPort: r.wsPort,
      wssPort: r.wssPort,
      heartbeat: r.heartbeat,
      nodes: r.nodes,
      // goim's Backoff floats are float32: the shortest decimal that reads back as the same value.
      backoff: { maxDelay: b.maxDelay, baseDelay: b.baseDelay, factor: float32Shortest(b.factor), jitter: float32Shortest(b.jitter) },
      heartbeatMax: r.heartbeatMax,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopWatch?.();
    for (const e of this.byTarget.values()) closeEndpoint(e);
    this.byTarget.clear();
    this.endpoints = [];
  }
}

function pickZone(instances: readonly Instance[], zone: string | undefined): readonly Instance[] {
  if (!zone) return instances;
  const local = instances.filter((i) => i.zone === zone);
  return local.length > 0 ? local : instances;
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  if (ms <= 0) return p;
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    // p is the registry's first answer, which only resolves
    void p.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
