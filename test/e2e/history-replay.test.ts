// Room history end to end in embedded mode (docs/history.md#replay, #history-over-http): a real
// client's token asks for history, logic reads the store, comet replays; the HTTP API pages the
// same records.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { GoimTestClient } from '../support/goim-client.js';
import { fill } from '../logic/history-fixtures.js';

describe('embedded: history replay', () => {
  let tsim: Embedded;
  let epoch: string;
  const clients: GoimTestClient[] = [];
  before(async () => {
    const store = new MemoryHistoryStore();
    epoch = await fill(store, 'live://1000', 5);
    const config = buildConfig({
      env: { host: 'comet-history' },
      tcp: { bind: ['127.0.0.1:0'] },
      websocket: { bind: ['127.0.0.1:0'] },
      httpServer: { addr: '127.0.0.1:0' },
      roomTypes: { live: { history: true, replayMax: 10 } },
    });
    tsim = await startEmbedded(config, silentLogger, store);
  });
  after(async () => {
    for (const c of clients) c.close();
    await tsim.stop();
  });

  const client = async (transport: 'tcp' | 'ws'): Promise<GoimTestClient> => {
    const a = tsim.addresses();
    const c = transport === 'tcp' ? await GoimTestClient.tcp(a.tcp[0].port) : await GoimTestClient.ws(a.ws[0].port);
    clients.push(c);
    return c;
  };

  for (const transport of ['tcp', 'ws'] as const) {
    it(`${transport}: a token asking for the last 3 gets op 8, op 18 and the records`, async () => {
      const c = await client(transport);
      await c.auth({ mid: 1, room_id: 'live://1000', history: { last: 3 } });
      const [state, ...recs] = await c.collect(4);
      assert.equal(state.op, 18);
      assert.deepEqual(JSON.parse(state.body.toString()), { room: 'live://1000', epoch, first: 3, last: 5, recovered: true });
      assert.deepEqual(
        recs.map((f) => [f.op, f.seq, f.body.toString()]),
        [
          [1000, 3, 'm3'],
          [1000, 4, 'm4'],
          [1000, 5, 'm5'],
        ],
      );
    });
  }

  it('a since request of the current epoch recovers what was missed; another epoch does not', async () => {
    const c = await client('tcp');
    await c.auth({ mid: 2, room_id: 'live://1000', history: { since: 3, epoch } });
    const [state, ...recs] = await c.collect(3);
    assert.deepEqual(JSON.parse(state.body.toString()), { room: 'live://1000', epoch, first: 4, last: 5, recovered: true });
    assert.deepEqual(
      recs.map((f) => f.seq),
      [4, 5],
    );
    const old = await client('tcp');
    await old.auth({ mid: 3, room_id: 'live://1000', history: { since: 3, epoch: 'gone' } });
    const refused = JSON.parse((await old.next()).body.toString()) as Record<string, unknown>;
    assert.deepEqual([refused.recovered, refused.reason], [false, 'epoch changed']);
  });

  it('a bad history request in the token fails the auth', async () => {
    const c = await client('tcp');
    c.send(7, JSON.stringify({ mid: 4, room_id: 'live://1000', history: { last: -1 } }));
    await c.closed;
  });

  it('the HTTP API pages the same records (loopback embedded: no key)', async () => {
    const res = await fetch(`http://127.0.0.1:${tsim.addresses().http.port}/tsim/history/room?type=live&room=1000&since=2&limit=2`);
    const page = (await res.json()) as { data: { records: Array<{ offset: number; body: string }>; next: number } };
    assert.deepEqual(
      page.data.records.map((r) => [r.offset, r.body]),
      [
        [3, 'm3'],
        [4, 'm4'],
      ],
    );
    assert.equal(page.data.next, 4);
  });
});
