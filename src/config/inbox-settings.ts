// Durable inbox settings for the wiring (docs/inbox.md): where inboxes are kept — by default
// where room history is (its engine by mode, its data directory, its PostgreSQL server and
// pool, config/history-settings.ts) — what one store accepts (inbox.maxDevices, and bodies up
// to push.maxBytes in effect), and the retention its pruner applies.
import type { InboxStoreSettings } from '../adapters/open-inbox-store.js';
import type { InboxPruneRule } from '../ports/index.js';
import { historyStoreSettings } from './history-settings.js';
import { pushMaxBytes } from './push-limits.js';
import type { Config } from './schema.js';

export interface InboxSettings {
  store: InboxStoreSettings;
  retention: InboxPruneRule;
  /** Between retention runs, ms; 0 = none. */
  pruneEvery: number;
}

export function inboxSettings(
  config: Config,
  mode: 'embedded' | 'distributed',
  env: Record<string, string | undefined> = process.env,
): InboxSettings {
  const history = historyStoreSettings(config, mode, env);
  const { inbox } = config;
  return {
    store: {
      ...history,
      engine: inbox.engine ?? history.engine,
      dataDir: inbox.dataDir ?? history.dataDir,
      postgresUrl: inbox.postgresUrl ?? history.postgresUrl,
      maxDevices: inbox.maxDevices,
      maxBodyBytes: pushMaxBytes(config),
    },
    retention: { keep: inbox.keep, maxAgeMs: inbox.maxAge, dropAcked: inbox.dropAcked, deviceTtlMs: inbox.deviceTtl },
    pruneEvery: inbox.pruneEvery,
  };
}
