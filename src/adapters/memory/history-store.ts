// HistoryStore in process memory: the reference semantics of test/contracts/history-store.contract.ts,
// used by role tests and by `history.engine = "memory"`. `failing` makes every call reject, so
// tests can play a storage outage.
import { newEpochName } from '../../lib/epoch-name.js';
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
import { fitBytes, readBytes } from '../history-bounds.js';

interface Room {
  state: RoomHistory;
  /** Records of every epoch, by offset (ascending). */
  records: HistoryRecord[];
}

export class MemoryHistoryStore implements HistoryStore {
  private readonly rooms = new Map<string, Room>();
  /** While set, every call rejects with this error (a storage outage). */
  failing: Error | null = null;

  private check(): void {
    if (this.failing !== null) throw this.failing;
  }

  private room(room: string): Room {
    let r = this.rooms.get(room);
    if (r === undefined) {
      r = { state: { epoch: newEpochName(), epochStart: 1, first: 1, last: 0 }, records: [] };
      this.rooms.set(room, r);
    }
    return r;
  }

  async open(room: string, recent: number): Promise<RoomOpen> {
    this.check();
    const r = this.room(room);
    const tail = recent > 0 ? r.records.slice(-recent) : [];
    return { ...r.state, recent: tail.map((x) => ({ id: x.id, offset: x.offset })) };
  }

  async append(batches: AppendBatch[]): Promise<void> {
    this.check();
    // Validate everything first: the call stores all or nothing.
    const plans: Array<{ r: Room; add: HistoryRecord[] }> = [];
    const next = new Map<string, number>();
    for (const b of batches) {
      const r = this.room(b.room);
      if (b.epoch !== r.state.epoch) throw new Error(`history: ${b.room} is in epoch ${r.state.epoch}, not ${b.epoch}`);
      let last = next.get(b.room) ?? r.state.last;
      const add: HistoryRecord[] = [];
      for (const rec of b.records) {
        if (rec.offset <= last) {
          const have = r.records.find((x) => x.offset === rec.offset);
          if (have?.id === rec.id) continue;
          throw new Error(`history: ${b.room} offset ${rec.offset} is already stored with another id`);
        }
        if (rec.offset !== last + 1) throw new Error(`history: ${b.room} expects offset ${last + 1}, got ${rec.offset}`);
        add.push({ ...rec, body: Buffer.from(rec.body) });
        last = rec.offset;
      }
      next.set(b.room, last);
      plans.push({ r, add });
    }
    for (const { r, add } of plans) {
      for (const rec of add) r.records.push(rec);
      if (add.length > 0) {
        r.state.last = add[add.length - 1].offset;
        if (r.state.first > r.state.last) r.state.first = add[0].offset;
      }
    }
  }

  async newEpoch(room: string, epoch: string, start: number): Promise<RoomHistory> {
    this.check();
    const r = this.room(room);
    // start 1: the room's offsets ran out of the u32 wire seq and start over; the old records go.
    if (start === 1) r.records = [];
    else if (start <= r.state.last) throw new Error(`history: a new epoch of ${room} must start after ${r.state.last}`);
    r.state = { epoch, epochStart: start, first: start, last: start - 1 };
    return { ...r.state };
  }

  async state(room: string): Promise<RoomHistory | null> {
    this.check();
    const r = this.rooms.get(room);
    return r === undefined ? null : { ...r.state };
  }

  async after(room: string, after: number, limit: number): Promise<HistoryRecord[]> {
    this.check();
    const r = this.rooms.get(room);
    if (r === undefined) return [];
    return r.records.filter((x) => x.offset > after).slice(0, limit);
  }

  async pageAfter(room: string, after: number, bound: PageBound): Promise<RecordPage> {
    return within(await this.after(room, after, bound.limit), bound);
  }

  async latest(room: string, n: number): Promise<HistoryRecord[]> {
    this.check();
    const r = this.rooms.get(room);
    if (r === undefined || n <= 0) return [];
    return r.records.filter((x) => x.offset >= r.state.first).slice(-n);
  }

  async byProgress(room: string, from: ProgressCursor, toMs: number, bound: PageBound): Promise<RecordPage> {
    this.check();
    const r = this.rooms.get(room);
    if (r === undefined) return { records: [], cut: false };
    const after = (x: HistoryRecord): boolean => x.progress! > from.progress || (x.progress === from.progress && x.offset > from.after);
    const list = r.records
      .filter((x) => x.progress !== null && x.progress < toMs && after(x))
      .sort((a, b) => a.progress! - b.progress! || a.offset - b.offset)
      .slice(0, Math.max(0, bound.limit));
    return within(list, bound);
  }

  async prune(rules: PruneRule[], nowMs: number): Promise<number> {
    this.check();
    let removed = 0;
    for (const [key, r] of this.rooms) {
      const rule = rules.find((x) => key.startsWith(x.prefix));
      if (rule === undefined) continue;
      const before = r.records.length;
      const oldest = nowMs - rule.maxAgeMs;
      r.records = r.records.filter((x) => x.time >= oldest).slice(-rule.keep);
      removed += before - r.records.length;
      const firstKept = r.records.find((x) => x.offset >= r.state.epochStart);
      r.state.first = firstKept?.offset ?? r.state.last + 1;
    }
    return removed;
  }

  async close(): Promise<void> {}
}

/** The leading records of `list` that fit `bound.maxBytes`. */
function within(list: HistoryRecord[], bound: PageBound): RecordPage {
  const { count, cut } = fitBytes(
    list.map((x) => x.body.byteLength),
    readBytes(bound.maxBytes),
  );
  return { records: list.slice(0, count), cut };
}
