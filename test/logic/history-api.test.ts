// The history API over a real listener (docs/http-api.md#history): parameter bounds, paging,
// bodies as text or base64, ETag / 304 on closed pages, API keys and api.publicHistory.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import type { HistoryRecord } from '../../src/ports/index.js';
import { JSON_TYPE, request, startLogic, type Running } from './fixtures.js';
import { fill } from './history-fixtures.js';

interface PageJson {
  code: number;
  message: string;
  data: {
    room: string;
    epoch: string;
    first: number;
    last: number;
    next: number;
    after?: number;
    records: Array<{ offset: number; op: number; mid: string; time: number; progress: number | null; body: string; encoding?: string }>;
  };
}

async function page(base: string, path: string): Promise<{ page: PageJson; cache: string | null; etag: string | null }> {
  const r = await request(base, path);
  assert.equal(r.status, 200, `${path}: ${r.body.slice(0, 200)}`);
  return { page: JSON.parse(r.body) as PageJson, cache: r.headers.get('cache-control'), etag: r.headers.get('etag') };
}

/** Offsets 1..n of `room`, each body `size` bytes of text (`<offset>:xxx…`), all at `progress`. */
async function fillSized(store: MemoryHistoryStore, room: string, n: number, size: number, progress: number): Promise<void> {
  const { epoch } = await store.open(room, 0);
  const records: HistoryRecord[] = [];
  for (let o = 1; o <= n; o++) {
    const head = `${o}:`;
    records.push({ offset: o, id: `id-${o}`, op: 1000, body: Buffer.from(head.padEnd(size, 'x')), mid: 1n, time: 1_767_225_600_000 + o, progress });
  }
  await store.append([{ room, epoch, records }]);
}

/** Every page of `/room` from since 0: the pages' offsets, following `next` until it reaches `last`. */
async function roomPages(base: string, query: string): Promise<number[][]> {
  const pages: number[][] = [];
  let since = 0;
  for (;;) {
    const { page: p } = await page(base, `/tsim/history/room?${query}&since=${since}`);
    assert.ok(pages.length < 100, 'paging ends');
    pages.push(p.data.records.map((r) => r.offset));
    if (p.data.records.length === 0 || p.data.next >= p.data.last) return pages;
    since = p.data.next;
  }
}

/** Every page of `/progress` over [from, to), following `next` and `after` until `next` is `to`. */
async function progressPages(base: string, query: string, from: number, to: number): Promise<number[][]> {
  const pages: number[][] = [];
  let at = `from=${from}`;
  for (;;) {
    const { page: p } = await page(base, `/tsim/history/progress?${query}&${at}&to=${to}`);
    assert.ok(pages.length < 100, 'paging ends');
    pages.push(p.data.records.map((r) => r.offset));
    if (p.data.next === to) {
      assert.equal(p.data.after, 0);
      return pages;
    }
    at = `from=${p.data.next}&after=${p.data.after}`;
  }
}

const ROOM_TYPES = { live: { history: true }, chat: { send: true } };

