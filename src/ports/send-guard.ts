// logic: what a danmaku sender must not repeat (docs/history.md#limits), kept where every
// logic process sees it — in the process in embedded mode (adapters/memory/send-guard.ts),
// in Redis in distributed mode (adapters/redis/send-guard.ts):
//   - slow mode: "has this user sent in this room within T";
//   - nonces: "this user's nonce → the first answer", within a window.
// `user` is the sender's identity (its mid, or its connection key when anonymous).

/** What a nonce claim found. */
export type NonceClaim =
  /** The caller is the first: it sends, then settle()s or release()s. */
  | { state: 'first'; token: string }
  /** Another send with this nonce is in progress (in another process): ask again later. */
  | { state: 'pending' }
  /** Answered already: this is the first send's answer. */
  | { state: 'answered'; answer: Uint8Array };

export interface SendGuard {
  /**
   * Marks `user` as having sent in `room` for `ms`. Resolves to a token when it had not
   * within `ms` (the send may go ahead), to undefined when it had (slow mode).
   */
  claimSlot(user: string, room: string, ms: number): Promise<string | undefined>;
  /** Gives a slot back (the send did not happen); a no-op when `token` no longer holds it. */
  releaseSlot(user: string, room: string, token: string): Promise<void>;
  /** Claims `nonce` for `user`: pending for at most `pendingMs`, until settled or released. */
  claimNonce(user: string, nonce: string, pendingMs: number): Promise<NonceClaim>;
  /** Stores the answer of a claimed nonce, kept for `ms`. */
  settleNonce(user: string, nonce: string, answer: Uint8Array, ms: number): Promise<void>;
  /** Forgets a claimed nonce (the send did not happen: a retry is tried again); a no-op when `token` no longer holds it. */
  releaseNonce(user: string, nonce: string, token: string): Promise<void>;
  close(): Promise<void>;
}
