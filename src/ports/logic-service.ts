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
  receive(mid: bigint, proto: Proto): Promise<void>;
  nodes(platform: string, clientIp: string): Promise<NodesReply>;
  close(): Promise<void>;
}
