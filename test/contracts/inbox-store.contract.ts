// What every InboxStore promises (src/ports/inbox-store.ts, docs/inbox.md), run against each
// engine: test/adapters/memory-inbox-store.test.ts, sqlite-inbox-store.test.ts and
// postgres-inbox-store.test.ts. Cases go through the port only; an engine's own file tests
// what only it has (a restart, its tables, several processes).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_INBOX_LIMITS,
  INBOX_MAX_MIDS,
  InboxAckRangeError,
  type InboxEntry,
  type InboxItem,
  type InboxLimits,
  type InboxPruneRule,
  type InboxStore,
} from '../../src/ports/index.js';
import { opener, type ContractOptions, type Opened } from './subject.js';

const T0 = 1_767_225_600_000;
const DAY = 86_400_000;

/** The item of push `n`: id, body and time derived from it unless given. */
export function item(n: number, fields: Partial<InboxItem> = {}): InboxItem {
  return { id: `msg-${n}`, op: 1000, body: Buffer.from(`{"n":${n}}`), time: T0 + n, ...fields };
}

/** A byte budget no test reaches. */
const ANY_BYTES = 2 ** 40;

/** Entries as plain values (body as a Buffer), so engines returning any Uint8Array compare equal. */
const plain = (list: InboxEntry[]): InboxEntry[] => list.map((e) => ({ ...e, body: Buffer.from(e.body) }));
const seqs = (list: InboxEntry[]): number[] => list.map((e) => e.seq);

async function readAll(s: InboxStore, mid: bigint, after = 0): Promise<InboxEntry[]> {
  return (await s.read(mid, after, { limit: 100_000, maxBytes: ANY_BYTES })).entries;
}

/** Appends items `from`..`to` to `mids`, one call each, in order. */
async function fill(s: InboxStore, mids: bigint[], from: number, to: number, fields: Partial<InboxItem> = {}): Promise<void> {
  for (let n = from; n <= to; n++) await s.append(mids, item(n, fields));
}

/** Retention that removes nothing on its own. */
const NONE: InboxPruneRule = { keep: 1_000_000, maxAgeMs: 365 * DAY, dropAcked: false, deviceTtlMs: 365 * DAY };

/** Makes a fresh store for one case, opened with `limits` (none given: the defaults). */
type InboxFactory = (limits?: Partial<InboxLimits>) => Promise<Opened<InboxStore>>;

