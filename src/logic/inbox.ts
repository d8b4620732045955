// Logic's side of the durable inbox (docs/protocol.md#durable-inbox, docs/http-api.md#inbox):
// a durable push is stored in every target user's inbox before it is queued, comets read
// backlogs and store device watermarks through here, and the HTTP API reads and deletes.
import {
  InboxAckRangeError,
  type DeviceMark,
  type InboxAckRequest,
  type InboxEntry,
  type InboxReply,
  type InboxRequest,
  type InboxStore,
} from '../ports/index.js';

/** What logic takes from `[inbox]` (delivery part). */
export interface InboxSettings {
  /** Operations whose pushes to mids are durable unless the request says `durable=0`. */
  durableOps: readonly number[];
  /** A device the inbox has never seen starts this many messages before the newest (0: from now on). */
  newDeviceRecent: number;
}

/** The inbox storage failed: the caller answers 503 (HTTP) or refuses with code 4 (ops 24, 26). */
export class InboxUnavailableError extends Error {
  override name = 'InboxUnavailableError';
  constructor(cause: unknown) {
    super(`inbox unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** A page of one user's inbox as the HTTP API shows it. */
export interface InboxApiPage {
  first: number;
  last: number;
  entries: InboxEntry[];
  /** Seq to ask `after` for the next page; undefined when this page reached `last`. */
  next: number | undefined;
}

export class Inbox {
  private readonly durable: ReadonlySet<number>;
  private readonly recent: number;
  /** Durable pushes stored, and those refused for a storage failure (metrics). */
  readonly counts = { stored: 0, unavailable: 0 };

  constructor(
    private readonly store: InboxStore,
    settings: InboxSettings,
  ) {
    this.durable = new Set(settings.durableOps);
    this.recent = settings.newDeviceRecent;
  }

  /** Whether a push to mids of `op` is durable: the request's `durable` when given, else `inbox.durableOps`. */
  isDurable(op: number, asked: boolean | undefined): boolean {
    return asked ?? this.durable.has(op);
  }

  /** Stores the message in each user's inbox (all or none); resolves to their seqs, in the order of `mids`. */
  async append(mids: bigint[], id: string, op: number, body: Uint8Array, time: number): Promise<number[]> {
    let seqs: number[];
    try {
      seqs = await this.store.append(mids, { id, op, body, time });
    } catch (err) {
      this.counts.unavailable++;
      throw new InboxUnavailableError(err);
    }
    this.counts.stored++;
    return seqs;
  }

  /**
   * A page for a comet. The range is read before the page, so a page that is not full holds
   * every message still stored up to `last`: comet may then take `last` as delivered
   * (comet/inbox-delivery.ts). Read after it, a message stored in between would be skipped.
   */
  async read(req: InboxRequest): Promise<InboxReply> {
    const { mid } = req;
    const { first, last } = await this.store.state(mid);
    let acked = 0;
    let after = req.after;
    if (after === undefined) {
      acked = await this.store.device(mid, req.key, last - this.recent, Date.now());
      after = acked;
    }
    const page = await this.store.read(mid, after, { limit: req.limit, maxBytes: req.maxBytes });
    return { acked, first, last, records: page.entries.map((e) => ({ seq: e.seq, op: e.op, body: e.body })), cut: page.cut };
  }

  /** Raises the device's watermark; an InboxAckRangeError passes through, any other failure becomes InboxUnavailableError. */
  async ack(req: InboxAckRequest): Promise<number> {
    try {
      return await this.store.ack(req.mid, req.key, req.seq, Date.now());
    } catch (err) {
      if (err instanceof InboxAckRangeError) throw err;
      throw new InboxUnavailableError(err);
    }
  }

  /** A page for the HTTP API: entries with seq > `after`, at most `limit` and about `maxBytes`. */
  async page(mid: bigint, after: number, limit: number, maxBytes: number): Promise<InboxApiPage> {
    try {
      const page = await this.store.read(mid, after, { limit, maxBytes });
      const { first, last } = await this.store.state(mid);
      const end = page.entries.at(-1)?.seq;
      return { first, last, entries: page.entries, next: end !== undefined && end < last ? end : undefined };
    } catch (err) {
      throw new InboxUnavailableError(err);
    }
  }

  async devices(mid: bigint): Promise<DeviceMark[]> {
    try {
      return await this.store.devices(mid);
    } catch (err) {
      throw new InboxUnavailableError(err);
    }
  }

  async delete(mid: bigint, upTo: number, forgetDevices: boolean): Promise<number> {
    try {
      return await this.store.delete(mid, upTo, forgetDevices);
    } catch (err) {
      throw new InboxUnavailableError(err);
    }
  }
}
