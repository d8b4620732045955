// Where room history is stored, resolved from the configuration for the wiring (embedded.ts,
// distributed/*-process.ts): the engine defaults by mode (docs/history.md#storage) and
// DATABASE_URL, when set, overrides history.postgresUrl (docs/configuration.md).
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
  };
}
