// An append call's records packed for the SQLite thread (history-thread.ts → history-worker.ts):
// posting an array of record objects makes the structured clone walk every field of every
// record (~1.2 µs a record on the event loop, docs/benchmarks.md#persisted-room-messages);
// here the numbers, mids and bodies travel in one transferred buffer and the ids in one
// string, so a call costs the event loop a few small objects whatever it holds.
import type { AppendBatch } from '../../ports/index.js';

/** Records of one room and epoch, in order, `count` of them. */
interface PackedRoom {
  room: string;
  epoch: string;
  count: number;
}

export interface PackedAppend {
  rooms: PackedRoom[];
  /** Every record's id, concatenated (lengths in the buffer). */
  ids: string;
  /**
   * Per record i of n: f64 [4i] offset, [4i+1] time, [4i+2] progress (NaN = none), [4i+3] op;
   * then i64 mids at 32n, u32 body lengths at 40n, u32 id lengths at 44n; the bodies from 48n.
   */
  buffer: ArrayBuffer;
}

export function packAppend(batches: AppendBatch[]): PackedAppend {
  let n = 0;
  let bodyBytes = 0;
  for (const b of batches) {
    n += b.records.length;
    for (const r of b.records) bodyBytes += r.body.byteLength;
  }
  const buffer = new ArrayBuffer(48 * n + bodyBytes);
  const nums = new Float64Array(buffer, 0, 4 * n);
  const mids = new BigInt64Array(buffer, 32 * n, n);
  const bodyLens = new Uint32Array(buffer, 40 * n, n);
  const idLens = new Uint32Array(buffer, 44 * n, n);
  const bytes = new Uint8Array(buffer);
  const rooms: PackedRoom[] = [];
  let ids = '';
  let i = 0;
  let at = 48 * n;
  for (const b of batches) {
    rooms.push({ room: b.room, epoch: b.epoch, count: b.records.length });
    for (const r of b.records) {
      nums[4 * i] = r.offset;
      nums[4 * i + 1] = r.time;
      nums[4 * i + 2] = r.progress ?? NaN;
      nums[4 * i + 3] = r.op;
      mids[i] = r.mid;
      bodyLens[i] = r.body.byteLength;
      idLens[i] = r.id.length;
      ids += r.id;
      bytes.set(r.body, at);
      at += r.body.byteLength;
      i++;
    }
  }
  return { rooms, ids, buffer };
}

/** The batches packAppend packed; bodies are views into `p.buffer`. */
export function unpackAppend(p: PackedAppend): AppendBatch[] {
  let n = 0;
  for (const r of p.rooms) n += r.count;
  const nums = new Float64Array(p.buffer, 0, 4 * n);
  const mids = new BigInt64Array(p.buffer, 32 * n, n);
  const bodyLens = new Uint32Array(p.buffer, 40 * n, n);
  const idLens = new Uint32Array(p.buffer, 44 * n, n);
  const out: AppendBatch[] = [];
  let i = 0;
  let at = 48 * n;
  let idAt = 0;
  for (const room of p.rooms) {
    const records = [];
    for (let k = 0; k < room.count; k++, i++) {
      const progress = nums[4 * i + 2];
      records.push({
        offset: nums[4 * i],
        id: p.ids.slice(idAt, (idAt += idLens[i])),
        op: nums[4 * i + 3],
        body: new Uint8Array(p.buffer, at, bodyLens[i]),
        mid: mids[i],
        time: nums[4 * i + 1],
        progress: Number.isNaN(progress) ? null : progress,
      });
      at += bodyLens[i];
    }
    out.push({ room: room.room, epoch: room.epoch, records });
  }
  return out;
}
