// Which room types keep history and how much one join may replay (docs/history.md#room-types),
// picked out of [roomTypes] for logic (logic/history-reader.ts) by the wiring.
import type { Config } from './schema.js';

/** Per room type that keeps history (the `live` of `live://1000`): the most records one join replays. */
export type HistoryRoomTypes = ReadonlyMap<string, { replayMax: number }>;

export function historyRoomTypes(config: Config): HistoryRoomTypes {
  const out = new Map<string, { replayMax: number }>();
  for (const [type, t] of Object.entries(config.roomTypes)) if (t.history) out.set(type, { replayMax: t.replayMax });
  return out;
}
