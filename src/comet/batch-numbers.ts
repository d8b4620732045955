// Room batches numbered by the job lane that sends them (docs/internal-protocol.md#room-batch-numbers).
// A lane retries a BroadcastRoom call that failed — also one the comet had written and only
// answered too late — and may merge the retried batches with others; the numbers let a comet
// write each batch once. A room remembers, per lane, the highest number it wrote; a lane sends
// a room's batches one call after another in the room's order, so the batches of a call the
// room had already are always its first ones.
import { ROOM_BATCH_PARTS_MAX, type Proto, type RoomBatchParts } from '../ports/index.js';

/** Lanes a room remembers; the one it heard from least recently is forgotten first. */
const APPLIED_LANES_MAX = 4;

/** Why `parts` cannot number a call whose body has `bodyLength` bytes; null when they can. */
export function partsProblem(parts: RoomBatchParts, bodyLength: number): string | null {
  const { seqs, lens } = parts;
  const n = seqs.length;
  if (typeof parts.lane !== 'string' || parts.lane === '') return 'no lane';
  if (n === 0 || n > ROOM_BATCH_PARTS_MAX || lens.length !== n) return 'part count';
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const seq = seqs[i];
    const len = lens[i];
    if (!Number.isSafeInteger(seq) || seq <= 0 || (i > 0 && seq <= seqs[i - 1])) return 'numbers not increasing';
    if (!Number.isSafeInteger(len) || len < 0) return 'bad length';
    sum += len;
  }
  return sum === bodyLength ? null : 'lengths do not add up to the body';
}

/**
 * What of a call `applied` (a room's memory) has not had yet, and notes the call as written:
 * how many leading parts were written before (all of them: nothing to write) and the
 * proto left to write. `parts` passed partsProblem.
 */
export function unapplied(applied: Map<string, number>, proto: Proto, parts: RoomBatchParts): { skipped: number; rest: Proto | null } {
  const { lane, seqs, lens } = parts;
  const last = seqs[seqs.length - 1];
  const high = applied.get(lane);
  // Most recently heard from last.
  if (high !== undefined) applied.delete(lane);
  else if (applied.size >= APPLIED_LANES_MAX) applied.delete(applied.keys().next().value!);
  applied.set(lane, high !== undefined && high > last ? high : last);
  if (high === undefined || seqs[0] > high) return { skipped: 0, rest: proto };
  let skipped = 0;
  let offset = 0;
  while (skipped < seqs.length && seqs[skipped] <= high) offset += lens[skipped++];
  if (skipped === seqs.length) return { skipped, rest: null };
  return { skipped, rest: { ...proto, body: proto.body.subarray(offset) } };
}
