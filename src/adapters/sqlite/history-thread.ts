// HistoryStore in SQLite on a thread of its own (history-worker.ts): embedded mode's engine.
// Each call is a message to that thread and back; bodies come back as Buffers. The calls run
// there one after another, as they would on the event loop.
import { Worker } from 'node:worker_threads';
import type {
  AppendBatch,
  HistoryRecord,
  HistoryStore,
  PageBound,
  ProgressCursor,
  PruneRule,
  RecordPage,
  RoomHistory,
  RoomOpen,
} from '../../ports/index.js';
import { packAppend } from './append-pack.js';
import type { SqliteHistoryStoreOptions } from './history-store.js';
import type { StoreAnswer, StoreCall } from './history-worker.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

const asBuffers = (records: HistoryRecord[]): HistoryRecord[] =>
  records.map((r) => ({ ...r, body: Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength) }));

export class SqliteThreadHistoryStore implements HistoryStore {
  /** The thread takes its messages in order and runs each call to its end before the next. */
  readonly serial = true;
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private gone: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (a: StoreAnswer) => {
      const p = this.pending.get(a.id);
      if (p === undefined) return;
      this.pending.delete(a.id);
      if (a.ok) p.resolve(a.value);
      else p.reject(new Error(a.message));
    });
    const end = (err: Error): void => {
      this.gone ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (e: Error) => end(new Error(`history: SQLite thread failed: ${e.message}`, { cause: e })));
    worker.on('exit', () => end(new Error('history: SQLite thread stopped')));
  }

  /** Starts the thread and opens history.db there; rejects with the reason it could not. */
  static open(options: SqliteHistoryStoreOptions): Promise<SqliteThreadHistoryStore> {
    const worker = new Worker(new URL('./history-worker.js', import.meta.url), { workerData: options });
    return new Promise((resolve, reject) => {
      const fail = (e: Error): void => reject(new Error(`history: SQLite thread failed to start: ${e.message}`, { cause: e }));
      worker.once('error', fail);
      worker.once('message', (m: { ready: boolean; message?: string }) => {
        worker.off('error', fail);
        if (m.ready) resolve(new SqliteThreadHistoryStore(worker));
        else {
          void worker.terminate();
          reject(new Error(m.message ?? 'history: SQLite did not open'));
        }
      });
    });
  }

  private call<T>(method: StoreCall['method'], args: unknown[], transfer?: ArrayBuffer[]): Promise<T> {
    if (this.gone !== null) return Promise.reject(this.gone);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, method, args } satisfies StoreCall, transfer);
    });
  }

  open(room: string, recent: number): Promise<RoomOpen> {
    return this.call('open', [room, recent]);
  }

  /** Packed (append-pack.ts): a Buffer posted as is clones its whole backing store, often a much larger slab. */
  append(batches: AppendBatch[]): Promise<void> {
    const packed = packAppend(batches);
    return this.call('append', [packed], [packed.buffer]);
  }

  newEpoch(room: string, epoch: string, start: number): Promise<RoomHistory> {
    return this.call('newEpoch', [room, epoch, start]);
  }

  state(room: string): Promise<RoomHistory | null> {
    return this.call('state', [room]);
  }

  async after(room: string, after: number, limit: number): Promise<HistoryRecord[]> {
    return asBuffers(await this.call<HistoryRecord[]>('after', [room, after, limit]));
  }

  async pageAfter(room: string, after: number, bound: PageBound): Promise<RecordPage> {
    const page = await this.call<RecordPage>('pageAfter', [room, after, bound]);
    return { records: asBuffers(page.records), cut: page.cut };
  }

  async latest(room: string, n: number): Promise<HistoryRecord[]> {
    return asBuffers(await this.call<HistoryRecord[]>('latest', [room, n]));
  }

  async byProgress(room: string, from: ProgressCursor, toMs: number, bound: PageBound): Promise<RecordPage> {
    const page = await this.call<RecordPage>('byProgress', [room, from, toMs, bound]);
    return { records: asBuffers(page.records), cut: page.cut };
  }

  prune(rules: PruneRule[], nowMs: number): Promise<number> {
    return this.call('prune', [rules, nowMs]);
  }

  /** Closes history.db on its thread (after the calls before it), then stops the thread. */
  async close(): Promise<void> {
    if (this.gone !== null) return;
    await this.call('close', []).catch(() => {});
    this.gone = new Error('history: store closed');
    await this.worker.terminate();
  }
}
