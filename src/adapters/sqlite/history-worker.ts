// The SQLite history store's thread (history-thread.ts starts it): node:sqlite is synchronous,
// and an append spread over many rooms holds its thread for tens of milliseconds
// (docs/benchmarks.md#room-history-storage) — here, not on the event loop that writes to sockets.
import { parentPort, workerData } from 'node:worker_threads';
import type { HistoryStore } from '../../ports/index.js';
import { unpackAppend, type PackedAppend } from './append-pack.js';
import { SqliteHistoryStore, type SqliteHistoryStoreOptions } from './history-store.js';

/** A call from the main thread: a HistoryStore method and its arguments. */
export interface StoreCall {
  id: number;
  method: Exclude<keyof HistoryStore, 'serial'>;
  args: unknown[];
}

/** The answer: the value, or the error's message. */
export type StoreAnswer = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };

const port = parentPort!;
let store: SqliteHistoryStore;
try {
  store = new SqliteHistoryStore(workerData as SqliteHistoryStoreOptions);
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ ready: false, message: (e as Error).message });
  process.exit(0);
}

port.on('message', (call: StoreCall) => {
  const method = store[call.method].bind(store) as (...args: unknown[]) => Promise<unknown>;
  const args = call.method === 'append' ? [unpackAppend(call.args[0] as PackedAppend)] : call.args;
  method(...args).then(
    (value) => {
      port.postMessage({ id: call.id, ok: true, value } satisfies StoreAnswer);
      if (call.method === 'close') port.close();
    },
    (e: unknown) => port.postMessage({ id: call.id, ok: false, message: e instanceof Error ? e.message : String(e) } satisfies StoreAnswer),
  );
});
