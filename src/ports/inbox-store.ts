// logic → durable per-user inbox storage (docs/inbox.md): each user's durable pushes with a
// per-user sequence number, one acknowledgement watermark per device (connection key), and
// retention. adapters/memory/inbox-store.ts (tests, `inbox.engine = "memory"`),
// adapters/sqlite/ (embedded mode) and adapters/postgres/ (distributed mode); every adapter
// passes test/contracts/inbox-store.contract.ts.
//
// Sequence numbers are per user, start at 1, increase by one with every stored message and
// are never reused, also after deletion or pruning: a device's watermark always means the
// same messages.
import type { PageBound } from './history-store.js';

/** What a durable push stores in each target user's inbox. */
export interface InboxItem {
  /** The push's message id (logic/message-id.ts), shown by the HTTP API. */
  id: string;
  op: number;
  body: Uint8Array;
  /** Server time when the push was accepted, Unix ms. */
  time: number;
}

/** One stored message of one user. */
export interface InboxEntry extends InboxItem {
  seq: number;
}

/** Where a user's inbox stands. A user with nothing stored yet has first 1, last 0. */
export interface InboxState {
  /** Lowest seq still stored (last + 1 when none is). */
  first: number;
  /** Highest seq ever assigned (0 = none yet). */
  last: number;
}

/** One device's acknowledgement watermark. */
export interface DeviceMark {
  key: string;
  /** Highest seq the device acknowledged (every message up to it is processed). */
  acked: number;
  /** Last time the device was registered or acknowledged, Unix ms. */
  seen: number;
}

/** A page of entries read within a PageBound (see HistoryStore.pageAfter for the byte rule). */
export interface InboxPage {
  entries: InboxEntry[];
  /** A further entry was there but left out for `maxBytes`. */
  cut: boolean;
}

/** Retention, applied by prune() to every user. */
export interface InboxPruneRule {
  /** At most this many entries per user (the newest are kept). */
  keep: number;
  /** No entry older than this (by `time`). */
  maxAgeMs: number;
  /** Also remove entries every device of the user has acknowledged (a user with no device keeps them). */
  dropAcked: boolean;
  /** Forget a device not seen for this long (its watermark then holds back nothing). */
  deviceTtlMs: number;
}

/** What one store accepts, set when it is opened (docs/inbox.md#inputs-refused). */
export interface InboxLimits {
  /** Devices kept per user: registering one more forgets the least recently seen (`inbox.maxDevices`). */
  maxDevices: number;
  /** Largest body one append stores, bytes (push.maxBytes in effect). */
  maxBodyBytes: number;
}

/** Most users one append names: far above what a push API request can name (docs/inbox.md#inputs-refused). */
export const INBOX_MAX_MIDS = 10_000;

/** The limits of a store opened without them: `inbox.maxDevices`' default and push.maxBytes' default. */
export const DEFAULT_INBOX_LIMITS: InboxLimits = { maxDevices: 32, maxBodyBytes: 256 * 1024 };

/** Thrown (rejected) by ack() for a seq above the user's last: never stored, so never delivered. */
export class InboxAckRangeError extends Error {
  constructor(
    readonly seq: number,
    readonly last: number,
  ) {
    super(`ack ${seq} is above the inbox's last seq ${last}`);
    this.name = 'InboxAckRangeError';
  }
}

/**
 * Every call refuses what an engine cannot store or compare, with a RangeError and no change
 * (adapters/inbox-input.ts): a mid outside int64 or given twice in one append, more than
 * INBOX_MAX_MIDS mids or a body over `maxBodyBytes` (InboxLimits) in one append, an op that is
 * not an int32, a time that is not an integer, a message id or device key with NUL, a device
 * key over 1,024 bytes, NaN as a seq, a time or in a prune rule.
 */
export interface InboxStore {
  /**
   * Stores `item` in the inbox of every user in `mids` (distinct) in one transaction: all or
   * none. Resolves to each user's new seq, in the order of `mids`.
   */
  append(mids: bigint[], item: InboxItem): Promise<number[]>;
  state(mid: bigint): Promise<InboxState>;
  /** Entries with seq > `after`, oldest first, within `bound`. */
  read(mid: bigint, after: number, bound: PageBound): Promise<InboxPage>;
  /**
   * The device's watermark. A device not known yet is registered at `start`, clamped to
   * [first - 1, last] (it then receives everything after it); a known one keeps its watermark.
   * Either way its `seen` becomes `nowMs`. A user keeps at most `maxDevices` devices
   * (InboxLimits): registering one more first forgets the least recently seen (lowest `seen`,
   * then lowest key by UTF-8 bytes).
   */
  device(mid: bigint, key: string, start: number, nowMs: number): Promise<number>;
  /**
   * Raises the device's watermark to `seq` (cumulative; a lower seq changes nothing) and
   * resolves to the watermark. A seq above the user's last rejects with InboxAckRangeError and
   * changes nothing. An unknown device is registered (as by device(), with the same cap).
   */
  ack(mid: bigint, key: string, seq: number, nowMs: number): Promise<number>;
  /** The user's devices, by key (at most `maxDevices`: the most recently seen). */
  devices(mid: bigint): Promise<DeviceMark[]>;
  /**
   * Removes the user's entries with seq ≤ `upTo` (Infinity: all) and, when `forgetDevices`, its
   * device watermarks. Seqs are not reused. Resolves to the number of entries removed.
   */
  delete(mid: bigint, upTo: number, forgetDevices: boolean): Promise<number>;
  /**
   * Applies retention to every user that has something to remove, in bounded transactions;
   * resolves to the number of entries removed. A rejected run keeps what its committed
   * transactions removed.
   */
  prune(rule: InboxPruneRule, nowMs: number): Promise<number>;
  close(): Promise<void>;
}
