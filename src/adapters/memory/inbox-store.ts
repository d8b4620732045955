// InboxStore in process memory: the reference semantics of test/contracts/inbox-store.contract.ts,
// used by role tests and by `inbox.engine = "memory"`. `failing` makes every call reject, so
// tests can play a storage outage.
import {
  InboxAckRangeError,
  type DeviceMark,
  type InboxEntry,
  type InboxItem,
  type InboxLimits,
  type InboxPage,
  type InboxPruneRule,
  type InboxState,
  type InboxStore,
  type PageBound,
} from '../../ports/index.js';
import { fitBytes, readBytes, readLimit } from '../history-bounds.js';
import { checkItem, checkKey, checkMids, checkRule, checkSeq, inboxLimits } from '../inbox-input.js';

interface Inbox {
  /** By seq, ascending. */
  entries: InboxEntry[];
  last: number;
  devices: Map<string, DeviceMark>;
}

/** Least recently seen first; ties by key, UTF-8 bytes (as SQLite's BINARY and PostgreSQL's "C" order them). */
const bySeen = (a: DeviceMark, b: DeviceMark): number => a.seen - b.seen || Buffer.compare(Buffer.from(a.key), Buffer.from(b.key));

export class MemoryInboxStore implements InboxStore {
  private readonly users = new Map<bigint, Inbox>();
  private readonly limits: InboxLimits;
  /** While set, every call rejects with this error (a storage outage). */
  failing: Error | null = null;

  constructor(limits: Partial<InboxLimits> = {}) {
    this.limits = inboxLimits(limits);
  }

  private check(): void {
    if (this.failing !== null) throw this.failing;
  }

  private inbox(mid: bigint): Inbox {
    let u = this.users.get(mid);
    if (u === undefined) {
      u = { entries: [], last: 0, devices: new Map() };
      this.users.set(mid, u);
    }
    return u;
  }

  private static stateOf(u: Inbox): InboxState {
    return { first: u.entries[0]?.seq ?? u.last + 1, last: u.last };
  }

  async append(mids: bigint[], item: InboxItem): Promise<number[]> {
    this.check();
    checkMids(mids);
    checkItem(item, this.limits.maxBodyBytes);
    const body = Uint8Array.from(item.body);
    return mids.map((mid) => {
      const u = this.inbox(mid);
      u.last++;
      u.entries.push({ seq: u.last, id: item.id, op: item.op, body, time: item.time });
      return u.last;
    });
  }

  async state(mid: bigint): Promise<InboxState> {
    this.check();
    const u = this.users.get(mid);
    return u === undefined ? { first: 1, last: 0 } : MemoryInboxStore.stateOf(u);
  }

  async read(mid: bigint, after: number, bound: PageBound): Promise<InboxPage> {
    this.check();
    checkSeq('after', after);
    const u = this.users.get(mid);
    if (u === undefined) return { entries: [], cut: false };
    const from = u.entries.filter((e) => e.seq > after).slice(0, readLimit(bound.limit));
    const { count, cut } = fitBytes(
      from.map((e) => e.body.length),
      readBytes(bound.maxBytes),
    );
    return { entries: from.slice(0, count).map((e) => ({ ...e, body: Uint8Array.from(e.body) })), cut };
  }

  async device(mid: bigint, key: string, start: number, nowMs: number): Promise<number> {
    this.check();
    checkKey(key);
    checkSeq('start', start);
    checkSeq('nowMs', nowMs);
    const u = this.inbox(mid);
    let d = u.devices.get(key);
    if (d === undefined) {
      const { first, last } = MemoryInboxStore.stateOf(u);
      d = { key, acked: Math.min(Math.max(Math.trunc(start), first - 1), last), seen: nowMs };
      this.register(u, d);
    }
    d.seen = nowMs;
    return d.acked;
  }

  async ack(mid: bigint, key: string, seq: number, nowMs: number): Promise<number> {
    this.check();
    checkKey(key);
    checkSeq('seq', seq);
    checkSeq('nowMs', nowMs);
    const last = this.users.get(mid)?.last ?? 0;
    if (seq > last) throw new InboxAckRangeError(seq, last);
    const u = this.inbox(mid);
    let d = u.devices.get(key);
    if (d === undefined) {
      d = { key, acked: 0, seen: nowMs };
      this.register(u, d);
    }
    d.acked = Math.max(d.acked, Math.trunc(seq));
    d.seen = nowMs;
    return d.acked;
  }

  /** Adds a new device, first forgetting the least recently seen ones past maxDevices - 1. */
  private register(u: Inbox, d: DeviceMark): void {
    if (u.devices.size >= this.limits.maxDevices) {
      const oldest = [...u.devices.values()].sort(bySeen);
      for (const gone of oldest.slice(0, u.devices.size - this.limits.maxDevices + 1)) u.devices.delete(gone.key);
    }
    u.devices.set(d.key, d);
  }

  async devices(mid: bigint): Promise<DeviceMark[]> {
    this.check();
    const u = this.users.get(mid);
    if (u === undefined) return [];
    const newest = [...u.devices.values()].sort(bySeen).slice(-this.limits.maxDevices);
    return newest.map((d) => ({ ...d })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(mid: bigint, upTo: number, forgetDevices: boolean): Promise<number> {
    this.check();
    checkSeq('upTo', upTo);
    const u = this.users.get(mid);
    if (u === undefined) return 0;
    const before = u.entries.length;
    u.entries = u.entries.filter((e) => e.seq > upTo);
    if (forgetDevices) u.devices.clear();
    return before - u.entries.length;
  }

  async prune(rule: InboxPruneRule, nowMs: number): Promise<number> {
    this.check();
    checkRule(rule, nowMs);
    let removed = 0;
    for (const u of this.users.values()) {
      for (const [key, d] of u.devices) if (nowMs - d.seen > rule.deviceTtlMs) u.devices.delete(key);
      let floor = u.last - Math.max(0, Math.trunc(rule.keep));
      if (rule.dropAcked && u.devices.size > 0) {
        // A loop, not Math.min(...list): a spread of a very long list overflows the stack.
        let low = Infinity;
        for (const d of u.devices.values()) low = Math.min(low, d.acked);
        floor = Math.max(floor, low);
      }
      const before = u.entries.length;
      u.entries = u.entries.filter((e) => e.seq > floor && nowMs - e.time <= rule.maxAgeMs);
      removed += before - u.entries.length;
    }
    return removed;
  }

  async close(): Promise<void> {}
}
