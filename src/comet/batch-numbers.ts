// Room batches numbered by the job lane that sends them (docs/internal-protocol.md#room-batch-numbers).
// A lane retries a BroadcastRoom call that failed — also one the comet had written and only
// answered too late — and may merge the retried batches with others; the numbers let a comet
// write each batch once. A room remembers, per lane, the highest number it wrote; a lane sends
// a room's batches one call after another in the room's order, so the batches of a call the
// room had already are always its first ones.
import { asBuffer } from '../lib/bytes.js';
import { ROOM_BATCH_PARTS_MAX, type Proto, type RoomBatchParts } from '../ports/index.js';
import { HEADER_LEN } from '../protocol/frame.js';
import { Op } from '../protocol/ops.js';

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
 * proto left to write; null when the parts to skip do not end on a frame boundary of an
 * op-9 body (a sender's lengths that split a frame: the call is written whole, and noted).
 * `parts` passed partsProblem.
 */
export function unapplied(applied: Map<string, number>, proto: Proto, parts: RoomBatchParts): { skipped: number; rest: Proto | null } | null {
  const { lane, seqs, lens } = parts;
  const last = seqs[seqs.length - 1];
  const high = applied.get(lane);
  let skipped = 0;
  let offset = 0;
  if (high !== undefined) while (skipped < seqs.length && seqs[skipped] <= high) offset += lens[skipped++];
  const cut = skipped > 0 && skipped < seqs.length && proto.op === Op.Raw && !frameBoundary(proto.body, offset);
  // Most recently heard from last.
  if (high !== undefined) applied.delete(lane);
  else if (applied.size >= APPLIED_LANES_MAX) applied.delete(applied.keys().next().value!);
  // A new lane's id is copied flat: the parsed one may be a slice keeping the whole header alive.
  applied.set(high !== undefined ? lane : Buffer.from(lane, 'latin1').toString('latin1'), high !== undefined && high > last ? high : last);
  if (cut) return null;
  if (skipped === 0) return { skipped: 0, rest: proto };
  if (skipped === seqs.length) return { skipped, rest: null };
  return { skipped, rest: { ...proto, body: proto.body.subarray(offset) } };
}

/** Whether `offset` is where a frame of an op-9 body starts (or its end). */
function frameBoundary(body: Uint8Array, offset: number): boolean {
  const b = asBuffer(body);
  let at = 0;
  while (at < offset && at + HEADER_LEN <= b.length) {
    const len = b.readInt32BE(at);
    if (len < HEADER_LEN) return false;
    at += len;
  }
  return at === offset;
}
