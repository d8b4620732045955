// The SDK following history in every room it is in (docs/client.md#danmaku-and-history) against
// a real embedded tsim: room pushes numbered by the job and stored in SQLite; a client in a
// primary room and two joined rooms loses its connection while each room gets messages, and
// after the reconnect has every room's messages once, in offset order, with a roomState per
// room; a fresh joinRoom with `{ last: N }` replays the newest N.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TcpClient, TsimClient, type ClientEvents, type ClientSession, type PushMessage, type RoomStateEvent, type TokenValue } from 'tsim-client';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { eventually } from '../support/eventually.js';
import { GoimTestClient } from '../support/goim-client.js';
import { next } from './fake-comet.js';

type Ev = ClientEvents;

describe('client: history in every room against embedded tsim', () => {
  let tsim: Embedded;
  let dataDir: string;
  let api: string;
  const closers: (() => unknown)[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tsim-sdk-rooms-'));
    tsim = await startEmbedded(
      buildConfig({
        env: { host: `sdk-rooms-${process.pid}` },
        tcp: { bind: ['127.0.0.1:0'] },
        websocket: { bind: ['127.0.0.1:0'] },
        httpServer: { addr: '127.0.0.1:0' },
        room: { signal: '20ms' },
        roomTypes: { live: { history: true } },
        history: { engine: 'sqlite', dataDir },
      }),
      silentLogger,
    );
    api = `http://127.0.0.1:${tsim.addresses().http.port}`;
  });

  after(async () => {
    for (const c of closers.reverse()) await c();
    await tsim?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Pushes `texts` to live://`id`, in order, and waits until the history API has `stored` records there. */
  const push = async (id: string, texts: string[], stored: number): Promise<void> => {
    for (const text of texts) {
      const res = await fetch(`${api}/goim/push/room?operation=1000&type=live&room=${id}`, { method: 'POST', body: text });
      assert.equal(res.status, 200, await res.text());
    }
    await eventually(async () => {
      const res = await fetch(`${api}/tsim/history/room?type=live&room=${id}`);
      return res.status === 200 && ((await res.json()) as { data: { records: unknown[] } }).data.records.length === stored;
    }, `${stored} records stored in live://${id}`);
  };

  /** Every message and roomState of `c`, by room. */
  const record = (c: ClientSession) => {
    const messages = new Map<string, PushMessage[]>();
    const states = new Map<string, RoomStateEvent[]>();
    const lost: RoomStateEvent[] = [];
    c.on('message', (m) => {
      const list = messages.get(m.room) ?? [];
      messages.set(m.room, list);
      list.push(m);
    });
    c.on('roomState', (s) => {
      const list = states.get(s.room) ?? [];
      states.set(s.room, list);
      list.push(s);
    });
    c.on('notRecovered', (s) => lost.push(s));
    const texts = (room: string) => (messages.get(room) ?? []).map((m) => `${m.offset}:${m.text()}`);
    return { messages, states, lost, texts };
  };

  for (const transport of ['tcp', 'ws'] as const) {
    it(`${transport}: after a lost connection, every room's messages arrive once and in order, with a roomState per room`, async () => {
      const a = tsim.addresses();
      const [p, j1, j2] = ['p', 'j1', 'j2'].map((r) => `${r}-${transport}`);
      const rooms = [p, j1, j2];
      const key = `sdk-rooms-${transport}`;
      // Each room has an epoch and two records before the client comes.
      for (const r of rooms) await push(r, [`${r} 1`, `${r} 2`], 2);

      // The token is asked for on every (re)connect: holding it keeps the client away while the rooms go on.
      let gate: Promise<void> = Promise.resolve();
      const token = async (): Promise<TokenValue> => {
        await gate;
        return { mid: 51, key, room_id: `live://${p}`, accepts: [] };
      };
      const opts = { token, history: { last: 20 }, reconnect: { baseMs: 10, maxMs: 40, jitter: 0 } };
      const c: ClientSession =
        transport === 'tcp'
          ? new TcpClient({ url: `127.0.0.1:${a.tcp[0].port}`, ...opts })
          : new TsimClient({ url: `ws://127.0.0.1:${a.ws[0].port}/sub`, ...opts });
      closers.push(() => c.close());
      const got = record(c);
      await next<Ev, 'auth'>(c, 'auth');
      assert.equal((await c.joinRoom([`live://${j1}`, `live://${j2}`])).code, 0);
      const upTo = (n: number) => eventually(() => rooms.every((r) => got.texts(`live://${r}`).length === n), `${n} messages in every room`);
      // The token's last 20 replays the two stored in each room.
      await upTo(2);
      for (const r of rooms) await push(r, [`${r} 3`, `${r} 4`], 4);
      await upTo(4);

      // Cut by the server: another connection with the same key replaces this one.
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      const closed = next<Ev, 'close'>(c, 'close');
      const thief = await GoimTestClient.tcp(a.tcp[0].port);
      await thief.auth({ mid: 51, key });
      assert.equal((await closed).willReconnect, true);
      for (const r of rooms) await push(r, [`${r} 5`, `${r} 6`, `${r} 7`], 7);
      const statesBefore = new Map(rooms.map((r) => [r, got.states.get(`live://${r}`)?.length ?? 0]));
      const reauthed = next<Ev, 'auth'>(c, 'auth');
      release();
      await reauthed;
      await thief.closed;
      await upTo(7);
      for (const r of rooms) await push(r, [`${r} 8`], 8);
      await upTo(8);

      for (const r of rooms) {
        const room = `live://${r}`;
        assert.deepEqual(
          got.texts(room),
          Array.from({ length: 8 }, (_, i) => `${i + 1}:${r} ${i + 1}`),
          `${room}: each message once, in offset order`,
        );
        const states = got.states.get(room) ?? [];
        assert.equal(states.length, statesBefore.get(r)! + 1, `${room}: one roomState at the reconnect`);
        const last = states.at(-1)!;
        assert.deepEqual([last.recovered, last.first, last.last], [true, 5, 7], `${room}: recovered what was missed`);
        assert.equal(c.historyPositionOf(room)?.offset, 8);
      }
      assert.deepEqual(got.lost, [], 'nothing reported lost');
      assert.deepEqual(got.messages.get('')?.length ?? 0, 0, 'every room message says its room');
      await c.close();
    });
  }

  it('a fresh joinRoom with { last: N } replays the newest N of that room', async () => {
    await push('fresh', ['f1', 'f2', 'f3', 'f4', 'f5'], 5);
    const c = new TcpClient({
      url: `127.0.0.1:${tsim.addresses().tcp[0].port}`,
      token: { mid: 52, room_id: 'live://fresh-home' },
      history: { last: 1 },
    });
    closers.push(() => c.close());
    const got = record(c);
    await next<Ev, 'auth'>(c, 'auth');
    assert.deepEqual(await c.joinRoom('live://fresh', { history: { last: 3 } }), { code: 0, rooms: ['live://fresh-home', 'live://fresh'] });
    await eventually(() => got.texts('live://fresh').length === 3, 'three replayed');
    assert.deepEqual(got.texts('live://fresh'), ['3:f3', '4:f4', '5:f5']);
    assert.deepEqual(
      got.states.get('live://fresh')?.map((s) => [s.first, s.last, s.recovered]),
      [[3, 5, true]],
    );
    // Asks the server would refuse are refused here, with the whole call.
    assert.deepEqual(await c.joinRoom('live://other', { history: { last: 10_001 } }), {
      code: 1,
      message: 'history.last must be an integer from 0 to 10000',
      rooms: ['live://fresh-home', 'live://fresh'],
    });
    const plain = new TcpClient({ url: `127.0.0.1:${tsim.addresses().tcp[0].port}`, token: { mid: 53 } });
    closers.push(() => plain.close());
    assert.equal((await plain.joinRoom('live://fresh', { history: { last: 3 } })).code, 5, 'without the history option');
    await c.close();
  });
});
