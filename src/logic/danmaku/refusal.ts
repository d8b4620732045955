// The answers to a danmaku (docs/history.md#sending): op 5 bodies `{"code":0,"id":"…"}` or
// `{"code":N,"message":"…"}`, and the metric reason of each refusal code.

export const Refusal = {
  invalid: 1,
  anonymous: 2,
  not_in_room: 3,
  too_long: 4,
  rate_limit: 5,
  slow_mode: 6,
  moderation_rejected: 7,
  moderation_unavailable: 8,
  send_off: 9,
  queue_refused: 10,
  /** The send guard (Redis in distributed mode) did not answer: same code as the queue's, try again. */
  unavailable: 10,
} as const;

export type RefusalReason = keyof typeof Refusal;

const MESSAGES: Record<RefusalReason, string> = {
  invalid: 'invalid danmaku',
  anonymous: 'sign in to send',
  not_in_room: 'not in that room',
  too_long: 'too long',
  rate_limit: 'sending too fast',
  slow_mode: 'slow mode',
  moderation_rejected: 'rejected',
  moderation_unavailable: 'moderation unavailable',
  send_off: 'this room takes no danmaku',
  queue_refused: 'try again',
  unavailable: 'try again',
};

/** The reason names, in code order (metrics list every one, zero or not). */
export const REFUSAL_REASONS = Object.keys(Refusal) as RefusalReason[];

/**
 * Refusals that pass by themselves. Their nonce is not answered for good (a retry with the
 * same nonce is tried again) and the slow-mode claim, when taken, is given back.
 */
export function isPassing(reason: RefusalReason): boolean {
  return (
    reason === 'rate_limit' || reason === 'slow_mode' || reason === 'moderation_unavailable' || reason === 'queue_refused' || reason === 'unavailable'
  );
}

export function acceptedBody(id: string): Uint8Array {
  return Buffer.from(`{"code":0,"id":${JSON.stringify(id)}}`);
}

const refusalBodies = new Map<RefusalReason, Uint8Array>(
  REFUSAL_REASONS.map((r) => [r, Buffer.from(`{"code":${Refusal[r]},"message":${JSON.stringify(MESSAGES[r])}}`)]),
);

/** The op-5 body of a refusal; moderation's reason, when it gave one, as the message of code 7. */
export function refusalBody(reason: RefusalReason, message?: string): Uint8Array {
  if (message !== undefined) return Buffer.from(`{"code":${Refusal[reason]},"message":${JSON.stringify(message)}}`);
  return refusalBodies.get(reason)!;
}
