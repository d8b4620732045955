// The newest numbered messages of each room, as this comet delivered them
// (docs/history.md#replay-cache). A joiner asking for the last N is served from here when the
// tail holds them, without a history read; a read that lags behind what was delivered here is
// completed from here instead of read again. Why: in a join storm every joiner of a room asks
// for the same records, and the store answering each one alone was the storm's limit.
//
// A tail is trusted only while it is contiguous: a gap, an offset going back, or a message
// without an offset empties it and forgets its epoch. Its epoch comes from the job's op-18
// announcement in the stream, or from a history reply whose range reaches into the tail.
import { asBuffer } from '../lib/bytes.js';
import type { HistoryReply, ReplayRecord } from '../ports/index.js';
import { HEADER_LEN, writeHeader } from '../protocol/frame.js';
import { Op } from '../protocol/ops.js';

/** comet.replayCache's default: 64 MiB holds the newest 100 records of some 4,000 busy rooms of 150-byte danmaku. */
export const DEFAULT_REPLAY_CACHE_BYTES = 64 << 20;

/** What one cached record costs beyond its bytes (its Buffer view and slot), counted against the budget. */
export const FRAME_OVERHEAD = 96;
/** What one room's tail costs with nothing in it (the object, its map entry), counted against the budget. */
export const TAIL_OVERHEAD = 256;

export class RoomTail {
  /** '' = not known: the tail is not served. */
  epoch = '';
  /** Holds every record of its epoch from the epoch's first offset on (announcement seen, nothing evicted). */
  complete = false;
  /** A history reply of this epoch reached into the tail: the store numbers as the tail does (served `since` only then). */
  confirmed = false;
  /** Whether first / last say anything: a numbered message or an announcement was seen since the last reset. */
  private numbered = false;
  /** Offsets held: [first, last]; first = last + 1 when none. */
  first = 0;
  last = 0;
  /** Frame bytes held. */
  bytes = 0;
  /** Changes with every change of what is held: memos built from the tail check it. */
  version = 0;
  /** The last replay built from this tail (replay.ts), shared by the joiners until the tail changes. */
  memo: unknown = null;
  /** When the last read meant to fill this tail with stored records started (replay.ts); -Infinity: never. */
  windowAt = -Infinity;
  /** Whole inner frames (header + body), oldest first, from `head`. */
  private frames: Buffer[] = [];
  private head = 0;

  get count(): number {
    return this.frames.length - this.head;
  }

  /** Forgets everything (the numbering was interrupted). */
  reset(): void {
    this.version++;
    this.memo = null;
    this.epoch = '';
    this.complete = false;
    this.confirmed = false;
    this.numbered = false;
    this.first = 0;
    this.last = 0;
    this.bytes = 0;
    this.frames = [];
    this.head = 0;
  }

  /** Takes the frames of a room batch (an op-9 body); returns the change in bytes held. */
  append(body: Uint8Array, maxBytes: number, maxRecords: number): number {
    const before = this.bytes;
    this.version++;
    this.memo = null;
    const b = asBuffer(body);
    // First pass: where the numbered frames this tail keeps start (announcements and resets apply in order).
    const kept: number[] = [];
    let keptBytes = 0;
    for (let at = 0; at + HEADER_LEN <= b.length;) {
      const len = b.readInt32BE(at);
      if (len < HEADER_LEN || at + len > b.length) break;
      const op = b.readInt32BE(at + 8);
      const seq = b.readUInt32BE(at + 12);
      if (op === Op.RoomState) {
        kept.length = 0;
        keptBytes = 0;
        this.announced(b.subarray(at + HEADER_LEN, at + len));
      } else if (seq === 0) {
        kept.length = 0;
        keptBytes = 0;
        this.reset();
      } else {
        if (!this.numbered || seq !== this.last + 1) {
          // The first message seen, a gap, or a restart of the numbering: start over here.
          if (this.numbered) this.reset();
          kept.length = 0;
          keptBytes = 0;
          this.numbered = true;
          this.first = seq;
          this.last = seq - 1;
        }
        kept.push(at);
        keptBytes += len;
        this.last = seq;
      }
      at += len;
    }
    if (kept.length > 0) {
      // One unpooled copy of just the frames kept: a pooled slab or the batch would stay pinned by one record.
      const copy = Buffer.allocUnsafeSlow(keptBytes);
      let to = 0;
      for (const at of kept) {
        const len = b.readInt32BE(at);
        b.copy(copy, to, at, at + len);
        this.frames.push(copy.subarray(to, to + len));
        this.bytes += len + FRAME_OVERHEAD;
        to += len;
      }
    }
    while (this.count > 0 && (this.bytes > maxBytes || this.count > maxRecords)) this.evictOldest();
    return this.bytes - before;
  }

