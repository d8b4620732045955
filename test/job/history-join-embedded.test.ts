// Replay in a joined room end to end in embedded mode (docs/history.md#several-rooms): room
// pushes are numbered and stored in SQLite by the job; a multi-room client joining the room
// with `history` gets op 18 and the stored records in the room's op-23 envelopes, then live,
// on TCP and WebSocket.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { eventually } from '../support/eventually.js';
import { GoimTestClient, type Frame } from '../support/goim-client.js';
import { openEnvelope } from '../support/room-envelope.js';

/** An op-18 body reduced to whether it names an epoch and says recovered. */
function recoveredIn(body: string): boolean {
  const s = JSON.parse(body) as { epoch: string; recovered: boolean };
  return s.epoch !== '' && s.recovered;
}

/** An op-23 frame as `room|op:seq:body` per inner frame. */
function opened(f: Frame): string[] {
  const { room, frames } = openEnvelope(f);
  return frames.map((x) => `${room}|${x.op}:${x.seq}:${x.op === 18 ? recoveredIn(x.body.toString()) : x.body.toString()}`);
}

test('embedded: a join with history replays the stored records of the joined room, enveloped, then live (TCP and WebSocket)', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tsim-join-history-'));
  const config = buildConfig({
    env: { host: `join-history-${process.pid}` },
    tcp: { bind: ['127.0.0.1:0'] },
    websocket: { bind: ['127.0.0.1:0'] },
    httpServer: { addr: '127.0.0.1:0' },
    room: { signal: '20ms' },
    roomTypes: { live: { history: true } },
    history: { engine: 'sqlite', dataDir },
  });
  const tsim = await startEmbedded(config, silentLogger);
  const a = tsim.addresses();
  const clients: GoimTestClient[] = [];
  try {
    const post = async (path: string, body: string) => {
      const res = await fetch(`http://127.0.0.1:${a.http.port}${path}`, { method: 'POST', body });
      assert.equal(res.status, 200, await res.text());
    };
    for (const text of ['one', 'two', 'three']) await post('/goim/push/room?operation=1000&type=live&room=7', text);
    // Stored before anyone joins: the history API has them.
    await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${a.http.port}/tsim/history/room?type=live&room=7`);
      return res.status === 200 && ((await res.json()) as { data: { records: unknown[] } }).data.records.length === 3;
    }, 'the three records to be stored');

    for (const transport of ['tcp', 'ws'] as const) {
      const c = transport === 'tcp' ? await GoimTestClient.tcp(a.tcp[0].port) : await GoimTestClient.ws(a.ws[0].port);
      clients.push(c);
      await c.auth({ mid: 1, key: `jh-${transport}`, room_id: `live://home-${transport}`, accepts: [1000], history: {} });
      // Accepted at once, also while the home room's own replay (a history type too) is read.
      c.send(19, '{"room":"live://7","history":{"last":2}}', 1, 3);
      assert.equal((JSON.parse((await c.nextWhere((f) => f.op === 20)).body.toString()) as { code: number }).code, 0);
      const got: string[] = [];
      while (got.length < 3) got.push(...opened(await c.nextWhere((f) => f.op === 23)));
      // The newest two: the TCP round's live message is one of them for the WebSocket client.
      const newest = transport === 'tcp' ? ['live://7|1000:2:two', 'live://7|1000:3:three'] : ['live://7|1000:3:three', 'live://7|1000:4:four-tcp'];
      assert.deepEqual(got, ['live://7|18:0:true', ...newest], transport);
      await post('/goim/push/room?operation=1000&type=live&room=7', `four-${transport}`);
      const live = opened(await c.nextWhere((f) => f.op === 23));
      assert.deepEqual(live, [`live://7|1000:${transport === 'tcp' ? 4 : 5}:four-${transport}`], transport);
    }
  } finally {
    for (const c of clients) c.close();
    await tsim.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
