// What every HistoryStore promises (src/ports/history-store.ts, docs/history.md#offsets-and-epochs),
// run against each engine: test/adapters/memory-history-store.test.ts, sqlite-history-store.test.ts
// and postgres-history-store.test.ts. Cases go through the port only; an engine's own file tests
// what only it has (a restart, its tables).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HistoryRecord, HistoryStore } from '../../src/ports/index.js';
import { opener, type ContractOptions, type Factory } from './subject.js';

/** A record of `room` at `offset`, with an id derived from both unless given. */
export function rec(offset: number, fields: Partial<HistoryRecord> = {}): HistoryRecord {
  return {
    offset,
    id: `id-${offset}`,
    op: 1000,
    body: Buffer.from(`{"text":"m${offset}"}`),
    mid: BigInt(offset),
    time: 1_767_225_600_000 + offset,
    progress: null,
    ...fields,
  };
}

export function recs(from: number, to: number, fields: Partial<HistoryRecord> = {}): HistoryRecord[] {
  const out: HistoryRecord[] = [];
  for (let o = from; o <= to; o++) out.push(rec(o, fields));
  return out;
}

/** Records as plain values (body as a Buffer), so engines returning any Uint8Array compare equal. */
const plain = (list: HistoryRecord[]): HistoryRecord[] => list.map((r) => ({ ...r, body: Buffer.from(r.body) }));
const offsets = (list: HistoryRecord[]): number[] => list.map((r) => r.offset);

/** A byte budget no test reaches. */
const ANY_BYTES = 2 ** 40;

/** byProgress from progress `from` (every record at it), at most `limit` records, no byte bound. */
async function inRange(s: HistoryStore, room: string, from: number, to: number, limit: number): Promise<HistoryRecord[]> {
  return (await s.byProgress(room, { progress: from, after: 0 }, to, { limit, maxBytes: ANY_BYTES })).records;
}

/** A record whose body is `size` bytes. */
const sized = (offset: number, size: number, fields: Partial<HistoryRecord> = {}): HistoryRecord =>
  rec(offset, { body: Buffer.alloc(size, offset % 256), ...fields });

/**
 * Every page of [from, to) as a reader pages it: the next page from the last record's
 * (progress, offset) while a page ends at a bound. Returns the pages' offsets.
 */
async function progressPages(s: HistoryStore, room: string, from: number, to: number, limit: number, maxBytes = ANY_BYTES): Promise<number[][]> {
  const pages: number[][] = [];
  let cursor = { progress: from, after: 0 };
  for (;;) {
    const { records, cut } = await s.byProgress(room, cursor, to, { limit, maxBytes });
    assert.ok(pages.length < 1000, 'paging ends');
    pages.push(offsets(records));
    if (!cut && records.length < limit) return pages;
    const last = records[records.length - 1];
    cursor = { progress: last.progress!, after: last.offset };
  }
}

