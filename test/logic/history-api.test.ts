// The history API over a real listener (docs/http-api.md#history): parameter bounds, paging,
// bodies as text or base64, ETag / 304 on closed pages, API keys and api.publicHistory.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
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
    records: Array<{ offset: number; op: number; mid: string; time: number; progress: number | null; body: string; encoding?: string }>;
  };
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
    assert.deepEqual([full.data.records.map((x) => x.offset), full.data.next], [[1, 2], 2000]);
  });

  it('a room push with operation 18 (RoomState) is refused: goim members would not receive it', async () => {
    const r = await request(s.base, '/goim/push/room?operation=18&type=live&room=1000', { method: 'POST', body: 'x' });
    assert.equal(r.status, 400);
    assert.match(r.body, /operation 18 is reserved/);
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
    ];
    for (const [path, message] of cases) {
      const r = await request(s.base, path);
      assert.equal(r.status, 400, path);
      const body = JSON.parse(r.body) as { code: number; message: string };
      assert.equal(body.code, -400, path);
      assert.match(body.message, message, path);
    }
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
