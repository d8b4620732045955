// What logic asks of an auth mode (config `auth.mode`): turn a comet's Connect request into
// the identity of the connection, or a denial whose reason class is counted and logged.
import type { ConnectRequest, HistoryAsk } from '../../ports/index.js';

/** Who a connection is, as the comet needs it; `key` '' lets logic generate one. */
export interface AuthIdentity {
  mid: bigint;
  key: string;
  roomId: string;
  accepts: number[];
  /** The room was granted by the mode (token claim, webhook): op 12 may not leave it for another. */
  roomFixed?: boolean;
  /** The accepts were granted by the mode: op 14 may only add ops among them. */
  acceptsFixed?: boolean;
  /** Rooms op 19 may join besides roomId (a `rooms` claim); absent = no list (docs/security.md#claims). */
  rooms?: string[];
  /** The client opted in to room history (docs/history.md#opting-in). */
  history?: HistoryAsk;
  /** The client opted in to the durable inbox of its mid (docs/protocol.md#durable-inbox). */
  inbox?: boolean;
}

/**
 * Why a connection was refused, coarse enough to count (metrics) and never carrying
 * token content.
 */
export type DenyReason =
  | 'malformed'
  | 'bad_signature'
  | 'bad_algorithm'
  | 'expired'
  | 'not_yet_valid'
  | 'claims'
  | 'unknown_key'
  | 'key_unavailable'
  | 'webhook_denied'
  | 'webhook_timeout'
  | 'webhook_error'
  | 'internal';

export interface AuthDenial {
  ok: false;
  reason: DenyReason;
  /** Short, for the log; no secret or token content. */
  message: string;
  /** What connect rejects with instead of an AuthDeniedError (goim mode keeps goim's errors). */
  error?: Error;
}

export type AuthResult = ({ ok: true } & AuthIdentity) | AuthDenial;

export interface Authenticator {
  /** Resolves to the identity or a denial; a rejection is a bug (logic counts it as 'internal'). */
  authenticate(req: ConnectRequest): Promise<AuthResult>;
  /** Cancels calls in flight (webhook); logic calls it when it closes. */
  close?(): Promise<void>;
}

/** What Logic.connect rejects with when a mode refuses a connection. */
export class AuthDeniedError extends Error {
  readonly reason: DenyReason;
  constructor(reason: DenyReason, message: string) {
    super(`auth denied: ${message}`);
    this.name = 'AuthDeniedError';
    this.reason = reason;
  }
}

export function deny(reason: DenyReason, message: string): AuthDenial {
  return { ok: false, reason, message };
}

export function allow(identity: AuthIdentity): AuthResult {
  return { ok: true, ...identity };
}

/** Auth counters as logic keeps them (read by metrics). */
export interface AuthStats {
  accepted: number;
  denied: Partial<Record<DenyReason, number>>;
}
