// Builds the HistoryStore the settings name (config/history-settings.ts resolves them):
// SQLite in `dataDir`, PostgreSQL at `postgresUrl`, or process memory (docs/history.md#storage).
// Each engine's code (pg, the SQLite thread) is imported only when that engine is opened: a
// process without history, or with another engine, does not carry it.
import type { Logger } from '../log.js';
import type { HistoryStore } from '../ports/index.js';

export interface HistoryStoreSettings {
  engine: 'sqlite' | 'postgres' | 'memory';
  /** Directory of history.db (sqlite). */
  dataDir: string;
  /** Connection string (postgres). */
  postgresUrl: string;
  /** Connections in the pool (postgres). */
  postgresMaxConnections: number;
  /** Longest a connection attempt, or a wait for a pooled connection, may take (postgres), ms. */
  postgresConnectTimeoutMs: number;
}

/** Opens the store; rejects with the engine's reason when it cannot (no directory, no server). */
export async function openHistoryStore(settings: HistoryStoreSettings, log: Logger): Promise<HistoryStore> {
  switch (settings.engine) {
    case 'memory': {
      const { MemoryHistoryStore } = await import('./memory/history-store.js');
      return new MemoryHistoryStore();
    }
    case 'sqlite': {
      const { SqliteThreadHistoryStore } = await import('./sqlite/history-thread.js');
      // On a thread of its own: node:sqlite blocks while it writes (docs/benchmarks.md#room-history-storage).
      const store = await SqliteThreadHistoryStore.open({ dataDir: settings.dataDir });
      log.info({ engine: 'sqlite', dataDir: settings.dataDir }, 'history store open');
      return store;
    }
    case 'postgres': {
      // Not awaited: a process starts while PostgreSQL is down, and its calls fail like any
      // outage until it answers (docs/history.md#offsets-and-epochs).
      const { PostgresHistoryStore } = await import('./postgres/history-store.js');
      const store = PostgresHistoryStore.open({
        url: settings.postgresUrl,
        maxConnections: settings.postgresMaxConnections,
        connectTimeoutMs: settings.postgresConnectTimeoutMs,
        log,
      });
      const server = redact(settings.postgresUrl);
      store.ensureSchema().then(
        () =>
          log.info(
            { engine: 'postgres', server, maxConnections: settings.postgresMaxConnections, connectTimeoutMs: settings.postgresConnectTimeoutMs },
            'history store open',
          ),
        (err: Error) => log.warn({ engine: 'postgres', server, err: err.message }, 'history store unreachable at start; retried at each use'),
      );
      return store;
    }
  }
}

/** The URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return '(unparsable URL)';
  }
}
