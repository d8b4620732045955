// The `history` request of an auth token or an op-12 body (docs/history.md#opting-in):
// `{}`, `{"last": N}` or `{"since": O, "epoch": "…"}`, bounded so a client cannot ask for
// more than a join may carry. Shared by the token parser and comet's op-12 JSON form.
import type { HistoryAsk } from '../ports/index.js';

/** Most records one join may ask for (the room type's replayMax caps it further). */
const MAX_HISTORY_LAST = 10_000;
/** Longest epoch name a client may send back. */
const MAX_EPOCH_LENGTH = 64;

/** Why a history request was refused; the message names the field. */
export class HistoryAskError extends Error {
  override name = 'HistoryAskError';
}

/** Validates a decoded JSON value as a history request; throws HistoryAskError. */
export function historyAsk(value: unknown): HistoryAsk {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HistoryAskError('history must be an object');
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (k !== 'last' && k !== 'since' && k !== 'epoch') throw new HistoryAskError(`history.${k.slice(0, 32)} is not a known field`);
  }
  const hasSince = v.since !== undefined;
  const hasEpoch = v.epoch !== undefined;
  if (hasSince || hasEpoch) {
    if (v.last !== undefined) throw new HistoryAskError('history takes either last or since with epoch');
    if (!hasSince || !hasEpoch) throw new HistoryAskError('history.since and history.epoch go together');
    const since = v.since;
    if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0) throw new HistoryAskError('history.since must be an integer >= 0');
    const epoch = v.epoch;
    if (typeof epoch !== 'string' || epoch === '' || epoch.length > MAX_EPOCH_LENGTH) {
      throw new HistoryAskError(`history.epoch must be a string of 1 to ${MAX_EPOCH_LENGTH} characters`);
    }
    return { last: 0, since, epoch };
  }
  if (v.last === undefined) return { last: 0 };
  const last = v.last;
  if (typeof last !== 'number' || !Number.isInteger(last) || last < 0 || last > MAX_HISTORY_LAST) {
    throw new HistoryAskError(`history.last must be an integer from 0 to ${MAX_HISTORY_LAST}`);
  }
  return { last };
}
