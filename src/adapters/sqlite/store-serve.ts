// A SQLite store on a thread of its own, the thread's side (store-thread.ts starts it): opens
// the store, tells the main thread whether it could, then runs each call it is sent.
import { parentPort } from 'node:worker_threads';
import type { StoreAnswer, StoreCall } from './store-thread.js';

type Methods = Record<string, (...args: unknown[]) => Promise<unknown>>;

/** An error as the answer carries it: name, message and its own plain fields. */
function answerError(id: number, e: unknown): StoreAnswer {
  if (!(e instanceof Error)) return { id, ok: false, name: 'Error', message: String(e), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (v === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof v)) fields[k] = v;
  return { id, ok: false, name: e.name, message: e.message, fields };
}

/**
 * Opens the store with `open` and serves its methods; `args` may unpack a call's arguments
 * (a packed append). A store that cannot be opened ends the thread with its reason.
 */
export function serveStore(open: () => object, args: (call: StoreCall) => unknown[] = (call) => call.args): void {
  const port = parentPort!;
  let store: Methods;
  try {
    store = open() as Methods;
    port.postMessage({ ready: true });
  } catch (e) {
    port.postMessage({ ready: false, message: (e as Error).message });
    process.exit(0);
  }
  port.on('message', (call: StoreCall) => {
    let run: Promise<unknown>;
    try {
      run = store[call.method].call(store, ...args(call));
    } catch (e) {
      run = Promise.reject(e);
    }
    run.then(
      (value) => {
        port.postMessage({ id: call.id, ok: true, value } satisfies StoreAnswer);
        if (call.method === 'close') port.close();
      },
      (e: unknown) => port.postMessage(answerError(call.id, e)),
    );
  });
}
