// A push logic accepts is one a connection can take: bigger ones are refused with 413 (never
// answered `code 0` and then dropped by every comet), room batches never outgrow the largest
// push, and an idle connection takes a push that needs part of the reply reserve.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { GoimTestClient } from '../support/goim-client.js';
import { innerFrame, rawProto, startComet } from './harness.js';

function embeddedConfig(extra: Record<string, unknown> = {}) {
  return buildConfig({
    env: { host: 'comet-push-size' },
    tcp: { bind: ['127.0.0.1:0'] },
    websocket: { bind: ['127.0.0.1:0'] },
    httpServer: { addr: '127.0.0.1:0' },
    room: { signal: '20ms' },
    ...extra,
  });
}

/** An embedded tsim with one TCP and one WebSocket client in room live://big. */
async function withRoom(
  config: ReturnType<typeof embeddedConfig>,
  fn: (post: (path: string, body: Buffer) => Promise<{ status: number; text: string }>, clients: GoimTestClient[], tsim: Embedded) => Promise<void>,
) {
  const tsim = await startEmbedded(config, silentLogger);
  const a = tsim.addresses();
  const clients: GoimTestClient[] = [];
  try {
    clients.push(await GoimTestClient.tcp(a.tcp[0].port), await GoimTestClient.ws(a.ws[0].port));
    await clients[0].auth({ mid: 1, key: 'big-tcp', room_id: 'live://big', accepts: [1000] });
    await clients[1].auth({ mid: 2, key: 'big-ws', room_id: 'live://big', accepts: [1000] });
    const post = async (path: string, body: Buffer) => {
      const res = await fetch(`http://127.0.0.1:${a.http.port}${path}`, { method: 'POST', body: new Uint8Array(body) });
      return { status: res.status, text: await res.text() };
    };
    await fn(post, clients, tsim);
  } finally {
    for (const c of clients) c.close();
    await tsim.stop();
  }
}

describe('push size', () => {
  it('defaults: a 1 MiB push is refused with 413 on every push endpoint; one of push.maxBytes reaches TCP and WebSocket', async () => {
    await withRoom(embeddedConfig(), async (post, clients, tsim) => {
      const max = 256 * 1024;
      for (const path of [
        '/goim/push/room?operation=1000&type=live&room=big',
        '/goim/push/all?operation=1000',
        '/goim/push/keys?operation=1000&keys=big-tcp',
        '/goim/push/mids?operation=1000&mids=1',
      ]) {
        const res = await post(path, Buffer.alloc(1 << 20, 1));
        assert.deepEqual(res, { status: 413, text: `{"code":-413,"message":"push message of 1048576 bytes exceeds push.maxBytes (${max})"}` }, path);
        assert.deepEqual(
          await post(path, Buffer.alloc(max + 1, 1)),
          { status: 413, text: `{"code":-413,"message":"push message of ${max + 1} bytes exceeds push.maxBytes (${max})"}` },
          path,
        );
      }
      assert.equal(tsim.logic.pushRefused.too_large, 8);
      const ok = await post('/goim/push/room?operation=1000&type=live&room=big', Buffer.alloc(max, 7));
      assert.deepEqual(ok, { status: 200, text: '{"code":0,"message":""}' });
      for (const c of clients) {
        const f = await c.next();
        assert.equal(f.body.length, max, c.transport);
        assert.equal(f.body[max - 1], 7);
      }
      assert.equal(tsim.comet.stats().pushesDropped, 0);
    });
  });

  it('three 600 KB room pushes in a row reach every client (they are never merged into one batch too big to queue)', async () => {
    // A long signal, so the second and third wait in one batch: merged they would be 1.2 MB.
    await withRoom(embeddedConfig({ push: { maxBytes: 600_000 }, room: { signal: '500ms' } }), async (post, clients, tsim) => {
      for (let i = 1; i <= 3; i++) {
        const res = await post('/goim/push/room?operation=1000&type=live&room=big', Buffer.alloc(600_000, i));
        assert.equal(res.text, '{"code":0,"message":""}');
      }
      for (const c of clients) {
        const got = await c.collect(3, 20_000);
        assert.deepEqual(
          got.map((f) => [f.body.length, f.body[0]]),
          [
            [600_000, 1],
            [600_000, 2],
            [600_000, 3],
          ],
          c.transport,
        );
      }
      assert.equal(tsim.comet.stats().pushesDropped, 0);
    });
  });

  it('an idle connection takes a push that needs part of the reply reserve; one bigger than the whole queue is dropped and counted', async () => {
    // sendQueueBytes 4096: pushes may fill 3,072 bytes, replies the remaining 1,024.
    const limits = new LimitHits();
    const h = await startComet({ protocol: { sendQueueBytes: 4096, slowPolicy: 'drop' } }, undefined, { limits });
    try {
      const tcp = await h.client('tcp', { key: 'idle-tcp', accepts: [1] });
      const ws = await h.client('ws', { key: 'idle-ws', accepts: [1] });
      h.comet.pushMsg(['idle-tcp', 'idle-ws'], 1, rawProto(innerFrame(1, 'r'.repeat(3500))));
      for (const c of [tcp, ws]) assert.equal((await c.next()).body.toString(), 'r'.repeat(3500), c.transport);
      h.comet.pushMsg(['idle-tcp', 'idle-ws'], 1, rawProto(innerFrame(1, 'x'.repeat(5000))));
      h.comet.pushMsg(['idle-tcp', 'idle-ws'], 1, rawProto(innerFrame(1, 'after')));
      for (const c of [tcp, ws]) assert.equal((await c.next()).body.toString(), 'after', c.transport);
      assert.equal(h.comet.counters().pushesTooLarge, 2);
      assert.equal(limits.snapshot().push_too_large, 1, 'one push call, counted (and logged) once');
      assert.equal(h.comet.stats().pushesDropped, 2);
    } finally {
      await h.stop();
    }
  });
});