export function inboxStoreContract(name: string, factory: InboxFactory, options: ContractOptions = {}): void {
  describe(`InboxStore contract: ${name}`, { skip: options.skip }, () => {
    const open = opener(() => factory());
    const openSmall = opener(() => factory({ maxDevices: 3, maxBodyBytes: 100 }));

    test('an unknown user has first 1, last 0 and nothing to read', async () => {
      const s = await open();
      assert.deepEqual(await s.state(7n), { first: 1, last: 0 });
      assert.deepEqual(await s.read(7n, 0, { limit: 10, maxBytes: ANY_BYTES }), { entries: [], cut: false });
      assert.deepEqual(await s.devices(7n), []);
      assert.equal(await s.delete(7n, Infinity, true), 0);
    });

    test('seqs per user start at 1 and increase by one; users are independent', async () => {
      const s = await open();
      assert.deepEqual(await s.append([1n], item(1)), [1]);
      assert.deepEqual(await s.append([1n, 2n], item(2)), [2, 1]);
      assert.deepEqual(await s.append([3n, 2n, 1n], item(3)), [1, 2, 3]);
      assert.deepEqual(await s.append([2n], item(4)), [3]);
      assert.deepEqual(await s.append([], item(5)), []);
      assert.deepEqual(await s.state(1n), { first: 1, last: 3 });
      assert.deepEqual(await s.state(2n), { first: 1, last: 3 });
      assert.deepEqual(await s.state(3n), { first: 1, last: 1 });
      assert.deepEqual(plain(await readAll(s, 2n)), [
        { seq: 1, ...item(2) },
        { seq: 2, ...item(3) },
        { seq: 3, ...item(4) },
      ]);
      assert.deepEqual(plain(await readAll(s, 3n)), [{ seq: 1, ...item(3) }]);
    });

    test('an append to several users is all or none: a bad mid among them stores nothing for any', async () => {
      const s = await open();
      await s.append([1n, 2n], item(1));
      await assert.rejects(s.append([1n, 2n ** 63n, 2n], item(2)), RangeError);
      await assert.rejects(s.append([1n, 2n, 1n], item(3)), RangeError, 'a mid given twice');
      await assert.rejects(s.append([1n], item(4, { time: 1.5 })), RangeError);
      await assert.rejects(s.append([1n], item(5, { op: 2 ** 31 })), RangeError);
      assert.deepEqual(await s.state(1n), { first: 1, last: 1 });
      assert.deepEqual(await s.state(2n), { first: 1, last: 1 });
      assert.deepEqual(await s.append([2n, 1n], item(6)), [2, 2], 'no seq was taken by the refused appends');
    });

    test('a device key or message id an engine cannot keep is refused, and changes nothing', async () => {
      const s = await open();
      await s.append([1n], item(1));
      await assert.rejects(s.append([1n], item(2, { id: 'a\0b' })), RangeError);
      await assert.rejects(s.device(1n, 'k\0', 0, T0), RangeError);
      await assert.rejects(s.ack(1n, 'x'.repeat(1025), 1, T0), RangeError);
      await assert.rejects(s.device(1n, 'é'.repeat(513), 1, T0), RangeError, '1,026 bytes in 513 characters');
      assert.deepEqual(await s.devices(1n), []);
      assert.deepEqual(await s.state(1n), { first: 1, last: 1 });
      const longest = 'k'.repeat(1024);
      assert.equal(await s.ack(1n, longest, 1, T0), 1);
      assert.equal(await s.device(1n, '', 0, T0), 0, 'an empty key is a key');
      assert.deepEqual(
        (await s.devices(1n)).map((d) => d.key),
        ['', longest],
      );
    });

    test('an append over the limits is refused and stores nothing: more than INBOX_MAX_MIDS mids, a body over maxBodyBytes', async () => {
      const s = await open();
      const many = Array.from({ length: INBOX_MAX_MIDS + 1 }, (_, i) => BigInt(i));
      await assert.rejects(s.append(many, item(1)), /10001 mids in one append, at most 10000/);
      const max = DEFAULT_INBOX_LIMITS.maxBodyBytes;
      await assert.rejects(s.append([1n], item(2, { body: Buffer.alloc(max + 1) })), /a body of 262145 bytes, at most 262144/);
      assert.deepEqual(await s.state(0n), { first: 1, last: 0 });
      assert.deepEqual(await s.state(1n), { first: 1, last: 0 });
      assert.deepEqual(await s.append([1n], item(3, { body: Buffer.alloc(max, 7) })), [1], 'exactly maxBodyBytes is stored');
      const small = await openSmall();
      await assert.rejects(small.append([9n], item(4, { body: Buffer.alloc(101) })), RangeError);
      assert.deepEqual(await small.append([9n], item(5, { body: Buffer.alloc(100) })), [1]);
    });

    test('at most maxDevices devices per user: registering one more forgets the least recently seen', async () => {
      const s = await openSmall();
      await fill(s, [1n, 2n], 1, 5);
      await s.device(1n, 'a', 1, T0);
      await s.device(1n, 'b', 2, T0 + 1);
      await s.ack(1n, 'c', 3, T0 + 2);
      assert.equal(await s.device(1n, 'a', 0, T0 + 3), 1, 'a known device: nothing forgotten, its seen moves');
      assert.equal(await s.device(1n, 'd', 4, T0 + 4), 4);
      assert.deepEqual(
        (await s.devices(1n)).map((d) => d.key),
        ['a', 'c', 'd'],
        'b, seen least recently, was forgotten',
      );
      assert.equal(await s.ack(1n, 'e', 5, T0 + 5), 5, 'an ack registering a device is capped the same');
      assert.deepEqual(
        (await s.devices(1n)).map((d) => d.key),
        ['a', 'd', 'e'],
      );
      await assert.rejects(s.ack(1n, 'f', 6, T0 + 6), InboxAckRangeError);
      assert.equal((await s.devices(1n)).length, 3, 'a refused ack forgets nothing');
      // Seen alike: the lowest key goes first.
      for (const key of ['z', 'y', 'x']) await s.device(2n, key, 0, T0);
      await s.device(2n, 'w', 0, T0);
      assert.deepEqual(
        (await s.devices(2n)).map((d) => d.key),
        ['w', 'y', 'z'],
      );
    });

    test('mids at the int64 edges, zero and negative are users like any other', async () => {
      const s = await open();
      const edges = [-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n, 2n ** 53n + 1n, 2n ** 53n];
      assert.deepEqual(await s.append(edges, item(1)), [1, 1, 1, 1, 1, 1]);
      assert.deepEqual(await s.append([2n ** 63n - 1n], item(2)), [2]);
      assert.deepEqual(seqs(await readAll(s, 2n ** 63n - 1n)), [1, 2]);
      assert.deepEqual(seqs(await readAll(s, 2n ** 53n)), [1], '2^53 and 2^53 + 1 are two users');
      assert.equal(await s.ack(-(2n ** 63n), 'd', 1, T0), 1);
      assert.deepEqual(await s.devices(-(2n ** 63n)), [{ key: 'd', acked: 1, seen: T0 }]);
      assert.equal(await s.delete(-(2n ** 63n), Infinity, false), 1);
      assert.deepEqual(await s.state(-(2n ** 63n)), { first: 2, last: 1 });
    });

    test('read after a seq, at most limit entries, oldest first', async () => {
      const s = await open();
      await fill(s, [1n], 1, 10);
      assert.deepEqual(seqs((await s.read(1n, 0, { limit: 3, maxBytes: ANY_BYTES })).entries), [1, 2, 3]);
      assert.deepEqual(seqs((await s.read(1n, 3, { limit: 3, maxBytes: ANY_BYTES })).entries), [4, 5, 6]);
      assert.deepEqual(seqs((await s.read(1n, 8, { limit: 5, maxBytes: ANY_BYTES })).entries), [9, 10]);
      assert.deepEqual(await s.read(1n, 10, { limit: 5, maxBytes: ANY_BYTES }), { entries: [], cut: false });
      assert.deepEqual(await s.read(1n, 0, { limit: 0, maxBytes: ANY_BYTES }), { entries: [], cut: false });
      assert.deepEqual(seqs((await s.read(1n, -5, { limit: 2, maxBytes: ANY_BYTES })).entries), [1, 2]);
      assert.deepEqual(seqs((await s.read(1n, 2.5, { limit: 2, maxBytes: ANY_BYTES })).entries), [3, 4]);
      assert.deepEqual(seqs((await s.read(1n, Infinity, { limit: 2, maxBytes: ANY_BYTES })).entries), []);
      assert.deepEqual(seqs((await s.read(1n, 0, { limit: Infinity, maxBytes: ANY_BYTES })).entries).length, 10);
      await assert.rejects(s.read(1n, NaN, { limit: 2, maxBytes: ANY_BYTES }), RangeError);
    });

    test('read within maxBytes: the first entry always, cut when one is left out', async () => {
      const s = await open();
      const sizes = [300, 100, 100, 100, 50];
      for (const [i, size] of sizes.entries()) await s.append([1n], item(i + 1, { body: Buffer.alloc(size, i) }));
      let p = await s.read(1n, 0, { limit: 10, maxBytes: 100 });
      assert.deepEqual(seqs(p.entries), [1], 'the first entry even though larger than maxBytes');
      assert.equal(p.cut, true);
      assert.deepEqual(Buffer.from(p.entries[0].body), Buffer.alloc(300, 0));
      p = await s.read(1n, 1, { limit: 10, maxBytes: 200 });
      assert.deepEqual(seqs(p.entries), [2, 3]);
      assert.equal(p.cut, true);
      p = await s.read(1n, 3, { limit: 10, maxBytes: 150 });
      assert.deepEqual(seqs(p.entries), [4, 5]);
      assert.equal(p.cut, false, 'everything fitted');
      p = await s.read(1n, 1, { limit: 2, maxBytes: 200 });
      assert.deepEqual(seqs(p.entries), [2, 3]);
      assert.equal(p.cut, false, 'ended by limit, not bytes');
      p = await s.read(1n, 0, { limit: 10, maxBytes: 0 });
      assert.deepEqual(seqs(p.entries), [1]);
      assert.equal(p.cut, true);
      p = await s.read(1n, 0, { limit: 10, maxBytes: NaN });
      assert.deepEqual(seqs(p.entries), [1], 'a NaN budget is a page of one');
    });

    test('empty bodies and every byte value come back as stored', async () => {
      const s = await open();
      const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await s.append([1n], item(1, { body: new Uint8Array(0) }));
      await s.append([1n], item(2, { body: all, op: -(2 ** 31), id: 'ünïcødé ✓' }));
      assert.deepEqual(plain(await readAll(s, 1n)), [
        { seq: 1, ...item(1, { body: Buffer.alloc(0) }) },
        { seq: 2, ...item(2, { body: all, op: -(2 ** 31), id: 'ünïcødé ✓' }) },
      ]);
      const p = await s.read(1n, 0, { limit: 10, maxBytes: 0 });
      assert.deepEqual(seqs(p.entries), [1], 'an empty first entry, then the next passes a budget of 0');
      assert.equal(p.cut, true);
    });

    test('bodies are copies: changing the input after append, or a read entry, changes nothing stored', async () => {
      const s = await open();
      const body = Buffer.from('original');
      await s.append([1n, 2n], item(1, { body }));
      body.fill(0x21);
      const first = await readAll(s, 1n);
      assert.equal(Buffer.from(first[0].body).toString(), 'original');
      first[0].body.fill(0x22);
      assert.equal(Buffer.from((await readAll(s, 1n))[0].body).toString(), 'original');
      assert.equal(Buffer.from((await readAll(s, 2n))[0].body).toString(), 'original');
      // A view into a larger buffer stores only its own bytes.
      const slab = Buffer.from('xxxxhelloxxxx');
      await s.append([1n], item(2, { body: slab.subarray(4, 9) }));
      assert.equal(Buffer.from((await readAll(s, 1n, 1))[0].body).toString(), 'hello');
    });

    test('a new device is registered at start clamped to [first - 1, last]; a known one keeps its watermark', async () => {
      const s = await open();
      assert.equal(await s.device(1n, 'a', 5, T0), 0, 'nothing stored: clamped to last 0');
      await fill(s, [1n], 1, 10);
      assert.equal(await s.device(1n, 'b', 4, T0), 4);
      assert.equal(await s.device(1n, 'c', 99, T0), 10, 'above last: last');
      assert.equal(await s.device(1n, 'c2', Infinity, T0), 10);
      assert.equal(await s.device(1n, 'd', -3, T0), 0, 'below first - 1: first - 1');
      assert.equal(await s.device(1n, 'd2', 2.7, T0), 2);
      await s.delete(1n, 6, false);
      assert.deepEqual(await s.state(1n), { first: 7, last: 10 });
      assert.equal(await s.device(1n, 'e', 0, T0), 6, 'after a delete, first - 1');
      assert.equal(await s.device(1n, 'e2', 8, T0), 8);
      assert.equal(await s.device(1n, 'b', 9, T0 + 5), 4, 'a known device keeps its watermark');
      assert.equal(await s.device(1n, 'a', 10, T0 + 6), 0);
      await assert.rejects(s.device(1n, 'f', NaN, T0), RangeError);
      assert.deepEqual(await s.devices(1n), [
        { key: 'a', acked: 0, seen: T0 + 6 },
        { key: 'b', acked: 4, seen: T0 + 5 },
        { key: 'c', acked: 10, seen: T0 },
        { key: 'c2', acked: 10, seen: T0 },
        { key: 'd', acked: 0, seen: T0 },
        { key: 'd2', acked: 2, seen: T0 },
        { key: 'e', acked: 6, seen: T0 },
        { key: 'e2', acked: 8, seen: T0 },
      ]);
    });

    test('devices are per user, listed by key', async () => {
      const s = await open();
      await fill(s, [1n, 2n], 1, 3);
      await s.device(1n, 'z', 1, T0);
      await s.device(1n, 'A', 2, T0);
      await s.device(1n, 'm', 3, T0);
      await s.device(2n, 'z', 3, T0 + 1);
      assert.deepEqual(
        (await s.devices(1n)).map((d) => [d.key, d.acked]),
        [
          ['A', 2],
          ['m', 3],
          ['z', 1],
        ],
      );
      assert.deepEqual(await s.devices(2n), [{ key: 'z', acked: 3, seen: T0 + 1 }]);
      assert.deepEqual(await s.devices(3n), []);
    });

    test('ack is cumulative: a lower ack changes nothing; an unknown device is registered', async () => {
      const s = await open();
      await fill(s, [1n], 1, 10);
      assert.equal(await s.device(1n, 'a', 0, T0), 0);
      assert.equal(await s.ack(1n, 'a', 3, T0 + 1), 3);
      assert.equal(await s.ack(1n, 'a', 7, T0 + 2), 7);
      assert.equal(await s.ack(1n, 'a', 5, T0 + 3), 7, 'lower: the watermark stays');
      assert.equal(await s.ack(1n, 'a', 7, T0 + 4), 7);
      assert.equal(await s.ack(1n, 'a', -1, T0 + 5), 7);
      assert.equal(await s.ack(1n, 'b', 4, T0 + 6), 4, 'unknown device: registered at the ack');
      assert.equal(await s.ack(1n, 'c', 0, T0 + 7), 0);
      assert.equal(await s.ack(1n, 'a', 10, T0 + 8), 10, 'up to last');
      assert.deepEqual(await s.devices(1n), [
        { key: 'a', acked: 10, seen: T0 + 8 },
        { key: 'b', acked: 4, seen: T0 + 6 },
        { key: 'c', acked: 0, seen: T0 + 7 },
      ]);
      assert.equal(await s.device(1n, 'a', 0, T0 + 9), 10, 'registration keeps what ack raised');
    });

    test('an ack above last rejects with InboxAckRangeError and changes nothing', async () => {
      const s = await open();
      await fill(s, [1n], 1, 5);
      await s.ack(1n, 'a', 2, T0);
      await assert.rejects(s.ack(1n, 'a', 6, T0 + 1), (e: unknown) => {
        assert.ok(e instanceof InboxAckRangeError);
        assert.equal(e.seq, 6);
        assert.equal(e.last, 5);
        assert.match(e.message, /6.*5/);
        return true;
      });
      await assert.rejects(s.ack(1n, 'a', Infinity, T0 + 1), InboxAckRangeError);
      await assert.rejects(s.ack(1n, 'a', 5.5, T0 + 1), InboxAckRangeError);
      await assert.rejects(s.ack(1n, 'new', 6, T0 + 1), InboxAckRangeError);
      await assert.rejects(s.ack(2n, 'x', 1, T0 + 1), (e: unknown) => e instanceof InboxAckRangeError && e.last === 0, 'a user with nothing stored');
      await assert.rejects(s.ack(1n, 'a', NaN, T0 + 1), RangeError);
      assert.deepEqual(await s.devices(1n), [{ key: 'a', acked: 2, seen: T0 }], 'no device made, no seen moved');
      assert.deepEqual(await s.devices(2n), []);
      assert.deepEqual(await s.state(1n), { first: 1, last: 5 });
    });

    test('delete up to a seq, then all; seqs are not reused after it', async () => {
      const s = await open();
      await fill(s, [1n, 2n], 1, 10);
      await s.ack(1n, 'a', 3, T0);
      assert.equal(await s.delete(1n, 4, false), 4);
      assert.deepEqual(await s.state(1n), { first: 5, last: 10 });
      assert.deepEqual(seqs(await readAll(s, 1n)), [5, 6, 7, 8, 9, 10]);
      assert.equal(await s.delete(1n, 4, false), 0, 'nothing left at or below 4');
      assert.equal(await s.delete(1n, 6.9, false), 2);
      assert.equal(await s.delete(1n, -1, false), 0);
      assert.deepEqual(await s.devices(1n), [{ key: 'a', acked: 3, seen: T0 }], 'kept without forgetDevices');
      assert.equal(await s.delete(1n, Infinity, false), 4);
      assert.deepEqual(await s.state(1n), { first: 11, last: 10 });
      assert.deepEqual(await readAll(s, 1n), []);
      assert.deepEqual(await s.append([1n], item(11)), [11], 'the next seq after a delete of all');
      assert.deepEqual(await s.state(1n), { first: 11, last: 11 });
      assert.deepEqual(seqs(await readAll(s, 2n)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'the other user untouched');
      await assert.rejects(s.delete(1n, NaN, true), RangeError);
      assert.equal((await s.devices(1n)).length, 1, 'the refused delete forgot nothing');
    });

    test('delete with forgetDevices forgets the watermarks and keeps the seqs', async () => {
      const s = await open();
      await fill(s, [1n], 1, 4);
      await s.ack(1n, 'a', 4, T0);
      await s.device(1n, 'b', 0, T0);
      assert.equal(await s.delete(1n, Infinity, true), 4);
      assert.deepEqual(await s.devices(1n), []);
      assert.deepEqual(await s.state(1n), { first: 5, last: 4 });
      assert.equal(await s.device(1n, 'a', 0, T0 + 1), 4, 'a forgotten device registers anew, at first - 1');
      assert.deepEqual(await s.append([1n], item(5)), [5]);
      assert.deepEqual(seqs(await readAll(s, 1n, 4)), [5]);
      // Devices forgotten without removing entries.
      assert.equal(await s.delete(1n, 0, true), 0);
      assert.deepEqual(await s.devices(1n), []);
      assert.deepEqual(seqs(await readAll(s, 1n)), [5]);
    });

    test('prune keeps the newest `keep` entries of each user', async () => {
      const s = await open();
      await fill(s, [1n], 1, 10);
      await fill(s, [2n], 1, 3);
      assert.equal(await s.prune({ ...NONE, keep: 4 }, T0 + 100), 6);
      assert.deepEqual(await s.state(1n), { first: 7, last: 10 });
      assert.deepEqual(seqs(await readAll(s, 1n)), [7, 8, 9, 10]);
      assert.deepEqual(await s.state(2n), { first: 1, last: 3 });
      assert.equal(await s.prune({ ...NONE, keep: 4 }, T0 + 100), 0, 'a second run finds nothing');
      assert.deepEqual(await s.append([1n], item(11)), [11], 'seqs go on after pruning');
      assert.equal(await s.prune({ ...NONE, keep: 0 }, T0 + 100), 8, 'keep 0 keeps nothing');
      assert.deepEqual(await s.state(1n), { first: 12, last: 11 });
      assert.deepEqual(await s.state(2n), { first: 4, last: 3 });
      assert.deepEqual(await s.append([1n, 2n], item(12)), [12, 4]);
    });

    test('prune removes entries older than maxAge', async () => {
      const s = await open();
      for (let n = 1; n <= 6; n++) await s.append([1n, 2n], item(n, { time: T0 + n * 1000 }));
      // Now T0 + 10,000 with maxAge 6,500: time below T0 + 3,500 goes (entries 1 to 3); T0 + 4,000 is 6,000 old and stays.
      assert.equal(await s.prune({ ...NONE, maxAgeMs: 6500 }, T0 + 10_000), 6);
      assert.deepEqual(seqs(await readAll(s, 1n)), [4, 5, 6]);
      assert.deepEqual(await s.state(2n), { first: 4, last: 6 });
      assert.equal(await s.prune({ ...NONE, maxAgeMs: 6000 }, T0 + 10_000), 0, 'exactly maxAge old stays');
      assert.equal(await s.prune({ ...NONE, maxAgeMs: 0 }, T0 + 10_000), 6);
      assert.deepEqual(await s.state(1n), { first: 7, last: 6 });
    });

    test('prune with dropAcked removes what every device acknowledged; a user without devices keeps all', async () => {
      const s = await open();
      await fill(s, [1n, 2n, 3n], 1, 10);
      await s.ack(1n, 'a', 7, T0);
      await s.ack(1n, 'b', 4, T0);
      await s.device(1n, 'c', 10, T0);
      await s.ack(3n, 'a', 10, T0);
      assert.equal(await s.prune({ ...NONE, dropAcked: false }, T0), 0, 'off: nothing');
      assert.equal(await s.prune({ ...NONE, dropAcked: true }, T0), 4 + 10);
      assert.deepEqual(await s.state(1n), { first: 5, last: 10 }, 'the lowest watermark, 4, holds back the rest');
      assert.deepEqual(await s.state(2n), { first: 1, last: 10 }, 'no device: all kept');
      assert.deepEqual(await s.state(3n), { first: 11, last: 10 });
      await s.ack(1n, 'b', 9, T0);
      assert.equal(await s.prune({ ...NONE, dropAcked: true }, T0), 3, 'now the lowest is 7 (a)');
      assert.deepEqual(await s.state(1n), { first: 8, last: 10 });
      // keep and dropAcked together: the higher floor wins (user 2 has no device: keep alone).
      assert.equal(await s.prune({ ...NONE, keep: 1, dropAcked: true }, T0), 2 + 9);
      assert.deepEqual(seqs(await readAll(s, 1n)), [10]);
      assert.equal(await s.device(1n, 'late', 0, T0), 9, 'a device registered after pruning starts at first - 1');
    });

    test('prune forgets devices not seen for deviceTtl; their watermarks then hold back nothing', async () => {
      const s = await open();
      await fill(s, [1n], 1, 10);
      await s.ack(1n, 'old', 2, T0);
      await s.ack(1n, 'new', 8, T0 + 5000);
      await s.device(1n, 'edge', 0, T0 + 1000);
      // At T0 + 11,000 with a TTL of 10,000: 'old' (11,000 unseen) goes, 'edge' (exactly 10,000) stays.
      await s.prune({ ...NONE, dropAcked: false, deviceTtlMs: 10_000 }, T0 + 11_000);
      assert.deepEqual(
        (await s.devices(1n)).map((d) => d.key),
        ['edge', 'new'],
      );
      assert.equal(await s.ack(1n, 'edge', 8, T0 + 11_000), 8);
      assert.equal(await s.prune({ ...NONE, dropAcked: true, deviceTtlMs: 10_000 }, T0 + 11_000), 8);
      assert.deepEqual(await s.state(1n), { first: 9, last: 10 });
      // Every device expired: nothing holds back, and nothing is dropped for lack of devices.
      assert.equal(await s.prune({ ...NONE, dropAcked: true, deviceTtlMs: 10_000 }, T0 + 30_000), 0);
      assert.deepEqual(await s.devices(1n), []);
      assert.deepEqual(await s.state(1n), { first: 9, last: 10 });
      await assert.rejects(s.prune({ ...NONE, keep: NaN }, T0), RangeError);
      assert.deepEqual(await s.state(1n), { first: 9, last: 10 });
    });

    test("prune over many users removes each one's share", async () => {
      const s = await open();
      const mids = Array.from({ length: 150 }, (_, i) => BigInt(i * 7919 - 500));
      await fill(s, mids, 1, 3);
      assert.equal(await s.prune({ ...NONE, keep: 1 }, T0), 300);
      for (const mid of [mids[0], mids[77], mids[149]]) assert.deepEqual(await s.state(mid), { first: 3, last: 3 });
    });

    test('prune works a backlog larger than one transaction takes to the end, and the users after it too', async () => {
      const s = await open();
      const items = Array.from({ length: 12_001 }, (_, i) => i + 1);
      // In appends of 2,000 at a time, to spare a real engine 12,000 round trips.
      for (let i = 0; i < items.length; i += 2000) await Promise.all(items.slice(i, i + 2000).map((n) => s.append([5n], item(n))));
      await fill(s, [6n, 7n], 1, 3);
      assert.equal(await s.prune({ ...NONE, keep: 1 }, T0), 12_000 + 2 + 2);
      assert.deepEqual(await s.state(5n), { first: 12_001, last: 12_001 });
      assert.deepEqual(await s.state(6n), { first: 3, last: 3 });
      assert.deepEqual(await s.state(7n), { first: 3, last: 3 });
    });

    test('many appends at once to the same user get distinct, gapless seqs', async () => {
      const s = await open();
      const n = 60;
      const got = await Promise.all(Array.from({ length: n }, (_, i) => s.append(i % 2 === 0 ? [1n, 2n] : [2n, 1n], item(i + 1))));
      const of1 = got.map((r, i) => (i % 2 === 0 ? r[0] : r[1])).sort((a, b) => a - b);
      const of2 = got.map((r, i) => (i % 2 === 0 ? r[1] : r[0])).sort((a, b) => a - b);
      const want = Array.from({ length: n }, (_, i) => i + 1);
      assert.deepEqual(of1, want);
      assert.deepEqual(of2, want);
      // Each seq holds the item whose append returned it.
      const entries = await readAll(s, 1n);
      assert.deepEqual(seqs(entries), want);
      for (const [i, r] of got.entries()) assert.equal(entries[(i % 2 === 0 ? r[0] : r[1]) - 1].id, `msg-${i + 1}`);
      assert.deepEqual(await s.state(2n), { first: 1, last: n });
    });

    test('acks and appends at once: the watermark ends at the highest ack', async () => {
      const s = await open();
      await fill(s, [1n], 1, 20);
      await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => s.ack(1n, 'a', i + 1, T0 + i)),
        ...Array.from({ length: 10 }, (_, i) => s.append([1n], item(100 + i))),
      ]);
      assert.equal((await s.devices(1n))[0].acked, 20);
      assert.deepEqual(await s.state(1n), { first: 1, last: 30 });
    });
  });
}
