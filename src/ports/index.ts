// The ports between roles (DESIGN §1). Each has an in-memory adapter (embedded mode) and a
// network adapter (distributed mode); role code depends only on these interfaces.

/** goim.protocol.Proto: a frame as carried between roles. */
export interface Proto {
  ver: number;
  op: number;
  seq: number;
  body: Uint8Array;
}

// ---- comet → logic -------------------------------------------------------------------

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
}

export interface SessionRef {
  mid: bigint;
  key: string;
  server: string;
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
export interface LogicClient {
  connect(req: ConnectRequest): Promise<ConnectReply>;
  /** Resolves to whether the key's routing existed. */
  disconnect(req: SessionRef): Promise<boolean>;
  heartbeat(req: SessionRef): Promise<void>;
  /** Reports this comet's local room counts; resolves to the global room → count map. */
  renewOnline(server: string, roomCount: Record<string, number>): Promise<Record<string, number>>;
  receive(mid: bigint, proto: Proto): Promise<void>;
  nodes(platform: string, clientIp: string): Promise<NodesReply>;
  close(): Promise<void>;
}

// ---- job → comet ---------------------------------------------------------------------

/** What job calls on one comet (goim.comet.Comet). */
export interface CometClient {
  pushMsg(keys: string[], protoOp: number, proto: Proto): Promise<void>;
  broadcast(protoOp: number, proto: Proto, speed: number): Promise<void>;
  broadcastRoom(roomId: string, proto: Proto): Promise<void>;
  rooms(): Promise<string[]>;
  close(): Promise<void>;
}

/** Turns a registry instance into a client for it (direct call, or gRPC to its address). */
export type CometDialer = (instance: Instance) => CometClient;

// ---- logic ↔ session storage -----------------------------------------------------------

/** One comet's room counts as stored by RenewOnline (goim `ol_<server>`). */
export interface ServerOnline {
  server: string;
  roomCount: Record<string, number>;
  /** Unix seconds. */
  updated: number;
}

/** Routing and online data (goim's Redis schema: `mid_`, `key_`, `ol_`). */
export interface SessionStore {
  /** key → server, and mid → {key: server} when mid > 0; refreshes TTLs. */
  addMapping(ref: SessionRef): Promise<void>;
  /** Refreshes TTLs; resolves false when the key's routing had lapsed (caller re-adds). */
  expireMapping(ref: SessionRef): Promise<boolean>;
  /**
   * Removes the routing of `ref` only while it still points at `ref.server`, so a
   * reconnect elsewhere is never undone by the old connection (fixes goim §2.10).
   * Resolves to whether the key's routing existed.
   */
  delMapping(ref: SessionRef): Promise<boolean>;
  /** Server of each key, `''` where unknown (order kept). */
  serversByKeys(keys: string[]): Promise<string[]>;
  /** All key → server pairs of the given mids. */
  keysByMids(mids: bigint[]): Promise<Map<string, string>>;
  addServerOnline(online: ServerOnline): Promise<void>;
  serverOnline(server: string): Promise<ServerOnline | null>;
  delServerOnline(server: string): Promise<void>;
  close(): Promise<void>;
}

// ---- logic → job -----------------------------------------------------------------------

export const PushType = { PUSH: 0, ROOM: 1, BROADCAST: 2 } as const;
export type PushType = (typeof PushType)[keyof typeof PushType];

/** goim.logic.PushMsg (spec §5.2). */
export interface PushMsg {
  type: PushType;
  operation: number;
  speed: number;
  server: string;
  room: string;
  keys: string[];
  msg: Uint8Array;
}

/**
 * Handles one queued message. The queue acknowledges it only when the promise resolves
 * (the comets accepted it); a rejection means "redeliver later".
 */
export type PushHandler = (msg: PushMsg) => Promise<void>;

export interface PushQueue {
  /** Resolves once the queue has durably accepted the message. */
  publish(msg: PushMsg): Promise<void>;
  /** Starts delivering to `handler`; resolves once consuming has begun. */
  consume(handler: PushHandler): Promise<void>;
  /** Stops consuming; waits for handlers in flight. */
  close(): Promise<void>;
}

// ---- discovery ------------------------------------------------------------------------

export const AppId = { Comet: 'goim.comet', Logic: 'goim.logic' } as const;

/** A registered comet or logic (goim's discovery instance model, spec §6). */
export interface Instance {
  region: string;
  zone: string;
  env: string;
  appid: string;
  hostname: string;
  /** e.g. `grpc://10.0.0.5:3109`; empty in embedded mode. */
  addrs: string[];
  version: string;
  /** Nanoseconds since the epoch of the last registration or metadata change. */
  latestTimestamp: number;
  /** goim keys: weight, offline, addrs, conn_count, ip_count. */
  metadata: Record<string, string>;
}

export interface Registry {
  /** Registers or updates (metadata refresh) an instance; keeps it alive until deregistered. */
  register(instance: Instance): Promise<void>;
  deregister(appid: string, hostname: string): Promise<void>;
  /** Current instances of an app. */
  list(appid: string): Promise<Instance[]>;
  /** Calls `onChange` with the full list now and whenever it changes; returns a stop function. */
  watch(appid: string, onChange: (instances: Instance[]) => void): () => void;
  close(): Promise<void>;
}
