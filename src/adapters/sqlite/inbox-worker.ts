// The SQLite inbox store's thread (inbox-thread.ts starts it): node:sqlite is synchronous, and
// a store call, or a retention transaction, holds its thread while it runs — here, not on the
// event loop that writes to sockets.
import { workerData } from 'node:worker_threads';
import { SqliteInboxStore, type SqliteInboxStoreOptions } from './inbox-store.js';
import { serveStore } from './store-serve.js';

serveStore(() => new SqliteInboxStore(workerData as SqliteInboxStoreOptions));
