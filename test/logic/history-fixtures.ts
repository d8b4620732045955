// Stored room history for the logic history tests.
import type { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import type { HistoryRecord } from '../../src/ports/index.js';

/** Records offsets from..to (`m<offset>` bodies, progress 1000 × offset). */
export function makeRecords(from: number, to: number): HistoryRecord[] {
  const out: HistoryRecord[] = [];
  for (let o = from; o <= to; o++) {
    out.push({ offset: o, id: `id-${o}`, op: 1000, body: Buffer.from(`m${o}`), mid: 7n, time: 1_767_225_600_000 + o, progress: o * 1000 });
  }
  return out;
}

/** Opens `room` and stores offsets 1..n; resolves to its epoch. */
export async function fill(store: MemoryHistoryStore, room: string, n: number): Promise<string> {
  const { epoch } = await store.open(room, 0);
  if (n > 0) await store.append([{ room, epoch, records: makeRecords(1, n) }]);
  return epoch;
}