describe('history API', () => {
  let s: Running;
  const store = new MemoryHistoryStore();
  let epoch: string;
  before(async () => {
    s = await startLogic({ roomTypes: ROOM_TYPES }, { history: store });
    epoch = await fill(store, 'live://1000', 5);
    // A binary body (not UTF-8) at offset 6.
    await store.append([
      {
        room: 'live://1000',
        epoch,
        records: [{ offset: 6, id: 'bin', op: 1001, body: Buffer.from([0xff, 0x00, 0xc3]), mid: 0n, time: 1, progress: null }],
      },
    ]);
  });
  after(() => s.stop());

  it('/room pages oldest first with next; a full page is closed (ETag, private cache behind keys), the open tail no-cache', async () => {
    const r1 = await request(s.base, '/tsim/history/room?type=live&room=1000&since=0&limit=4');
    assert.equal(r1.status, 200);
    assert.equal(r1.type, JSON_TYPE);
    const p1 = JSON.parse(r1.body) as PageJson;
    assert.deepEqual([p1.code, p1.data.room, p1.data.epoch, p1.data.first, p1.data.last, p1.data.next], [0, 'live://1000', epoch, 1, 6, 4]);
    assert.deepEqual(p1.data.records[0], { offset: 1, op: 1000, mid: '7', time: 1_767_225_600_001, progress: 1000, body: 'm1' });
    assert.deepEqual(
      p1.data.records.map((x) => x.offset),
      [1, 2, 3, 4],
    );
    const etag = r1.headers.get('etag');
    assert.match(etag ?? '', /^"[A-Za-z0-9_-]+"$/);
    // Loopback without keys here, but not api.publicHistory: only the caller may cache it.
    assert.equal(r1.headers.get('cache-control'), 'private, max-age=3600');

    const r2 = await request(s.base, `/tsim/history/room?type=live&room=1000&since=${p1.data.next}&limit=4`);
    const p2 = JSON.parse(r2.body) as PageJson;
    assert.deepEqual(
      p2.data.records.map((x) => [x.offset, x.body, x.encoding]),
      [
        [5, 'm5', undefined],
        [6, Buffer.from([0xff, 0x00, 0xc3]).toString('base64'), 'base64'],
      ],
    );
    assert.equal(p2.data.records[1].progress, null);
    assert.equal(p2.data.next, 6);
    assert.equal(r2.headers.get('etag'), null);
    assert.equal(r2.headers.get('cache-control'), 'no-cache');

    // Default since 0 and limit 100.
    const all = JSON.parse((await request(s.base, '/tsim/history/room?type=live&room=1000')).body) as PageJson;
    assert.equal(all.data.records.length, 6);
  });

  it('If-None-Match with the ETag of a closed page: 304', async () => {
    const path = '/tsim/history/room?type=live&room=1000&since=0&limit=2';
    const first = await request(s.base, path);
    const etag = first.headers.get('etag')!;
    const again = await request(s.base, path, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    assert.equal(again.headers.get('etag'), etag);
    const other = await request(s.base, path, { headers: { 'if-none-match': '"stale"' } });
    assert.equal(other.status, 200);
  });

  it('/progress: a video segment by progress; never cacheable (a danmaku for any position may still come)', async () => {
    const r = await request(s.base, '/tsim/history/progress?type=live&room=1000&from=2000&to=4000');
    const p = JSON.parse(r.body) as PageJson;
    assert.deepEqual(
      p.data.records.map((x) => [x.offset, x.progress]),
      [
        [2, 2000],
        [3, 3000],
      ],
    );
    assert.equal(p.data.next, 4000);
    // The newest record (6) has no progress: the segment could still fill.
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const room2 = 'live://2000';
    await fill(store, room2, 5);
    const past = await request(s.base, '/tsim/history/progress?type=live&room=2000&from=0&to=3000');
    assert.equal(past.headers.get('cache-control'), 'no-cache');
    assert.equal(past.headers.get('etag'), null);
    const full = JSON.parse((await request(s.base, '/tsim/history/progress?type=live&room=2000&from=0&to=60000&limit=2')).body) as PageJson;
    assert.deepEqual([full.data.records.map((x) => x.offset), full.data.next, full.data.after], [[1, 2], 2000, 2]);
    const rest = JSON.parse(
      (await request(s.base, '/tsim/history/progress?type=live&room=2000&from=2000&after=2&to=60000&limit=2')).body,
    ) as PageJson;
    assert.deepEqual([rest.data.records.map((x) => x.offset), rest.data.next, rest.data.after], [[3, 4], 4000, 4]);
    assert.equal((await page(s.base, '/tsim/history/room?type=live&room=2000&limit=2')).page.data.after, undefined, '/room has no after');
  });

  it('/progress: more records at one progress than a page holds are paged with (progress, offset), none skipped or repeated', async () => {
    const room = 'live://3000';
    // 1 at 1000, 11 at 5000, then 2 at 9000.
    const { epoch } = await store.open(room, 0);
    const at = (o: number): number => (o === 1 ? 1000 : o <= 12 ? 5000 : 9000);
    const records = Array.from({ length: 14 }, (_, i) => ({
      offset: i + 1,
      id: `p${i + 1}`,
      op: 1000,
      body: Buffer.from(`p${i + 1}`),
      mid: 1n,
      time: 1,
      progress: at(i + 1),
    }));
    await store.append([{ room, epoch, records }]);
    const pages = await progressPages(s.base, 'type=live&room=3000&limit=3', 0, 10_000);
    assert.deepEqual(pages, [
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
      [10, 11, 12],
      [13, 14],
    ]);
    // The old query (no after) still starts with every record at `from`.
    const { page: p } = await page(s.base, '/tsim/history/progress?type=live&room=3000&from=5000&to=10000&limit=3');
    assert.deepEqual([p.data.records.map((r) => r.offset), p.data.next, p.data.after], [[2, 3, 4], 5000, 4]);
  });

  it('a room push with operation 18 (RoomState) is refused: goim members would not receive it', async () => {
    const r = await request(s.base, '/goim/push/room?operation=18&type=live&room=1000', { method: 'POST', body: 'x' });
    assert.equal(r.status, 400);
    assert.match(r.body, /operation 18 is reserved/);
  });

  it('pushes with operations 19 to 23 (joining rooms, the op-23 envelope) are refused on every push route; 30 is not', async () => {
    for (const op of [19, 23]) {
      for (const path of [
        `/goim/push/room?operation=${op}&type=live&room=1000`,
        `/goim/push/keys?operation=${op}&keys=k`,
        `/goim/push/all?operation=${op}`,
      ]) {
        const r = await request(s.base, path, { method: 'POST', body: 'x' });
        assert.equal(r.status, 400, path);
        assert.match(r.body, new RegExp(`operation ${op} is reserved for joining rooms`));
      }
    }
    const ok = await request(s.base, '/goim/push/room?operation=30&type=live&room=1000', { method: 'POST', body: 'x' });
    assert.equal(ok.status, 200);
  });

  it('bad parameters: 400 in the envelope naming the parameter', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/tsim/history/room?room=1000', /type/],
      ['/tsim/history/room?type=live', /room/],
      ['/tsim/history/room?type=live&room=1&limit=1001', /limit/],
      ['/tsim/history/room?type=live&room=1&limit=0', /limit/],
      ['/tsim/history/room?type=live&room=1&since=-1', /since/],
      ['/tsim/history/room?type=live&room=1&since=9007199254740992', /since/],
      ['/tsim/history/room?type=live&room=1&since=abc', /since/],
      ['/tsim/history/room?type=li%2Fve&room=1', /type/],
      ['/tsim/history/progress?type=live&room=1&from=0', /to/],
      ['/tsim/history/progress?type=live&room=1&from=0&to=3600001', /1 h/],
      ['/tsim/history/progress?type=live&room=1&from=10&to=10', /greater/],
      // Numbers: decimal digits only, within 0 … 2^53 - 1.
      ['/tsim/history/room?type=live&room=1&limit=0x10', /limit must be an integer from 1 to 1000/],
      ['/tsim/history/room?type=live&room=1&limit=1e2', /limit/],
      ['/tsim/history/room?type=live&room=1&limit=%2B5', /limit/],
      ['/tsim/history/room?type=live&room=1&limit=%205', /limit/],
      ['/tsim/history/room?type=live&room=1&limit=-5', /limit/],
      ['/tsim/history/room?type=live&room=1&limit=', /limit/],
      ['/tsim/history/room?type=live&room=1&limit=99999999999999999999', /limit/],
      ['/tsim/history/room?type=live&room=1&since=1.0', /since must be an integer from 0 to 9007199254740991/],
      ['/tsim/history/room?type=live&room=1&since=', /since/],
      ['/tsim/history/progress?type=live&room=1&from=abc&to=1', /from/],
      ['/tsim/history/progress?type=live&room=1&from=&to=1', /from must be an integer from 0 to 9007199254740991/],
      ['/tsim/history/progress?type=live&room=1&to=1', /from is required/],
      ['/tsim/history/progress?type=live&room=1&from=0&to=9007199254740992', /to must be an integer/],
      ['/tsim/history/progress?type=live&room=1&from=0&to=1&after=-1', /after/],
      ['/tsim/history/progress?type=live&room=1&from=0&to=1&after=9007199254740992', /after/],
      ['/tsim/history/progress?type=live&room=1&from=0&to=1&after=x', /after/],
      ['/tsim/history/progress?type=live&room=1&from=0&to=1&limit=1001', /limit/],
      // Room keys: a type of 1 to 64 name characters, a room of 1 to 256 characters without NUL.
      [`/tsim/history/room?type=${'t'.repeat(65)}&room=1`, /type/],
      ['/tsim/history/room?type=&room=1', /type is required/],
      ['/tsim/history/room?type=live%3A%2F%2Fx&room=1', /type/],
      ['/tsim/history/room?type=live&room=', /room is required/],
      [`/tsim/history/room?type=live&room=${'r'.repeat(257)}`, /room must be at most 256 characters/],
      ['/tsim/history/room?type=live&room=a%00b', /room must not contain NUL/],
      ['/tsim/history/progress?type=live&room=a%00b&from=0&to=1', /NUL/],
    ];
    for (const [path, message] of cases) {
      const r = await request(s.base, path);
      assert.equal(r.status, 400, path);
      const body = JSON.parse(r.body) as { code: number; message: string };
      assert.equal(body.code, -400, path);
      assert.match(body.message, message, path);
    }
  });

  it('parameters bind as on the goim routes: the first of a repeated one counts, the longest room id and largest offsets pass', async () => {
    const { page: p } = await page(s.base, '/tsim/history/room?type=live&room=1000&limit=2&limit=5000&since=0&since=x');
    assert.deepEqual(
      p.data.records.map((r) => r.offset),
      [1, 2],
    );
    const long = await page(s.base, `/tsim/history/room?type=live&room=${'r'.repeat(256)}&since=9007199254740991&limit=1000`);
    assert.deepEqual([long.page.data.room, long.page.data.records], [`live://${'r'.repeat(256)}`, []]);
    const far = await page(s.base, '/tsim/history/progress?type=live&room=1000&from=9007199254740990&to=9007199254740991&after=9007199254740991');
    assert.deepEqual([far.page.data.records, far.page.data.next, far.page.data.after], [[], 9007199254740991, 0]);
  });

  it('a room type without history: 404; a store failure: 503', async () => {
    const r = await request(s.base, '/tsim/history/room?type=chat&room=1');
    assert.deepEqual([r.status, (JSON.parse(r.body) as { code: number }).code], [404, -404]);
    store.failing = new Error('down');
    try {
      const f = await request(s.base, '/tsim/history/room?type=live&room=1000');
      assert.deepEqual([f.status, f.body], [503, '{"code":-503,"message":"history unavailable"}']);
    } finally {
      store.failing = null;
    }
  });
});

