// The numbering of a BroadcastRoom call's room batches, in gRPC metadata (never in the
// request: goim's .proto stays as it is, and a goim comet ignores metadata it does not know).
// docs/internal-protocol.md#room-batch-numbers:
//
//   tsim-batch-parts: <lane>;<seq>:<len>,<seq>:<len>,…
import type { Metadata } from '@grpc/grpc-js';
import { ROOM_BATCH_PARTS_MAX, type RoomBatchParts } from '../../ports/index.js';

export const BATCH_PARTS_HEADER = 'tsim-batch-parts';
/** A longer value is not read (16 parts of 16-digit numbers take about 400 characters). */
const MAX_VALUE = 1024;
const LANE = /^[0-9A-Za-z_-]{1,64}$/;
const PART = /^(\d{1,16}):(\d{1,10})$/;

export function encodeBatchParts(parts: RoomBatchParts): string {
  let s = `${parts.lane};`;
  for (let i = 0; i < parts.seqs.length; i++) s += `${i > 0 ? ',' : ''}${parts.seqs[i]}:${parts.lens[i]}`;
  return s;
}

/**
 * The numbering a call carries: undefined when it carries none (goim's job), null when it
 * carries one that cannot be read (several values, too long, malformed, more than
 * ROOM_BATCH_PARTS_MAX parts, numbers not increasing).
 */
export function readBatchParts(md: Metadata): RoomBatchParts | null | undefined {
  const values = md.get(BATCH_PARTS_HEADER);
  if (values.length === 0) return undefined;
  if (values.length > 1) return null;
  const v = values[0];
  return typeof v === 'string' ? parseBatchParts(v) : null;
}

function parseBatchParts(value: string): RoomBatchParts | null {
  if (value.length > MAX_VALUE) return null;
  const semi = value.indexOf(';');
  if (semi < 0) return null;
  const lane = value.slice(0, semi);
  if (!LANE.test(lane)) return null;
  const items = value.slice(semi + 1).split(',', ROOM_BATCH_PARTS_MAX + 1);
  if (items.length > ROOM_BATCH_PARTS_MAX) return null;
  const seqs: number[] = [];
  const lens: number[] = [];
  for (const item of items) {
    const m = PART.exec(item);
    if (m === null) return null;
    const seq = Number(m[1]);
    const len = Number(m[2]);
    if (!Number.isSafeInteger(seq) || seq <= 0 || (seqs.length > 0 && seq <= seqs[seqs.length - 1]) || len > 0x7fffffff) return null;
    seqs.push(seq);
    lens.push(len);
  }
  return { lane, seqs, lens };
}
