// Room history settings for the wiring (embedded.ts, distributed/*-process.ts): where history is
// stored — the engine defaults by mode (docs/history.md#storage), DATABASE_URL, when set,
// overrides history.postgresUrl (docs/configuration.md), and the PostgreSQL pool's size and
// connect timeout — and which room types keep history and
// how much one join may replay (docs/history.md#room-types), for logic (logic/history-reader.ts).
import type { HistoryStoreSettings } from '../adapters/open-history-store.js';
import type { Config } from './schema.js';

/** Embedded mode keeps history in SQLite, distributed mode in PostgreSQL, unless history.engine says otherwise. */
export function historyStoreSettings(
  config: Config,
  mode: 'embedded' | 'distributed',
  env: Record<string, string | undefined> = process.env,
): HistoryStoreSettings {
  const { history } = config;
  const url = env.DATABASE_URL?.trim();
  return {
    engine: history.engine ?? (mode === 'embedded' ? 'sqlite' : 'postgres'),
    dataDir: history.dataDir,
    postgresUrl: url ? url : history.postgresUrl,
    postgresMaxConnections: history.postgresMaxConnections,
    postgresConnectTimeoutMs: history.postgresConnectTimeout,
  };
}

/** Per room type that keeps history (the `live` of `live://1000`): the most records one join replays. */
export type HistoryRoomTypes = ReadonlyMap<string, { replayMax: number; keep: number }>;

export function historyRoomTypes(config: Config): HistoryRoomTypes {
  const out = new Map<string, { replayMax: number; keep: number }>();
  for (const [type, t] of Object.entries(config.roomTypes)) if (t.history) out.set(type, { replayMax: t.replayMax, keep: t.keep });
  return out;
}