describe('history API page size (api.historyPageBytes)', () => {
  const MAX = 262_144; // push.maxBytes by default
  let s: Running;
  let tiny: Running;
  before(async () => {
    const store = new MemoryHistoryStore();
    // Ten records of push.maxBytes each, all at one progress; a room of small ones beside them.
    await fillSized(store, 'live://big', 10, MAX, 60_000);
    await fillSized(store, 'live://small', 5, 30, 1000);
    s = await startLogic({ roomTypes: ROOM_TYPES }, { history: store });
    tiny = await startLogic({ roomTypes: ROOM_TYPES, api: { historyPageBytes: 100 } }, { history: store });
  });
  after(async () => {
    await s.stop();
    await tiny.stop();
  });

  it('/room: a page ends at the byte budget (1 MiB: four records of push.maxBytes), next goes on from there, every record once', async () => {
    const first = await page(s.base, '/tsim/history/room?type=live&room=big&since=0&limit=1000');
    assert.deepEqual(
      first.page.data.records.map((r) => r.offset),
      [1, 2, 3, 4],
    );
    assert.equal(first.page.data.next, 4);
    const bytes = first.page.data.records.reduce((a, r) => a + Buffer.byteLength(r.body), 0);
    assert.ok(bytes <= 1 << 20, `${bytes} bytes of bodies`);
    assert.equal(first.page.data.records[3].body, '4:'.padEnd(MAX, 'x'), 'bodies whole');
    // Cut at the budget with record 5 stored: the page cannot change.
    assert.equal(first.cache, 'private, max-age=3600');
    assert.match(first.etag ?? '', /^"/);
    assert.deepEqual(await roomPages(s.base, 'type=live&room=big&limit=1000'), [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10],
    ]);
    const tail = await page(s.base, '/tsim/history/room?type=live&room=big&since=8&limit=1000');
    assert.equal(tail.cache, 'no-cache', 'the tail ended neither at limit nor at the budget');
    // limit still counts.
    assert.deepEqual(
      (await page(s.base, '/tsim/history/room?type=live&room=big&since=2&limit=1')).page.data.records.map((r) => r.offset),
      [3],
    );
  });

  it('/progress: the byte budget cuts pages at one progress value; (next, after) goes on, every record once', async () => {
    assert.deepEqual(await progressPages(s.base, 'type=live&room=big&limit=1000', 0, 3_600_000), [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10],
    ]);
    const { page: p } = await page(s.base, '/tsim/history/progress?type=live&room=big&from=0&to=60001');
    assert.deepEqual([p.data.next, p.data.after], [60_000, 4], 'cut: not done although shorter than limit');
  });

  it('a budget smaller than one record still gives one record a page', async () => {
    const one = await page(tiny.base, '/tsim/history/room?type=live&room=big&since=0&limit=1000');
    assert.deepEqual(
      one.page.data.records.map((r) => r.offset),
      [1],
    );
    assert.equal(one.page.data.records[0].body.length, MAX);
    const each = Array.from({ length: 10 }, (_, i) => [i + 1]);
    assert.deepEqual(await roomPages(tiny.base, 'type=live&room=big&limit=1000'), each);
    assert.deepEqual(await progressPages(tiny.base, 'type=live&room=big&limit=1000', 60_000, 60_001), each);
    // Small records share the 100 bytes: three bodies of 30 a page.
    assert.deepEqual(await roomPages(tiny.base, 'type=live&room=small&limit=1000'), [
      [1, 2, 3],
      [4, 5],
    ]);
  });
});

