// HistoryStore in SQLite on a thread of its own (history-worker.ts): embedded mode's engine.
// Each call is a message to that thread and back; bodies come back as Buffers. The calls run
// there one after another, as they would on the event loop.
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
import { StoreThread } from './store-thread.js';

const asBuffers = (records: HistoryRecord[]): HistoryRecord[] =>
  records.map((r) => ({ ...r, body: Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength) }));

export class SqliteThreadHistoryStore implements HistoryStore {
  /** The thread takes its messages in order and runs each call to its end before the next. */
  readonly serial = true;

  private constructor(private readonly thread: StoreThread) {}

  /** Starts the thread and opens history.db there; rejects with the reason it could not. */
  static async open(options: SqliteHistoryStoreOptions): Promise<SqliteThreadHistoryStore> {
    return new SqliteThreadHistoryStore(await StoreThread.open(new URL('./history-worker.js', import.meta.url), options, 'history'));
  }

  private call<T>(method: Exclude<keyof HistoryStore, 'serial'>, args: unknown[], transfer?: ArrayBuffer[]): Promise<T> {
    return this.thread.call<T>(method, args, transfer);
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
  close(): Promise<void> {
    return this.thread.close();
  }
}
