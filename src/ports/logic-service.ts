// comet → logic: what a comet calls on logic (goim.logic.Logic). Implemented by the Logic
// role itself (embedded mode) and by adapters/grpc/logic-client.ts (distributed mode).
import type { Proto } from './proto.js';
import type { SessionRef } from './session-store.js';

export interface ConnectRequest {
  server: string;
  cookie: string;
  token: Uint8Array;
  /** Client address without port; beyond goim (used by auth modes and limits). */
  clientIp?: string;
}

export interface ConnectReply {
  mid: bigint;
  key: string;
  roomId: string;
  accepts: number[];
  /** Server-side heartbeat timeout (goim transports it in ns; ms here). */
  heartbeatMs: number;
  /**
   * The auth mode granted `roomId` (and `accepts`): the client may not move to another room
   * with op 12 (nor subscribe to other ops with op 14). Absent = goim's free choice.
   */
  roomFixed?: boolean;
  acceptsFixed?: boolean;
  /**
   * Rooms the auth mode lets the client join with op 19 besides `roomId` (a JWT's `rooms`
   * claim, a webhook's `rooms`; `type://*` = every room of the type). Absent = no list: any room
   * unless `roomFixed` (docs/security.md#claims).
   */
  rooms?: string[];
  /**
   * The token's `history` field (docs/history.md#opting-in): present = the client opted in to
   * offsets; what it asked to be replayed when it joins its room.
   */
  history?: HistoryAsk;
  /** The token's `"inbox": true` (docs/protocol.md#durable-inbox): durable messages come as op 27. */
  inbox?: boolean;
}

/** A replay request: the last `last` records, or everything after `since` of `epoch`. */
export interface HistoryAsk {
  last: number;
  since?: number;
  epoch?: string;
}

/** A client frame logic may answer (Receive with tsim's extensions). */
export interface ReceiveRequest {
  mid: bigint;
  /** The sending connection's key and room ('' when in none). */
  key: string;
  room: string;
  proto: Proto;
}

/**
 * handled: logic answered the frame (a danmaku, docs/history.md#sending) and comet sends
 * `reply` as the body of the op-5 reply; otherwise comet keeps goim's header-only echo.
 */
export interface ReceiveResult {
  handled: boolean;
  reply?: Uint8Array;
}

export interface HistoryRequest extends HistoryAsk {
  room: string;
  /** Most records returned (comet's per-join cap). */
  limit: number;
}

/** One stored room message as a joining client receives it. */
export interface ReplayRecord {
  offset: number;
  op: number;
  body: Uint8Array;
}

/** Empty `epoch`: the room's type keeps no history. */
export interface HistoryReply {
  epoch: string;
  /** Lowest retained offset and the newest stored one (first = last + 1 when none). */
  first: number;
  last: number;
  /** Oldest first. */
  records: ReplayRecord[];
  /** false: a `since` request that cannot be served; `reason` says why. */
  recovered: boolean;
  reason?: string;
  /** Most records the room replays to one joiner (the room type's replayMax, bounded by the request's limit); absent = not said. */
  cap?: number;
}

/**
 * A page of a user's durable inbox for one device (docs/protocol.md#durable-inbox). Without
 * `after` the device (`key`) is registered when new and the page starts at its watermark.
 */
export interface InboxRequest {
  mid: bigint;
  key: string;
  after?: number;
  /** Most messages and body bytes (the first message whatever its size). */
  limit: number;
  maxBytes: number;
}

export interface InboxRecord {
  seq: number;
  op: number;
  body: Uint8Array;
}

export interface InboxReply {
  /** The device's watermark (when `after` was absent; else 0). */
  acked: number;
  /** Lowest seq still stored, highest assigned (first = last + 1 when none is stored). */
  first: number;
  last: number;
  /** Oldest first, seq > the start. */
  records: InboxRecord[];
  /** A further message was left out for `maxBytes`. */
  cut: boolean;
}

export interface InboxAckRequest {
  mid: bigint;
  key: string;
  seq: number;
}

export interface NodesReply {
  domain: string;
  tcpPort: number;
  wsPort: number;
  wssPort: number;
  heartbeat: number;
  nodes: string[];
  backoff: { maxDelay: number; baseDelay: number; factor: number; jitter: number };
  heartbeatMax: number;
}

/** What comet calls on logic (goim.logic.Logic). Rejections carry a message for the log. */
export interface LogicService {
  connect(req: ConnectRequest): Promise<ConnectReply>;
  /** Resolves to whether the key's routing existed. */
  disconnect(req: SessionRef): Promise<boolean>;
  heartbeat(req: SessionRef): Promise<void>;
  /** Reports this comet's local room counts; resolves to the global room → count map. */
  renewOnline(server: string, roomCount: Record<string, number>): Promise<Record<string, number>>;
  /** A client frame on the generic path (goim's Receive); danmaku (op 4) are answered. */
  receive(req: ReceiveRequest): Promise<ReceiveResult>;
  /** A room's history for a joining connection (tsim extension). */
  history(req: HistoryRequest): Promise<HistoryReply>;
  nodes(platform: string, clientIp: string): Promise<NodesReply>;
  /** A page of a user's durable inbox for one of its devices (tsim extension). */
  inbox(req: InboxRequest): Promise<InboxReply>;
  /** Raises a device's watermark; resolves to it. Rejects with InboxAckRangeError above the inbox's last seq (tsim extension). */
  inboxAck(req: InboxAckRequest): Promise<number>;
  close(): Promise<void>;
}
