// InboxStore in SQLite on a thread of its own (inbox-worker.ts): embedded mode's engine. Each
// call is a message to that thread and back, run there one after another; bodies come back as
// Buffers, and the errors the port names (InboxAckRangeError, RangeError) as their own classes.
import {
  InboxAckRangeError,
  type DeviceMark,
  type InboxItem,
  type InboxLimits,
  type InboxPage,
  type InboxPruneRule,
  type InboxState,
  type InboxStore,
  type PageBound,
} from '../../ports/index.js';
import { checkItem, checkMids, inboxLimits } from '../inbox-input.js';
import type { SqliteInboxStoreOptions } from './inbox-store.js';
import { StoreThread } from './store-thread.js';

function revive(name: string, message: string, fields: Record<string, unknown>): Error {
  if (name === 'InboxAckRangeError') return new InboxAckRangeError(fields.seq as number, fields.last as number);
  if (name === 'RangeError') return new RangeError(message);
  return new Error(message);
}

export class SqliteThreadInboxStore implements InboxStore {
  private constructor(
    private readonly thread: StoreThread,
    private readonly limits: InboxLimits,
  ) {}

  /** Starts the thread and opens inbox.db there; rejects with the reason it could not. */
  static async open(options: SqliteInboxStoreOptions): Promise<SqliteThreadInboxStore> {
    const limits = inboxLimits(options);
    return new SqliteThreadInboxStore(await StoreThread.open(new URL('./inbox-worker.js', import.meta.url), options, 'inbox', revive), limits);
  }

  private call<T>(method: keyof InboxStore, args: unknown[], transfer?: ArrayBuffer[]): Promise<T> {
    return this.thread.call<T>(method, args, transfer);
  }

  /**
   * Refused here already when over the limits, before anything is copied to the thread. The
   * body goes as a copy of its own bytes: a Buffer posted as is clones its whole backing
   * store, often a much larger slab.
   */
  append(mids: bigint[], item: InboxItem): Promise<number[]> {
    try {
      checkMids(mids);
      checkItem(item, this.limits.maxBodyBytes);
    } catch (e) {
      return Promise.reject(e);
    }
    const body = new Uint8Array(item.body);
    return this.call('append', [mids, { ...item, body }], [body.buffer]);
  }

  state(mid: bigint): Promise<InboxState> {
    return this.call('state', [mid]);
  }

  async read(mid: bigint, after: number, bound: PageBound): Promise<InboxPage> {
    const page = await this.call<InboxPage>('read', [mid, after, bound]);
    return { entries: page.entries.map((e) => ({ ...e, body: Buffer.from(e.body.buffer, e.body.byteOffset, e.body.byteLength) })), cut: page.cut };
  }

  device(mid: bigint, key: string, start: number, nowMs: number): Promise<number> {
    return this.call('device', [mid, key, start, nowMs]);
  }

  ack(mid: bigint, key: string, seq: number, nowMs: number): Promise<number> {
    return this.call('ack', [mid, key, seq, nowMs]);
  }

  devices(mid: bigint): Promise<DeviceMark[]> {
    return this.call('devices', [mid]);
  }

  delete(mid: bigint, upTo: number, forgetDevices: boolean): Promise<number> {
    return this.call('delete', [mid, upTo, forgetDevices]);
  }

  prune(rule: InboxPruneRule, nowMs: number): Promise<number> {
    return this.call('prune', [rule, nowMs]);
  }

  /** Closes inbox.db on its thread (after the calls before it), then stops the thread. */
  close(): Promise<void> {
    return this.thread.close();
  }
}
