// A SQLite store on a thread of its own, main-thread side: node:sqlite is synchronous, so the
// history (history-thread.ts) and the inbox (inbox-thread.ts) each run their engine on a
// worker (store-serve.ts is its side). Each call is a message there and back; the thread takes
// them in order and runs each to its end before the next.
import { Worker } from 'node:worker_threads';

/** A call from the main thread: a method of the store and its arguments. */
export interface StoreCall {
  id: number;
  method: string;
  args: unknown[];
}

/** The answer: the value, or the error's name, message and own fields (a typed error is rebuilt from them). */
export type StoreAnswer =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; name: string; message: string; fields: Record<string, unknown> };

/** Rebuilds an error of the thread: its class is not carried across. */
export type Revive = (name: string, message: string, fields: Record<string, unknown>) => Error;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class StoreThread {
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private gone: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly label: string,
    private readonly revive: Revive,
  ) {
    worker.on('message', (a: StoreAnswer) => {
      const p = this.pending.get(a.id);
      if (p === undefined) return;
      this.pending.delete(a.id);
      if (a.ok) p.resolve(a.value);
      else p.reject(this.revive(a.name, a.message, a.fields));
    });
    const end = (err: Error): void => {
      this.gone ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (e: Error) => end(new Error(`${label}: SQLite thread failed: ${e.message}`, { cause: e })));
    worker.on('exit', () => end(new Error(`${label}: SQLite thread stopped`)));
  }

  /**
   * Starts `script` with `options` as its workerData; resolves once it opened its store, rejects
   * with the reason it could not. `label` begins the thread's own error messages.
   */
  static open(script: URL, options: unknown, label: string, revive: Revive = (_, message) => new Error(message)): Promise<StoreThread> {
    const worker = new Worker(script, { workerData: options });
    return new Promise((resolve, reject) => {
      const fail = (e: Error): void => reject(new Error(`${label}: SQLite thread failed to start: ${e.message}`, { cause: e }));
      worker.once('error', fail);
      worker.once('message', (m: { ready: boolean; message?: string }) => {
        worker.off('error', fail);
        if (m.ready) resolve(new StoreThread(worker, label, revive));
        else {
          void worker.terminate();
          reject(new Error(m.message ?? `${label}: SQLite did not open`));
        }
      });
    });
  }

  call<T>(method: string, args: unknown[], transfer?: ArrayBuffer[]): Promise<T> {
    if (this.gone !== null) return Promise.reject(this.gone);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, method, args } satisfies StoreCall, transfer);
    });
  }

  /** Closes the store on its thread (after the calls before it), then stops the thread. */
  async close(): Promise<void> {
    if (this.gone !== null) return;
    await this.call('close', []).catch(() => {});
    this.gone = new Error(`${this.label}: store closed`);
    await this.worker.terminate();
  }
}
