// Builds the InboxStore the settings name (config/inbox-settings.ts resolves them): SQLite in
// `dataDir`, PostgreSQL at `postgresUrl`, or process memory (docs/inbox.md#engines). Each
// engine's code (pg, the SQLite thread) is imported only when that engine is opened.
import type { Logger } from '../log.js';
import type { InboxLimits, InboxStore } from '../ports/index.js';
import { redact, type HistoryStoreSettings } from './open-history-store.js';

/** The same fields as the history's (by default the inbox is kept where history is), and the store's limits (unset: their defaults). */
export type InboxStoreSettings = HistoryStoreSettings & Partial<InboxLimits>;

const limitsOf = (s: InboxStoreSettings): Partial<InboxLimits> => ({ maxDevices: s.maxDevices, maxBodyBytes: s.maxBodyBytes });

/** Opens the store; rejects with the engine's reason when it cannot (no directory). A PostgreSQL server down at start is not waited for. */
export async function openInboxStore(settings: InboxStoreSettings, log: Logger): Promise<InboxStore> {
  switch (settings.engine) {
    case 'memory': {
      const { MemoryInboxStore } = await import('./memory/inbox-store.js');
      return new MemoryInboxStore(limitsOf(settings));
    }
    case 'sqlite': {
      const { SqliteThreadInboxStore } = await import('./sqlite/inbox-thread.js');
      const store = await SqliteThreadInboxStore.open({ dataDir: settings.dataDir, ...limitsOf(settings) });
      log.info({ engine: 'sqlite', dataDir: settings.dataDir }, 'inbox store open');
      return store;
    }
    case 'postgres': {
      // Not awaited: a process starts while PostgreSQL is down; its calls reject until it answers (docs/inbox.md#failures).
      const { PostgresInboxStore } = await import('./postgres/inbox-store.js');
      const store = PostgresInboxStore.open({
        url: settings.postgresUrl,
        maxConnections: settings.postgresMaxConnections,
        connectTimeoutMs: settings.postgresConnectTimeoutMs,
        log,
        ...limitsOf(settings),
      });
      const server = redact(settings.postgresUrl);
      store.ensureSchema().then(
        () => log.info({ engine: 'postgres', server, maxConnections: settings.postgresMaxConnections }, 'inbox store open'),
        (err: Error) => log.warn({ engine: 'postgres', server, err: err.message }, 'inbox store unreachable at start; retried at each use'),
      );
      return store;
    }
  }
}

/**
 * The store the settings name, opened at its first use: a process that never stores a durable
 * push nor serves an inbox client (a goim configuration) creates no file and no table. An open
 * that fails is tried again at the next use (each use meanwhile rejects with its reason).
 * prune() and close() of a store never used do nothing.
 */
export function lazyInboxStore(settings: InboxStoreSettings, log: Logger): InboxStore {
  let opening: Promise<InboxStore> | undefined;
  const open = (): Promise<InboxStore> => {
    opening ??= openInboxStore(settings, log).catch((err: unknown) => {
      opening = undefined;
      throw err;
    });
    return opening;
  };
  return {
    append: async (mids, item) => (await open()).append(mids, item),
    state: async (mid) => (await open()).state(mid),
    read: async (mid, after, bound) => (await open()).read(mid, after, bound),
    device: async (mid, key, start, nowMs) => (await open()).device(mid, key, start, nowMs),
    ack: async (mid, key, seq, nowMs) => (await open()).ack(mid, key, seq, nowMs),
    devices: async (mid) => (await open()).devices(mid),
    delete: async (mid, upTo, forgetDevices) => (await open()).delete(mid, upTo, forgetDevices),
    prune: async (rule, nowMs) => (opening === undefined ? 0 : (await open()).prune(rule, nowMs)),
    close: async () => {
      const store = await opening?.catch(() => undefined);
      opening = undefined;
      await store?.close();
    },
  };
}
