// What the benchmark parent and its load workers say to each other over IPC.

/** How a load client talks: goim over TCP, goim over WebSocket, or socket.io. */
export type ClientKind = 'tcp' | 'ws' | 'socket.io';

export interface ConnectCommand {
  t: 'connect';
  kind: ClientKind;
  host: string;
  port: number;
  /** WebSocket request path (goim: /sub). */
  path: string;
  /** Authenticate with goim op 7 (tsim); false for the baselines, which need nothing. */
  auth: boolean;
  /** mid of this worker's first client; the token of client i is {"mid":firstMid+i,…}. */
  firstMid: number;
  count: number;
  /** room_id in the token. */
  room: string;
  /** Source addresses, used round-robin (spread over 127.0.0.x to avoid port exhaustion). */
  sources: string[];
  /** Handshakes in flight at once in this worker. */
  concurrency: number;
  /** One connection in `sampleEvery` records latency. */
  sampleEvery: number;
  /** A handshake (connect + auth) not done in this time fails. */
  timeoutMs: number;
}

/**
 * Every ready tsim client sends a goim heartbeat (op 2) every `everyMs`, spread evenly over
 * the interval (0 stops them). Their replies (op 3) would count as messages: stop them before
 * counting deliveries.
 */
export interface HeartbeatCommand {
  t: 'heartbeat';
  everyMs: number;
}

export type ParentMessage = ConnectCommand | HeartbeatCommand | { t: 'poll' } | { t: 'reset' } | { t: 'report' } | { t: 'close' };

export interface Counts {
  /** Messages received since the last reset (inner frames; socket.io events). */
  frames: number;
  /** Read events since the last reset (TCP data callbacks; WebSocket / socket.io messages). */
  reads: number;
  /** Connections ready (authenticated, or connected for the baselines). */
  open: number;
  /** Ready connections that closed since the last reset. */
  lost: number;
}

export interface ConnectedReply {
  t: 'connected';
  ok: number;
  failed: number;
  /** The first few failure reasons. */
  errors: string[];
  /** From the command to the last handshake done, ms. */
  ms: number;
}

export type WorkerMessage =
  | ConnectedReply
  | ({ t: 'counts' } & Counts)
  | { t: 'reset' }
  | ({ t: 'report'; histogram: string; samples: number } & Counts)
  | { t: 'closed' }
  | { t: 'heartbeating'; clients: number }
  | { t: 'fatal'; error: string };
