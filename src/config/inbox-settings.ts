// Durable inbox settings for the wiring (docs/inbox.md): where inboxes are kept — by default
// where room history is (its engine by mode, its data directory, its PostgreSQL server and
// pool, config/history-settings.ts) — what one store accepts (inbox.maxDevices, and bodies up
// to push.maxBytes in effect), and the retention its pruner applies; and the `[inbox]`
// delivery keys for the roles (docs/configuration.md#inbox--durable-inbox-logic-comet): logic
// decides which pushes are durable and where new devices start, comet pages backlogs and holds
// live messages.
import type { InboxStoreSettings } from '../adapters/open-inbox-store.js';
import type { CometInboxSettings } from '../comet/comet.js';
import type { InboxSettings } from '../logic/inbox.js';
import type { InboxPruneRule } from '../ports/index.js';
import { historyStoreSettings } from './history-settings.js';
import { pushMaxBytes } from './push-limits.js';
import type { Config } from './schema.js';

export interface InboxStorageSettings {
  store: InboxStoreSettings;
  retention: InboxPruneRule;
  /** Between retention runs, ms; 0 = none. */
  pruneEvery: number;
}

export function inboxSettings(
  config: Config,
  mode: 'embedded' | 'distributed',
  env: Record<string, string | undefined> = process.env,
): InboxStorageSettings {
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

export function logicInboxSettings(config: Config): InboxSettings {
  const { inbox } = config;
  return { durableOps: [...inbox.durableOps], newDeviceRecent: inbox.newDeviceRecent };
}

export function cometInboxSettings(config: Config): CometInboxSettings {
  const { inbox } = config;
  return { pageMessages: inbox.pageMessages, pageBytes: inbox.pageBytes, holdMessages: inbox.holdMessages, holdBytes: inbox.holdBytes };
}