  /**
   * Puts stored records of the tail's epoch in front of it: those older than the tail that
   * continue into it without a gap, newest first while the bounds allow. Only once the tail's
   * epoch is known (learn(): a reply reaching into the tail); returns the change in bytes held.
   */
  seed(epoch: string, records: readonly ReplayRecord[], maxBytes: number, maxRecords: number): number {
    if (epoch === '' || epoch !== this.epoch || this.count === 0) return 0;
    let i = records.length;
    while (i > 0 && records[i - 1].offset >= this.first) i--;
    if (i === 0 || records[i - 1].offset !== this.first - 1) return 0;
    // Back from the tail's first while contiguous and within the bounds.
    let j = i;
    let bytes = this.bytes;
    let count = this.count;
    while (j > 0 && records[j - 1].offset === this.first - (i - j) - 1) {
      const cost = HEADER_LEN + records[j - 1].body.length + FRAME_OVERHEAD;
      if (bytes + cost > maxBytes || count + 1 > maxRecords) break;
      bytes += cost;
      count++;
      j--;
    }
    if (j === i) return 0;
    let size = 0;
    for (let k = j; k < i; k++) size += HEADER_LEN + records[k].body.length;
    const copy = Buffer.allocUnsafeSlow(size);
    const front: Buffer[] = [];
    let at = 0;
    for (let k = j; k < i; k++) {
      const r = records[k];
      const len = HEADER_LEN + r.body.length;
      writeHeader(copy, at, r.body.length, 1, r.op, r.offset);
      copy.set(r.body, at + HEADER_LEN);
      front.push(copy.subarray(at, at + len));
      at += len;
    }
    this.frames = [...front, ...this.frames.slice(this.head)];
    this.head = 0;
    this.first = records[j].offset;
    const added = bytes - this.bytes;
    this.bytes = bytes;
    this.version++;
    this.memo = null;
    return added;
  }

  /** Drops the oldest record; returns its bytes. */
  evictOldest(): number {
    const f = this.frames[this.head++];
    this.version++;
    this.memo = null;
    this.bytes -= f.length + FRAME_OVERHEAD;
    this.first++;
    this.complete = false;
    if (this.head >= 1024 && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
    return f.length + FRAME_OVERHEAD;
  }

  /** Learns from logic's history reply for this room: the epoch, when the reply reaches into the tail. */
  learn(r: HistoryReply): void {
    if (r.epoch === '' || !this.numbered || r.last < this.first) return;
    // The store holds offsets of the tail's range: they are the same epoch (offsets never repeat within
    // one). Another epoch there means the numbering the tail followed was not the one stored (a job died
    // before the epoch it announced was written, and the next renumbered): forget the tail.
    if (this.epoch === '') this.epoch = r.epoch;
    else if (this.epoch !== r.epoch) {
      this.reset();
      return;
    }
    this.confirmed = true;
  }

  /** After learn() and seed(): a confirmed tail reaching back to the epoch's lowest stored offset holds everything stored. */
  reachesBack(epoch: string, storedFirst: number): void {
    if (this.confirmed && this.epoch === epoch && this.count > 0 && this.first <= storedFirst) this.complete = true;
  }

  /** The newest `n` records held (fewer when fewer are held), oldest first. */
  newest(n: number): ReplayRecord[] {
    return this.slice(Math.max(this.first, this.last - n + 1));
  }

  /** The records from offset `from` (≥ first) to the newest. */
  slice(from: number): ReplayRecord[] {
    const out: ReplayRecord[] = [];
    for (let i = this.head + (from - this.first); i < this.frames.length; i++) {
      const f = this.frames[i];
      out.push({ offset: f.readUInt32BE(12), op: f.readInt32BE(8), body: f.subarray(HEADER_LEN) });
    }
    return out;
  }

  /** The job's op-18 announcement of a new epoch starting at `first`. */
  private announced(json: Buffer): void {
    let s: unknown;
    try {
      s = JSON.parse(json.toString('utf8'));
    } catch {
      this.reset();
      return;
    }
    const a = s as { epoch?: unknown; first?: unknown };
    this.reset();
    if (typeof a.epoch !== 'string' || a.epoch === '' || typeof a.first !== 'number' || !Number.isSafeInteger(a.first) || a.first < 1) return;
    this.epoch = a.epoch;
    this.complete = true;
    this.numbered = true;
    this.first = a.first;
    this.last = a.first - 1;
  }
}

/** The tails of one comet's rooms, within a byte budget shared by all (least recently fed go first). */
export class RoomTails<R extends object = object> {
  private readonly tails = new Map<R, RoomTail>();
  private total = 0;

  constructor(
    /** All tails together. */
    private readonly budget: number,
    /** One room's tail: more could not be replayed at once anyway. */
    private readonly roomBytes: number,
    private readonly roomRecords: number,
  ) {}

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.tails.size;
  }

  get(room: R): RoomTail | undefined {
    return this.tails.get(room);
  }

  /** Feeds `room`'s batch (an op-9 body that carries offsets or op 18). */
  append(room: R, body: Uint8Array): void {
    if (this.budget <= 0) return;
    let t = this.tails.get(room);
    if (t === undefined) {
      t = new RoomTail();
      this.total += TAIL_OVERHEAD;
    } else this.tails.delete(room); // re-inserted last: most recently fed
    this.tails.set(room, t);
    this.total += t.append(body, Math.min(this.roomBytes, this.budget), this.roomRecords);
    this.fit(t);
  }

  /** Puts stored records in front of `room`'s tail (RoomTail.seed). */
  seed(room: R, epoch: string, records: readonly ReplayRecord[]): void {
    const t = this.tails.get(room);
    if (t === undefined) return;
    this.total += t.seed(epoch, records, Math.min(this.roomBytes, this.budget), this.roomRecords);
    this.fit(t);
  }

  /** Back within the budget: the least recently fed tails go, `t` (just grown) last. */
  private fit(t: RoomTail): void {
    while (this.total > this.budget && this.tails.size > 0) {
      const [oldest, ot] = this.tails.entries().next().value!;
      if (ot === t && t.count > 0) this.total -= t.evictOldest();
      else this.drop(oldest);
    }
  }

  /** Forgets `room`'s tail (the room was deleted here: what it missed meanwhile is unknown). */
  drop(room: R): void {
    const t = this.tails.get(room);
    if (t === undefined) return;
    this.total -= t.bytes + TAIL_OVERHEAD;
    this.tails.delete(room);
  }
}
