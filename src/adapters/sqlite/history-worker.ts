// The SQLite history store's thread (history-thread.ts starts it): node:sqlite is synchronous,
// and an append spread over many rooms holds its thread for tens of milliseconds
// (docs/benchmarks.md#room-history-storage) — here, not on the event loop that writes to sockets.
import { workerData } from 'node:worker_threads';
import { unpackAppend, type PackedAppend } from './append-pack.js';
import { SqliteHistoryStore, type SqliteHistoryStoreOptions } from './history-store.js';
import { serveStore } from './store-serve.js';

serveStore(
  () => new SqliteHistoryStore(workerData as SqliteHistoryStoreOptions),
  (call) => (call.method === 'append' ? [unpackAppend(call.args[0] as PackedAppend)] : call.args),
);