describe('history API keys', () => {
  const KEY = 'k'.repeat(24);
  let guarded: Running;
  let open: Running;
  before(async () => {
    const store = new MemoryHistoryStore();
    await fill(store, 'live://1', 1);
    guarded = await startLogic({ roomTypes: ROOM_TYPES, api: { auth: 'on', keys: [KEY] } }, { history: store });
    open = await startLogic({ roomTypes: ROOM_TYPES, api: { auth: 'on', keys: [KEY], publicHistory: true } }, { history: store });
  });
  after(async () => {
    await guarded.stop();
    await open.stop();
  });

  it('need a key like the push API unless api.publicHistory', async () => {
    const path = '/tsim/history/room?type=live&room=1';
    assert.equal((await request(guarded.base, path)).status, 401);
    assert.equal((await request(guarded.base, '/tsim/history/progress?type=live&room=1&from=0&to=1')).status, 401);
    assert.equal((await request(guarded.base, path, { headers: { authorization: `Bearer ${KEY}` } })).status, 200);
    const pub = await request(open.base, path);
    assert.equal(pub.status, 200);
    // The page is complete (limit 1, one record) and public: shared caches may keep it.
    const page = await request(open.base, `${path}&limit=1`);
    assert.equal(page.headers.get('cache-control'), 'public, max-age=3600');
    const keyed = await request(guarded.base, `${path}&limit=1`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(keyed.headers.get('cache-control'), 'private, max-age=3600');
    // The push API keeps its key.
    assert.equal((await request(open.base, '/goim/push/all?operation=1', { method: 'POST', body: 'x' })).status, 401);
  });
});
