// The moderation webhook (src/logic/danmaku/moderation.ts, docs/history.md#moderation) against
// a real local HTTP server, through the danmaku it decides on: what logic POSTs, accept,
// reject, replace, and every failure under failOpen and fail-closed.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { ModerationSettings } from '../../../src/logic/room-types.js';
import { MAX_ANSWER_BYTES } from '../../../src/logic/danmaku/moderation.js';
import { answer, code, desk, op4, roomType } from './support.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

describe('danmaku moderation webhook', () => {
  let server: Server;
  let url: string;
  let handler: Handler;
  const seen: Array<{ method: string; type: string | undefined; body: string }> = [];
  const held: ServerResponse[] = [];
  const closers: Array<() => void> = [];

  const reply =
    (status: number, body: string): Handler =>
    (_req, _b, res) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  let onHeld: (() => void) | undefined;
  const hold: Handler = (_req, _b, res) => {
    held.push(res);
    onHeld?.();
  };

  const moderated = (m: Partial<ModerationSettings> = {}) => {
    const d = desk({ live: roomType({ moderation: { url, timeout: 2000, failOpen: true, maxInflight: 256, ...m } }) });
    closers.push(() => d.danmaku.close());
    return d;
  };
  const text = (m: { msg: Uint8Array }) => (JSON.parse(Buffer.from(m.msg).toString()) as { text?: string }).text;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: req.method ?? '', type: req.headers['content-type'], body });
        handler(req, body, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/moderate`;
  });
  beforeEach(() => {
    seen.length = 0;
    for (const res of held.splice(0)) res.destroy();
  });
  after(async () => {
    for (const c of closers) c();
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('accept: logic POSTs the sender, room and text (the mid exactly), then publishes', async () => {
    handler = reply(200, '{"action":"accept"}');
    const { danmaku, queue } = moderated();
    assert.equal(code(await danmaku.receive(op4({ text: 'hi "x"' }, { mid: 9007199254740993n }))), 0);
    assert.deepEqual(seen, [{ method: 'POST', type: 'application/json', body: '{"mid":9007199254740993,"room":"live://1000","text":"hi \\"x\\""}' }]);
    assert.equal(queue.published.length, 1);
    await danmaku.receive(op4('{"data": {"a": 1}}', { mid: 124n }));
    assert.equal(seen[1].body, '{"mid":124,"room":"live://1000","data":{"a": 1}}', 'data as the sender wrote it');
    assert.deepEqual(danmaku.moderationCounts(), { live: { accept: 2, reject: 0, replace: 0, timeout: 0, error: 0, busy: 0 } });
  });

  test('reject: code 7 with the reason; nothing published', async () => {
    handler = reply(200, '{"action":"reject","reason":"spam\\u0000here"}');
    const { danmaku, queue } = moderated();
    assert.equal(answer(await danmaku.receive(op4({ text: 'buy now' }))), '{"code":7,"message":"spam here"}');
    handler = reply(200, '{"action":"reject"}');
    assert.equal(answer(await danmaku.receive(op4({ text: 'buy now' }, { mid: 5n }))), '{"code":7,"message":"rejected"}');
    assert.deepEqual(queue.published, []);
  });

  test('replace: viewers get the replacement text', async () => {
    handler = reply(200, '{"action":"replace","text":"***"}');
    const { danmaku, queue } = moderated();
    assert.equal(code(await danmaku.receive(op4({ text: 'darn', nonce: 'n' }))), 0);
    assert.equal(text(queue.published[0]), '***');
  });

  test('no answer within the timeout: accepted unmoderated when failOpen', async () => {
    handler = hold;
    const { danmaku, queue } = moderated({ timeout: 100 });
    assert.equal(code(await danmaku.receive(op4({ text: 'late' }))), 0);
    assert.equal(text(queue.published[0]), 'late');
    assert.equal(danmaku.moderationCounts().live.timeout, 1);
  });

  test('no answer within the timeout, failing closed: code 8, nothing published', async () => {
    handler = hold;
    const { danmaku, queue } = moderated({ timeout: 100, failOpen: false });
    assert.equal(answer(await danmaku.receive(op4({ text: 'late' }))), '{"code":8,"message":"moderation unavailable"}');
    assert.deepEqual(queue.published, []);
  });

  test('an answer over the size bound, a 500, a redirect, bad JSON, an unknown action: failures', async () => {
    const { danmaku, queue } = moderated({ failOpen: false });
    const failures: Handler[] = [
      reply(200, `{"action":"accept","pad":"${'x'.repeat(MAX_ANSWER_BYTES)}"}`),
      reply(500, '{"action":"accept"}'),
      (_req, _b, res) => res.writeHead(302, { location: '/elsewhere' }).end(),
      reply(200, 'accept'),
      reply(200, '{"action":"allow"}'),
      reply(200, '{"action":"replace","text":""}'),
    ];
    let mid = 1n;
    for (const h of failures) {
      handler = h;
      assert.equal(code(await danmaku.receive(op4({ text: 'x' }, { mid: mid++ }))), 8);
    }
    assert.deepEqual(queue.published, []);
    assert.equal(danmaku.moderationCounts().live.error, failures.length);
    // The same failure with failOpen accepts.
    handler = failures[0];
    const open = moderated();
    assert.equal(code(await open.danmaku.receive(op4({ text: 'x' }))), 0);
  });

  test('past maxInflight calls the failOpen rule applies at once', async () => {
    handler = hold;
    const { danmaku } = moderated({ maxInflight: 1, failOpen: false, timeout: 5000 });
    const arrived = new Promise<void>((r) => (onHeld = r));
    const first = danmaku.receive(op4({ text: 'a' }, { mid: 1n }));
    await arrived;
    assert.equal(code(await danmaku.receive(op4({ text: 'b' }, { mid: 2n }))), 8);
    assert.equal(danmaku.moderationCounts().live.busy, 1);
    held.shift()!.writeHead(200).end('{"action":"accept"}');
    assert.equal(code(await first), 0);
  });
});
