// SendGuard in one process (embedded mode): two maps of entries with an expiry, bounded.
// Entries are checked for expiry when read; past `maxEntries` the expired ones at the front
// (the oldest) are dropped, then the oldest live one, so a flood of distinct users or nonces
// holds memory at the bound (and can at worst shorten what the oldest ones remember).
import { systemClock, type Clock } from '../../lib/clock.js';
import { UniqueIds } from '../../lib/unique-id.js';
import type { NonceClaim, SendGuard } from '../../ports/send-guard.js';

export interface MemorySendGuardOptions {
  /** Entries per map (slots, nonces); default 100,000. */
  maxEntries?: number;
  clock?: Clock;
}

interface Entry {
  expires: number;
  /** A claim's token, or a settled answer. */
  value: string | Uint8Array;
}

class ExpiringMap {
  private readonly m = new Map<string, Entry>();
  /**
   * Entries in the order they were set, each beside its key; one whose key now holds another
   * entry (set again, deleted, expired on read) is stale and skipped. Evicting from the Map's
   * own order instead walks the holes V8 leaves at its front on every call: at the cap, one
   * eviction per send cost a fifth of the event loop (docs/benchmarks.md).
   */
  private keys: string[] = [];
  private entries: Entry[] = [];
  private head = 0;

  constructor(
    private readonly max: number,
    private readonly clock: Clock,
  ) {}

  get(key: string): Entry | undefined {
    const e = this.m.get(key);
    if (e === undefined) return undefined;
    if (e.expires > this.clock.now()) return e;
    this.m.delete(key);
    return undefined;
  }

  set(key: string, value: string | Uint8Array, ms: number): void {
    this.m.delete(key);
    if (this.m.size >= this.max) this.evict();
    const e = { expires: this.clock.now() + ms, value };
    this.m.set(key, e);
    this.keys.push(key);
    this.entries.push(e);
    // Stale references past twice the entries are dropped in one pass: O(1) per set on average.
    if (this.keys.length - this.head > 2 * this.max + 1024) this.compact();
  }

  delete(key: string): void {
    this.m.delete(key);
  }

  get size(): number {
    return this.m.size;
  }

  /** Drops the oldest entries (expired or not: the oldest expire first) until one more fits. */
  private evict(): void {
    while (this.m.size >= this.max && this.head < this.keys.length) {
      const key = this.keys[this.head];
      const e = this.entries[this.head];
      this.head++;
      if (this.m.get(key) === e) this.m.delete(key);
    }
    if (this.head > 1024 && this.head * 2 > this.keys.length) this.compact();
  }

  private compact(): void {
    const keys: string[] = [];
    const entries: Entry[] = [];
    for (let i = this.head; i < this.keys.length; i++) {
      if (this.m.get(this.keys[i]) !== this.entries[i]) continue;
      keys.push(this.keys[i]);
      entries.push(this.entries[i]);
    }
    this.keys = keys;
    this.entries = entries;
    this.head = 0;
  }
}

const tokens = new UniqueIds();
const token = (): string => tokens.next();
/** One key per (user, room or nonce), unambiguous whatever either holds. */
const keyOf = (user: string, what: string): string => `${user.length}:${user}${what}`;

export class MemorySendGuard implements SendGuard {
  private readonly slots: ExpiringMap;
  private readonly nonces: ExpiringMap;

  constructor(opts: MemorySendGuardOptions = {}) {
    const max = opts.maxEntries ?? 100_000;
    const clock = opts.clock ?? systemClock;
    this.slots = new ExpiringMap(max, clock);
    this.nonces = new ExpiringMap(max, clock);
  }

  async claimSlot(user: string, room: string, ms: number): Promise<string | undefined> {
    const key = keyOf(user, room);
    if (this.slots.get(key) !== undefined) return undefined;
    const t = token();
    this.slots.set(key, t, ms);
    return t;
  }

  async releaseSlot(user: string, room: string, t: string): Promise<void> {
    const key = keyOf(user, room);
    if (this.slots.get(key)?.value === t) this.slots.delete(key);
  }

  async claimNonce(user: string, nonce: string, pendingMs: number): Promise<NonceClaim> {
    const key = keyOf(user, nonce);
    const e = this.nonces.get(key);
    if (e === undefined) {
      const t = token();
      this.nonces.set(key, t, pendingMs);
      return { state: 'first', token: t };
    }
    return typeof e.value === 'string' ? { state: 'pending' } : { state: 'answered', answer: e.value };
  }

  async settleNonce(user: string, nonce: string, answer: Uint8Array, ms: number): Promise<void> {
    this.nonces.set(keyOf(user, nonce), Uint8Array.from(answer), ms);
  }

  async releaseNonce(user: string, nonce: string, t: string): Promise<void> {
    const key = keyOf(user, nonce);
    if (this.nonces.get(key)?.value === t) this.nonces.delete(key);
  }

  /** Entries held (slots + nonces), expired ones not yet dropped included. */
  get size(): number {
    return this.slots.size + this.nonces.size;
  }

  async close(): Promise<void> {}
}