export function historyStoreContract(name: string, factory: Factory<HistoryStore>, options: ContractOptions = {}): void {
  describe(`HistoryStore contract: ${name}`, { skip: options.skip }, () => {
    const open = opener(factory);

    test('open creates a room with a fresh epoch at offset 1; state of an unknown room is null', async () => {
      const s = await open();
      assert.equal(await s.state('live://1'), null);
      const o = await s.open('live://1', 10);
      assert.match(o.epoch, /^.{1,64}$/);
      assert.deepEqual({ ...o, epoch: '' }, { epoch: '', epochStart: 1, first: 1, last: 0, recent: [] });
      assert.deepEqual(await s.state('live://1'), { epoch: o.epoch, epochStart: 1, first: 1, last: 0 });
      const again = await s.open('live://1', 10);
      assert.equal(again.epoch, o.epoch, 'opening again keeps the epoch');
      const other = await s.open('live://2', 0);
      assert.notEqual(other.epoch, o.epoch, 'each room gets its own epoch');
      assert.equal(await s.state('live://3'), null);
      assert.deepEqual(await s.after('live://3', 0, 10), []);
      assert.deepEqual(await s.latest('live://3', 10), []);
      assert.deepEqual(await s.byProgress('live://3', { progress: 0, after: 0 }, 1e9, { limit: 10, maxBytes: ANY_BYTES }), {
        records: [],
        cut: false,
      });
      assert.deepEqual(await s.pageAfter('live://3', 0, { limit: 10, maxBytes: 0 }), { records: [], cut: false });
    });

    test('append stores contiguous records; reads give them back exactly', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      const first = [rec(1, { progress: 500 }), rec(2, { mid: 0n })];
      await s.append([{ room: 'live://1', epoch, records: first }]);
      await s.append([{ room: 'live://1', epoch, records: recs(3, 5) }]);
      await s.append([{ room: 'live://1', epoch, records: [] }]);
      assert.deepEqual(await s.state('live://1'), { epoch, epochStart: 1, first: 1, last: 5 });
      assert.deepEqual(plain(await s.after('live://1', 0, 100)), plain([...first, ...recs(3, 5)]));
    });

    test('a gap, a wrong epoch or an unopened room rejects the whole call and stores nothing', async () => {
      const s = await open();
      const a = await s.open('live://a', 0);
      const b = await s.open('live://b', 0);
      await s.append([{ room: 'live://a', epoch: a.epoch, records: recs(1, 2) }]);
      const good = { room: 'live://a', epoch: a.epoch, records: recs(3, 4) };
      await assert.rejects(s.append([good, { room: 'live://b', epoch: b.epoch, records: [rec(2)] }]), /history/);
      await assert.rejects(s.append([good, { room: 'live://b', epoch: b.epoch, records: [rec(1), rec(3)] }]), /history/);
      await assert.rejects(s.append([{ room: 'live://a', epoch: a.epoch, records: [rec(3), rec(5)] }]), /history/);
      await assert.rejects(s.append([good, { room: 'live://b', epoch: a.epoch, records: [rec(1)] }]), /history/);
      await assert.rejects(s.append([{ room: 'live://a', epoch: `${a.epoch}x`, records: [rec(3)] }]), /history/);
      await assert.rejects(s.append([good, { room: 'live://a', epoch: `${a.epoch}x`, records: [rec(5)] }]), /history/);
      await assert.rejects(s.append([good, { room: 'live://never-opened', epoch: a.epoch, records: [rec(1)] }]), /history/);
      assert.deepEqual(await s.after('live://never-opened', 0, 100), []);
      assert.deepEqual(await s.state('live://a'), { epoch: a.epoch, epochStart: 1, first: 1, last: 2 });
      assert.deepEqual(await s.state('live://b'), { epoch: b.epoch, epochStart: 1, first: 1, last: 0 });
      assert.deepEqual(offsets(await s.after('live://a', 0, 100)), [1, 2]);
      assert.deepEqual(await s.after('live://b', 0, 100), []);
    });

    test('the same id again at a stored offset is skipped; another id there rejects', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      await s.append([{ room: 'live://1', epoch, records: recs(1, 3) }]);
      // A redelivery: 2 and 3 again (same ids, even with other fields), then new ones.
      await s.append([{ room: 'live://1', epoch, records: [rec(2, { op: 7 }), rec(3), ...recs(4, 5)] }]);
      await s.append([{ room: 'live://1', epoch, records: recs(1, 5) }]);
      assert.deepEqual(plain(await s.after('live://1', 0, 100)), plain(recs(1, 5)));
      await assert.rejects(s.append([{ room: 'live://1', epoch, records: [rec(5, { id: 'other' }), rec(6)] }]), /history/);
      await assert.rejects(s.append([{ room: 'live://1', epoch, records: [rec(4), rec(5, { id: 'other' })] }]), /history/);
      assert.deepEqual((await s.state('live://1'))?.last, 5);
      assert.deepEqual(offsets(await s.after('live://1', 0, 100)), [1, 2, 3, 4, 5]);
    });

    test('one call appends several rooms, and two batches of one room in order', async () => {
      const s = await open();
      const a = await s.open('live://a', 0);
      const b = await s.open('chat://b', 0);
      await s.append([
        { room: 'live://a', epoch: a.epoch, records: recs(1, 3) },
        { room: 'chat://b', epoch: b.epoch, records: recs(1, 1, { id: 'b1' }) },
        { room: 'live://a', epoch: a.epoch, records: recs(4, 4) },
      ]);
      assert.deepEqual((await s.state('live://a'))?.last, 4);
      assert.deepEqual((await s.state('chat://b'))?.last, 1);
      assert.deepEqual(
        (await s.after('chat://b', 0, 10)).map((r) => r.id),
        ['b1'],
      );
      assert.deepEqual(offsets(await s.after('live://a', 0, 10)), [1, 2, 3, 4]);
    });

    test('open returns the ids of the newest records, oldest first', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      await s.append([{ room: 'live://1', epoch, records: recs(1, 6) }]);
      const o = await s.open('live://1', 3);
      assert.equal(o.epoch, epoch);
      assert.deepEqual(o.recent, [
        { id: 'id-4', offset: 4 },
        { id: 'id-5', offset: 5 },
        { id: 'id-6', offset: 6 },
      ]);
      assert.equal((await s.open('live://1', 100)).recent.length, 6);
      assert.deepEqual((await s.open('live://1', 0)).recent, []);
      assert.deepEqual({ ...o, recent: [] }, { epoch, epochStart: 1, first: 1, last: 6, recent: [] });
    });

    test('opens at once: each room its own state and newest ids; the same room twice is one room, each caller its ids', async () => {
      const s = await open();
      const { epoch } = await s.open('live://had', 0);
      await s.append([{ room: 'live://had', epoch, records: recs(1, 5) }]);
      const fresh = Array.from({ length: 20 }, (_, i) => `live://new-${i}`);
      const [had3, had0, had9, ...made] = await Promise.all([
        s.open('live://had', 3),
        s.open('live://had', 0),
        s.open('live://had', 9),
        ...fresh.map((room) => s.open(room, 5)),
        s.open('live://new-0', 1),
      ]);
      const ids = (from: number, to: number) => recs(from, to).map((r) => ({ id: r.id, offset: r.offset }));
      assert.deepEqual(had3, { epoch, epochStart: 1, first: 1, last: 5, recent: ids(3, 5) });
      assert.deepEqual(had0, { epoch, epochStart: 1, first: 1, last: 5, recent: [] });
      assert.deepEqual(had9, { epoch, epochStart: 1, first: 1, last: 5, recent: ids(1, 5) });
      for (const o of made) assert.deepEqual({ ...o, epoch: '' }, { epoch: '', epochStart: 1, first: 1, last: 0, recent: [] });
      assert.equal(made[20].epoch, made[0].epoch, 'live://new-0 opened twice at once: one epoch');
      assert.equal(new Set(made.slice(0, 20).map((o) => o.epoch)).size, 20, 'each new room its own epoch');
      for (const [i, room] of fresh.entries()) assert.equal((await s.state(room))?.epoch, made[i].epoch);
    });

    test('newEpoch starts after the last offset; offsets go on, latest reads only the current epoch', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      await s.append([{ room: 'live://1', epoch, records: recs(1, 4) }]);
      await assert.rejects(s.newEpoch('live://1', 'e2', 4), /history/);
      await assert.rejects(s.newEpoch('live://1', 'e2', 2), /history/);
      assert.equal((await s.state('live://1'))?.epoch, epoch);
      assert.deepEqual(await s.newEpoch('live://1', 'e2', 10), { epoch: 'e2', epochStart: 10, first: 10, last: 9 });
      assert.deepEqual(await s.state('live://1'), { epoch: 'e2', epochStart: 10, first: 10, last: 9 });
      assert.deepEqual(await s.latest('live://1', 10), [], 'nothing in the new epoch yet');
      await assert.rejects(s.append([{ room: 'live://1', epoch, records: [rec(5)] }]), /history/);
      await assert.rejects(s.append([{ room: 'live://1', epoch: 'e2', records: [rec(5)] }]), /history/);
      await s.append([{ room: 'live://1', epoch: 'e2', records: recs(10, 12) }]);
      assert.deepEqual(offsets(await s.latest('live://1', 10)), [10, 11, 12]);
      assert.deepEqual(offsets(await s.latest('live://1', 2)), [11, 12]);
      assert.deepEqual(offsets(await s.after('live://1', 0, 100)), [1, 2, 3, 4, 10, 11, 12], 'after reads every epoch');
      assert.deepEqual(offsets(await s.after('live://1', 3, 2)), [4, 10]);
      const o = await s.open('live://1', 5);
      assert.deepEqual({ ...o, recent: [] }, { epoch: 'e2', epochStart: 10, first: 10, last: 12, recent: [] });
      assert.deepEqual(
        o.recent.map((r) => r.offset),
        [3, 4, 10, 11, 12],
      );
      // A new epoch right after the last offset, and one for a room the store never saw.
      assert.deepEqual(await s.newEpoch('live://1', 'e3', 13), { epoch: 'e3', epochStart: 13, first: 13, last: 12 });
      assert.deepEqual(await s.newEpoch('live://new', 'n1', 7), { epoch: 'n1', epochStart: 7, first: 7, last: 6 });
      await s.append([{ room: 'live://new', epoch: 'n1', records: recs(7, 8) }]);
      assert.deepEqual(offsets(await s.latest('live://new', 10)), [7, 8]);
    });

    test('newEpoch at offset 1 restarts a room whose offsets ran out: its old records are removed', async () => {
      const s = await open();
      const { epoch } = await s.open('live://wrap', 0);
      await s.append([{ room: 'live://wrap', epoch, records: recs(1, 3) }]);
      assert.deepEqual(await s.newEpoch('live://wrap', 'w2', 1), { epoch: 'w2', epochStart: 1, first: 1, last: 0 });
      assert.deepEqual(await s.after('live://wrap', 0, 10), []);
      await s.append([{ room: 'live://wrap', epoch: 'w2', records: recs(1, 2) }]);
      assert.deepEqual(offsets(await s.latest('live://wrap', 10)), [1, 2]);
    });

    test('after and latest: order and limits', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      await s.append([{ room: 'live://1', epoch, records: recs(1, 50) }]);
      assert.deepEqual(offsets(await s.after('live://1', 0, 5)), [1, 2, 3, 4, 5]);
      assert.deepEqual(offsets(await s.after('live://1', 47, 5)), [48, 49, 50]);
      assert.deepEqual(await s.after('live://1', 50, 5), []);
      assert.deepEqual(await s.after('live://1', 0, 0), []);
      assert.equal((await s.after('live://1', 0, 1000)).length, 50);
      assert.deepEqual(offsets(await s.latest('live://1', 3)), [48, 49, 50]);
      assert.deepEqual(await s.latest('live://1', 0), []);
      assert.equal((await s.latest('live://1', 1000)).length, 50);
    });

    test('byProgress: [from, to), by progress then offset, at most limit', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      const progress = [3000, null, 1000, 2000, 1000, 0, 5999, 6000, 2000];
      await s.append([{ room: 'live://1', epoch, records: progress.map((p, i) => rec(i + 1, { progress: p })) }]);
      const seg = await inRange(s, 'live://1', 0, 6000, 100);
      assert.deepEqual(
        seg.map((r) => [r.progress, r.offset]),
        [
          [0, 6],
          [1000, 3],
          [1000, 5],
          [2000, 4],
          [2000, 9],
          [3000, 1],
          [5999, 7],
        ],
      );
      assert.deepEqual(offsets(await inRange(s, 'live://1', 1000, 2001, 3)), [3, 5, 4]);
      assert.deepEqual(offsets(await inRange(s, 'live://1', 6000, 12000, 100)), [8]);
      assert.deepEqual(await inRange(s, 'live://1', 7000, 12000, 100), []);
      assert.deepEqual(await inRange(s, 'live://1', 0, 6000, 0), []);
    });

    test('byProgress from a cursor: the records at its progress after its offset, then every higher progress', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      const progress = [2000, 1000, 1000, 3000, 1000, 2000];
      await s.append([{ room: 'live://1', epoch, records: progress.map((p, i) => rec(i + 1, { progress: p })) }]);
      const from = async (p: number, after: number, limit = 100): Promise<number[]> =>
        offsets((await s.byProgress('live://1', { progress: p, after }, 4000, { limit, maxBytes: ANY_BYTES })).records);
      assert.deepEqual(await from(1000, 0), [2, 3, 5, 1, 6, 4]);
      assert.deepEqual(await from(1000, 3), [5, 1, 6, 4], 'offsets 2 and 3 at 1000 are behind the cursor');
      assert.deepEqual(await from(1000, 5), [1, 6, 4], 'a higher progress comes whatever its offsets');
      assert.deepEqual(await from(1000, 4, 2), [5, 1], 'an offset between those stored');
      assert.deepEqual(await from(2000, 1), [6, 4]);
      assert.deepEqual(await from(3000, 4), []);
    });

    test('byProgress: many records at one progress are all paged through, none twice', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      // 40 at 5000 between one at 4000 and four at 7000, whose offsets interleave with the last of them.
      const list = recs(1, 45).map((r) => ({ ...r, progress: r.offset === 1 ? 4000 : r.offset >= 39 && r.offset % 2 === 1 ? 7000 : 5000 }));
      await s.append([{ room: 'live://1', epoch, records: list }]);
      const atFive = list.filter((r) => r.progress === 5000).map((r) => r.offset);
      assert.ok(atFive.length > 30);
      const pages = await progressPages(s, 'live://1', 0, 10_000, 10);
      const all = pages.flat();
      assert.deepEqual(all, [1, ...atFive, ...list.filter((r) => r.progress === 7000).map((r) => r.offset)]);
      assert.equal(new Set(all).size, list.length, 'none twice');
      assert.ok(pages.length >= 5, 'several pages at one progress');
      // From inside the run at 5000, as a client continuing.
      const rest = await progressPages(s, 'live://1', 5000, 6000, 7);
      assert.deepEqual(rest.flat(), atFive);
    });

    test('pageAfter: at most limit records, ending before the one whose body would pass maxBytes', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      const sizes = [100, 200, 300, 50, 1000, 10, 10];
      await s.append([{ room: 'live://1', epoch, records: sizes.map((n, i) => sized(i + 1, n)) }]);
      const page = async (after: number, limit: number, maxBytes: number): Promise<[number[], boolean]> => {
        const p = await s.pageAfter('live://1', after, { limit, maxBytes });
        return [offsets(p.records), p.cut];
      };
      assert.deepEqual(await page(0, 100, 600), [[1, 2, 3], true], 'exactly the budget: record 4 would pass it');
      assert.deepEqual(await page(0, 100, 650), [[1, 2, 3, 4], true]);
      assert.deepEqual(await page(0, 100, 599), [[1, 2], true]);
      assert.deepEqual(await page(4, 100, 500), [[5], true], 'a record larger than the budget comes alone');
      assert.deepEqual(await page(4, 100, 0), [[5], true]);
      assert.deepEqual(await page(5, 100, 20), [[6, 7], false], 'the last page, within the budget, is not cut');
      assert.deepEqual(await page(5, 1, 20), [[6], false], 'a page ending at limit is not cut');
      assert.deepEqual(await page(7, 100, 20), [[], false]);
      assert.deepEqual(await page(0, 0, 20), [[], false]);
      // The records come back whole.
      const back = await s.pageAfter('live://1', 0, { limit: 3, maxBytes: ANY_BYTES });
      assert.deepEqual(plain(back.records), plain(sizes.slice(0, 3).map((n, i) => sized(i + 1, n))));
      assert.deepEqual(plain((await s.pageAfter('live://1', 4, { limit: 1, maxBytes: 1 })).records), plain([sized(5, 1000)]));
    });

    test('pageAfter pages through large records within the budget: every record once', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      const list = [4000, 9000, 3000, 3000, 3000, 12000, 1, 1, 8000, 2000].map((n, i) => sized(i + 1, n));
      await s.append([{ room: 'live://1', epoch, records: list }]);
      const seen: number[] = [];
      let since = 0;
      for (let i = 0; ; i++) {
        assert.ok(i < 100, 'paging ends');
        const { records, cut } = await s.pageAfter('live://1', since, { limit: 1000, maxBytes: 10_000 });
        const bytes = records.reduce((a, r) => a + r.body.byteLength, 0);
        assert.ok(records.length === 1 || bytes <= 10_000, `page of ${bytes} bytes`);
        seen.push(...offsets(records));
        if (!cut) break;
        since = records[records.length - 1].offset;
      }
      assert.deepEqual(seen, offsets(list));
    });

    test('byProgress within maxBytes: cut pages continue from their last record, every record once', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      const list = recs(1, 12).map((r) => sized(r.offset, r.offset % 3 === 0 ? 5000 : 400, { progress: r.offset <= 9 ? 1000 : 2000 }));
      await s.append([{ room: 'live://1', epoch, records: list }]);
      const first = await s.byProgress('live://1', { progress: 0, after: 0 }, 3000, { limit: 100, maxBytes: 5000 });
      assert.deepEqual([offsets(first.records), first.cut], [[1, 2], true]);
      const alone = await s.byProgress('live://1', { progress: 1000, after: 2 }, 3000, { limit: 100, maxBytes: 5000 });
      assert.deepEqual([offsets(alone.records), alone.cut], [[3], true], 'one record past the budget comes alone');
      const pages = await progressPages(s, 'live://1', 0, 3000, 100, 5000);
      assert.deepEqual(pages.flat(), offsets(list));
      for (const p of pages) {
        const bytes = list.filter((r) => p.includes(r.offset)).reduce((a, r) => a + r.body.byteLength, 0);
        assert.ok(p.length === 1 || bytes <= 5000, `page ${p.join(',')} of ${bytes} bytes`);
      }
    });

    test('prune keeps the newest `keep` records per room of a prefix, and first moves', async () => {
      const s = await open();
      const a = await s.open('live://a', 0);
      const b = await s.open('live://b', 0);
      const c = await s.open('chat://c', 0);
      await s.append([
        { room: 'live://a', epoch: a.epoch, records: recs(1, 10) },
        { room: 'live://b', epoch: b.epoch, records: recs(1, 2) },
        { room: 'chat://c', epoch: c.epoch, records: recs(1, 10) },
      ]);
      const now = 1_767_225_600_000 + 100;
      const removed = await s.prune([{ prefix: 'live://', keep: 3, maxAgeMs: 3_600_000 }], now);
      assert.equal(removed, 7);
      assert.deepEqual(offsets(await s.after('live://a', 0, 100)), [8, 9, 10]);
      assert.deepEqual(await s.state('live://a'), { epoch: a.epoch, epochStart: 1, first: 8, last: 10 });
      assert.deepEqual(offsets(await s.after('live://b', 0, 100)), [1, 2]);
      assert.equal((await s.after('chat://c', 0, 100)).length, 10, 'a room no rule names is kept');
      assert.deepEqual((await s.open('live://a', 10)).recent.length, 3);
      // Appending goes on after a prune.
      await s.append([{ room: 'live://a', epoch: a.epoch, records: recs(11, 11) }]);
      assert.equal(await s.prune([{ prefix: 'live://', keep: 3, maxAgeMs: 3_600_000 }], now), 1);
      assert.deepEqual(await s.state('live://a'), { epoch: a.epoch, epochStart: 1, first: 9, last: 11 });
    });

    test('prune by age, per prefix; a room emptied has first = last + 1', async () => {
      const s = await open();
      const a = await s.open('live://a', 0);
      const c = await s.open('chat://c', 0);
      const t0 = 1_767_225_600_000;
      const times = (list: HistoryRecord[], at: (o: number) => number): HistoryRecord[] => list.map((r) => ({ ...r, time: at(r.offset) }));
      await s.append([
        { room: 'live://a', epoch: a.epoch, records: times(recs(1, 6), (o) => t0 + o * 1000) },
        { room: 'chat://c', epoch: c.epoch, records: times(recs(1, 4), (o) => t0 + o * 1000) },
      ]);
      const rules = [
        { prefix: 'live://', keep: 100, maxAgeMs: 10_000 },
        { prefix: 'chat://', keep: 100, maxAgeMs: 1_000 },
      ];
      // live: older than t0 + 4000 goes (offsets 1-3); chat: older than t0 + 13000 (all).
      assert.equal(await s.prune(rules, t0 + 14_000), 7);
      assert.deepEqual(offsets(await s.after('live://a', 0, 100)), [4, 5, 6]);
      assert.deepEqual(await s.state('live://a'), { epoch: a.epoch, epochStart: 1, first: 4, last: 6 });
      assert.deepEqual(await s.after('chat://c', 0, 100), []);
      assert.deepEqual(await s.state('chat://c'), { epoch: c.epoch, epochStart: 1, first: 5, last: 4 });
      assert.deepEqual(await s.latest('chat://c', 10), []);
      await s.append([{ room: 'chat://c', epoch: c.epoch, records: recs(5, 5, { time: t0 + 14_000 }) }]);
      assert.deepEqual(await s.state('chat://c'), { epoch: c.epoch, epochStart: 1, first: 5, last: 5 });
      assert.equal(await s.prune(rules, t0 + 14_000), 0);
    });

    test('prune across epochs: first stays in the current epoch', async () => {
      const s = await open();
      const { epoch } = await s.open('live://1', 0);
      await s.append([{ room: 'live://1', epoch, records: recs(1, 4) }]);
      await s.newEpoch('live://1', 'e2', 6);
      await s.append([{ room: 'live://1', epoch: 'e2', records: recs(6, 8) }]);
      assert.equal(await s.prune([{ prefix: 'live://', keep: 5, maxAgeMs: 3_600_000 }], 1_767_225_600_000), 2);
      assert.deepEqual(offsets(await s.after('live://1', 0, 100)), [3, 4, 6, 7, 8]);
      assert.deepEqual(await s.state('live://1'), { epoch: 'e2', epochStart: 6, first: 6, last: 8 });
      assert.equal(await s.prune([{ prefix: 'live://', keep: 2, maxAgeMs: 3_600_000 }], 1_767_225_600_000), 3);
      assert.deepEqual(await s.state('live://1'), { epoch: 'e2', epochStart: 6, first: 7, last: 8 });
    });

    test('mids beyond 2^53 and negative, offsets beyond 2^32, binary bodies: exact round trip', async () => {
      const s = await open();
      await s.open('live://big', 0);
      const start = 2 ** 32 + 5;
      await s.newEpoch('live://big', 'wide', start);
      const bodies = [Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.alloc(0), Buffer.from([0, 0, 0])];
      const mids = [2n ** 63n - 1n, -(2n ** 63n), 9_007_199_254_740_993n, -42n];
      const list = [
        rec(start, { mid: mids[0], body: bodies[0], progress: 2 ** 40 }),
        rec(start + 1, { mid: mids[1], body: bodies[1] }),
        rec(start + 2, { mid: mids[2], body: bodies[2], time: 2 ** 45 + 1 }),
        rec(start + 3, { mid: mids[3], body: new Uint8Array(Buffer.from('not a Buffer: plain Uint8Array')), op: 2 ** 31 - 1 }),
      ];
      await s.append([{ room: 'live://big', epoch: 'wide', records: list }]);
      const back = await s.after('live://big', 0, 10);
      assert.deepEqual(plain(back), plain(list));
      for (const r of back) assert.equal(typeof r.mid, 'bigint');
      assert.deepEqual(await s.state('live://big'), { epoch: 'wide', epochStart: start, first: start, last: start + 3 });
      assert.deepEqual(offsets(await s.latest('live://big', 2)), [start + 2, start + 3]);
      assert.deepEqual(offsets(await inRange(s, 'live://big', 2 ** 40, 2 ** 40 + 1, 10)), [start]);
      assert.deepEqual(offsets((await s.pageAfter('live://big', start, { limit: 10, maxBytes: 0 })).records), [start + 1]);
      assert.deepEqual((await s.open('live://big', 1)).recent, [{ id: `id-${start + 3}`, offset: start + 3 }]);
      await s.append([{ room: 'live://big', epoch: 'wide', records: [list[3], rec(start + 4)] }]);
      assert.equal((await s.state('live://big'))?.last, start + 4);
    });

    test('ids and room keys are stored verbatim', async () => {
      const s = await open();
      const room = 'live://ü\'"%_\\x';
      const { epoch } = await s.open(room, 0);
      await s.append([{ room, epoch, records: [rec(1, { id: 'i\'d"%\u{1F600}' })] }]);
      assert.deepEqual(
        (await s.after(room, 0, 10)).map((r) => r.id),
        ['i\'d"%\u{1F600}'],
      );
      assert.equal(await s.state('live://ü'), null);
      assert.equal(await s.prune([{ prefix: 'live://ü%', keep: 1, maxAgeMs: 1 }], 2 ** 50), 0, 'a prefix is not a pattern');
      assert.equal(await s.prune([{ prefix: 'live://ü', keep: 1, maxAgeMs: 1 }], 2 ** 50), 1);
    });
  });
}
