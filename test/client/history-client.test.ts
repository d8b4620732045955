// The SDK's danmaku sending and history recovery (docs/history.md, docs/client.md#danmaku-and-history)
// against a scripted peer: the token asks for history, op 18 sets the position, offsets in seq
// drop duplicates, a reconnect asks for what was missed, op 5 answers sendDanmaku.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { TsimClient, TcpClient, type ClientEvents, type PushMessage, type RoomStateEvent } from 'tsim-client';
import { encodeFrame } from '../../src/protocol/frame.js';
import { FakeComet, collect, next } from './fake-comet.js';

type Ev = ClientEvents;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TOKEN = { mid: 7, room_id: 'live://1000' };

/** A room message as the comet writes it on WebSocket: an op-9 envelope of frames with seq = offset. */
function envelope(...frames: Array<[op: number, seq: number, body: string]>): Buffer {
  const inner = Buffer.concat(frames.map(([op, seq, body]) => encodeFrame(op, Buffer.from(body), 1, seq)));
  return encodeFrame(9, inner, 1, 0);
}

function state(s: Partial<RoomStateEvent>): Buffer {
  return envelope([18, 0, JSON.stringify({ room: 'live://1000', epoch: 'e1', first: 1, last: 0, recovered: true, ...s })]);
}

async function setup(history: boolean | { last?: number } = true, gapWaitMs?: number): Promise<{ comet: FakeComet; client: TsimClient }> {
  const comet = await FakeComet.ws();
  cleanups.push(() => comet.close());
  const client = new TsimClient({
    url: comet.url,
    token: TOKEN,
    history,
    reconnect: { baseMs: 10, maxMs: 20, jitter: 0 },
    sendTimeoutMs: 3000,
    gapWaitMs,
  });
  cleanups.push(() => client.close());
  return { comet, client };
}

function tokenOf(f: { body: Uint8Array }): Record<string, unknown> {
  return JSON.parse(Buffer.from(f.body).toString()) as Record<string, unknown>;
}

describe('client history', () => {
  it('asks for the last N in the token, takes offsets from seq, and drops duplicates', async () => {
    const { comet, client } = await setup({ last: 5 });
    await next<Ev, 'auth'>(client, 'auth');
    assert.deepEqual(tokenOf(await comet.frame((f) => f.op === 7)).history, { last: 5 });
    const st = next<Ev, 'roomState'>(client, 'roomState');
    const got = collect<Ev, 'message'>(client, 'message', 4);
    comet.send(1, state({ first: 8, last: 10 }));
    comet.send(1, envelope([1000, 8, 'a'], [1000, 9, 'b'], [1000, 10, 'c']));
    // 10 again (a redelivery) and then 11 live: only 11 is new.
    comet.send(1, envelope([1000, 10, 'c'], [1000, 11, 'd']));
    assert.deepEqual(await st, { room: 'live://1000', epoch: 'e1', first: 8, last: 10, recovered: true });
    assert.deepEqual(
      (await got).map((m: PushMessage) => [m.offset, m.text()]),
      [
        [8, 'a'],
        [9, 'b'],
        [10, 'c'],
        [11, 'd'],
      ],
    );
    assert.deepEqual(client.historyPosition, { room: 'live://1000', epoch: 'e1', offset: 11 });
  });

  it('recovers after a reconnect: the token asks since the last offset of the epoch', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const got = collect<Ev, 'message'>(client, 'message', 2);
    comet.send(1, state({ first: 1, last: 0 }));
    comet.send(1, envelope([1000, 1, 'x'], [1000, 2, 'y']));
    await got;
    comet.drop(1);
    await next<Ev, 'auth'>(client, 'auth');
    const again = await comet.frame((f) => f.op === 7 && f.conn === 2);
    assert.deepEqual(tokenOf(again).history, { since: 2, epoch: 'e1' });
  });

  it('reports a join that could not recover, with where the client stood', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const got = collect<Ev, 'message'>(client, 'message', 1);
    comet.send(1, state({ first: 1, last: 0 }));
    comet.send(1, envelope([1000, 1, 'x']));
    await got;
    comet.drop(1);
    await next<Ev, 'auth'>(client, 'auth');
    const lost = next<Ev, 'notRecovered'>(client, 'notRecovered');
    comet.send(2, state({ epoch: 'e2', first: 50, last: 49, recovered: false, reason: 'epoch changed' }));
    const ev = await lost;
    assert.equal(ev.reason, 'epoch changed');
    assert.deepEqual(ev.missedFrom, { epoch: 'e1', offset: 1 });
    // The new epoch counts from its first offset.
    const m = next<Ev, 'message'>(client, 'message');
    comet.send(2, envelope([1000, 50, 'new']));
    assert.equal((await m).offset, 50);
  });

  it('orders messages past a gap until it fills (a redelivery after later ones)', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const got = collect<Ev, 'message'>(client, 'message', 5);
    comet.send(1, state({ first: 1, last: 0 }));
    comet.send(1, envelope([1000, 1, 'a'], [1000, 2, 'b']));
    comet.send(1, envelope([1000, 4, 'd'], [1000, 5, 'e']));
    comet.send(1, envelope([1000, 3, 'c'], [1000, 4, 'd']));
    assert.deepEqual(
      (await got).map((m) => m.text()),
      ['a', 'b', 'c', 'd', 'e'],
    );
  });

  it('a gap that does not fill within gapWaitMs is reported, and what waited is delivered in order', async () => {
    const comet = await FakeComet.ws();
    cleanups.push(() => comet.close());
    const client = new TsimClient({ url: comet.url, token: TOKEN, history: true, gapWaitMs: 150 });
    cleanups.push(() => client.close());
    await next<Ev, 'auth'>(client, 'auth');
    const got = collect<Ev, 'message'>(client, 'message', 3);
    const gap = next<Ev, 'notRecovered'>(client, 'notRecovered');
    comet.send(1, state({ first: 1, last: 0 }));
    comet.send(1, envelope([1000, 1, 'a'], [1000, 4, 'd'], [1000, 3, 'c']));
    const ev = await gap;
    assert.deepEqual([ev.reason, ev.missedFrom], ['gap', { epoch: 'e1', offset: 1 }]);
    assert.deepEqual(
      (await got).map((m) => m.offset),
      [1, 3, 4],
    );
  });

  it('after a RoomState without an epoch (history unavailable) the next reconnect asks for the last N, not a since', async () => {
    const { comet, client } = await setup({ last: 7 });
    await next<Ev, 'auth'>(client, 'auth');
    const got = collect<Ev, 'message'>(client, 'message', 1);
    comet.send(1, state({ epoch: '', first: 5, last: 4, recovered: false, reason: 'unavailable' }));
    comet.send(1, envelope([1000, 5, 'live']));
    await got;
    comet.drop(1);
    await next<Ev, 'auth'>(client, 'auth');
    assert.deepEqual(tokenOf(await comet.frame((f) => f.op === 7 && f.conn === 2)).history, { last: 7 });
  });

  it('messages waiting behind a gap are delivered before a new epoch takes over', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const got = collect<Ev, 'message'>(client, 'message', 3);
    comet.send(1, state({ first: 1, last: 0 }));
    comet.send(1, envelope([1000, 1, 'a'], [1000, 3, 'c'], [18, 0, JSON.stringify({ room: 'live://1000', epoch: 'e2', first: 4 })], [1000, 4, 'd']));
    assert.deepEqual(
      (await got).map((m) => m.text()),
      ['a', 'c', 'd'],
    );
  });

  it('a client without history keeps goim behaviour: no token field, op 18 is a plain message, no dedupe', async () => {
    const { comet, client } = await setup(false);
    await next<Ev, 'auth'>(client, 'auth');
    assert.equal(tokenOf(await comet.frame((f) => f.op === 7)).history, undefined);
    const got = collect<Ev, 'message'>(client, 'message', 3);
    comet.send(1, envelope([1000, 3, 'a'], [1000, 3, 'a'], [18, 0, '{}']));
    assert.deepEqual(
      (await got).map((m) => [m.op, m.offset]),
      [
        [1000, 0],
        [1000, 0],
        [18, 0],
      ],
    );
  });

  it('changeRoom asks for the new room with the JSON form of op 12', async () => {
    const { comet, client } = await setup({ last: 3 });
    await next<Ev, 'auth'>(client, 'auth');
    const p = client.changeRoom('live://2000');
    const f = await comet.frame((x) => x.op === 12);
    assert.deepEqual(JSON.parse(Buffer.from(f.body).toString()), { room: 'live://2000', history: { last: 3 } });
    // The fake echoes the body; a real comet answers with the room id (docs/history.md#opting-in).
    await p;
  });
});

describe('client sendDanmaku', () => {
  it('sends op 4 JSON with a nonce and resolves with the op-5 answer', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    comet.script.answer = (f) => (f.op === 4 ? encodeFrame(5, Buffer.from('{"code":0,"id":"m1"}'), 1, f.seq) : undefined);
    const r = await client.sendDanmaku({ text: '666', progress: 1200 });
    assert.deepEqual(r, { code: 0, id: 'm1' });
    const sent = JSON.parse(Buffer.from((await comet.frame((f) => f.op === 4)).body).toString()) as Record<string, unknown>;
    assert.equal(sent.text, '666');
    assert.equal(sent.progress, 1200);
    assert.match(String(sent.nonce), /^[0-9a-f]{18}$/);
  });

  it('a goim server that echoes op 4 answers code -1', async () => {
    const { client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    const r = await client.sendDanmaku({ text: 'hi' });
    assert.equal(r.code, -1);
  });

  it('resends with the same nonce after a reconnect when the answer was lost', async () => {
    const { comet, client } = await setup();
    await next<Ev, 'auth'>(client, 'auth');
    let drops = 0;
    comet.script.answer = (f) => {
      if (f.op !== 4) return undefined;
      return drops++ === 0 ? 'drop' : encodeFrame(5, Buffer.from('{"code":0,"id":"m2"}'), 1, f.seq);
    };
    const r = await client.sendDanmaku({ text: 'again', nonce: 'n-1' });
    assert.deepEqual(r, { code: 0, id: 'm2' });
    const sends = comet.frames.filter((f) => f.op === 4).map((f) => JSON.parse(Buffer.from(f.body).toString()) as { nonce: string });
    assert.deepEqual(
      sends.map((s) => s.nonce),
      ['n-1', 'n-1'],
    );
  });

  it('over TCP, offsets arrive in bare frames and op 5 still answers', async () => {
    const comet = await FakeComet.tcp();
    cleanups.push(() => comet.close());
    const client = new TcpClient({ url: comet.url, token: TOKEN, history: true });
    cleanups.push(() => client.close());
    await next<Ev, 'auth'>(client, 'auth');
    const got = collect<Ev, 'message'>(client, 'message', 2);
    comet.send(1, encodeFrame(18, Buffer.from('{"room":"live://1000","epoch":"t","first":4,"last":3,"recovered":true}'), 1, 0));
    comet.send(
      1,
      Buffer.concat([
        encodeFrame(1000, Buffer.from('a'), 1, 4),
        encodeFrame(1000, Buffer.from('a'), 1, 4),
        encodeFrame(1000, Buffer.from('b'), 1, 5),
      ]),
    );
    assert.deepEqual(
      (await got).map((m) => [m.offset, m.text()]),
      [
        [4, 'a'],
        [5, 'b'],
      ],
    );
  });
});

describe('client history in joined rooms', () => {
  /** An op-23 frame: the room, then its frames (seq = offset). */
  function inRoom(room: string, ...frames: Array<[op: number, seq: number, body: string]>): Buffer {
    const key = Buffer.from(room);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(key.length);
    const inner = frames.map(([op, seq, body]) => encodeFrame(op, Buffer.from(body), 1, seq));
    return encodeFrame(23, Buffer.concat([len, key, ...inner]), 1, 0);
  }
  const roomState = (room: string, s: Partial<RoomStateEvent>): [number, number, string] => [
    18,
    0,
    JSON.stringify({ room, epoch: `e-${room}`, first: 1, last: 0, recovered: true, ...s }),
  ];

  /** A client in live://1000 whose joins and leaves the fake answers with code 0 and the rooms. */
  async function joined(gapWaitMs?: number): Promise<{ comet: FakeComet; client: TsimClient }> {
    const { comet, client } = await setup(true, gapWaitMs);
    const rooms = new Set(['live://1000']);
    comet.script.answer = (f) => {
      if (f.op !== 19 && f.op !== 21) return undefined;
      const v = JSON.parse(Buffer.from(f.body).toString()) as { room?: string; rooms?: (string | { room: string })[] };
      for (const r of v.rooms ?? [v.room!]) {
        if (f.op === 19) rooms.add(typeof r === 'string' ? r : r.room);
        else rooms.delete(typeof r === 'string' ? r : r.room);
      }
      return encodeFrame(f.op + 1, Buffer.from(JSON.stringify({ code: 0, rooms: [...rooms] })), 1, f.seq);
    };
    await next<Ev, 'auth'>(client, 'auth');
    return { comet, client };
  }

  it('follows each room on its own: its op 18, duplicates dropped, a gap waiting while the other rooms go on', async () => {
    const { comet, client } = await joined();
    assert.equal((await client.joinRoom(['chat://a', 'chat://b'])).code, 0);
    const states = collect<Ev, 'roomState'>(client, 'roomState', 2);
    const got = collect<Ev, 'message'>(client, 'message', 6);
    comet.send(1, inRoom('chat://a', roomState('chat://a', { first: 4, last: 5 }), [1000, 4, 'a4'], [1000, 5, 'a5']));
    comet.send(1, inRoom('chat://b', roomState('chat://b', { first: 1, last: 0 })));
    // b7 waits for b6 (a gap in b only); a5 again is a duplicate; a6 goes on meanwhile.
    comet.send(1, inRoom('chat://b', [1000, 1, 'b1'], [1000, 3, 'b3']));
    comet.send(1, inRoom('chat://a', [1000, 5, 'a5'], [1000, 6, 'a6']));
    comet.send(1, inRoom('chat://b', [1000, 2, 'b2']));
    assert.deepEqual(
      (await states).map((s) => [s.room, s.epoch, s.first, s.last]),
      [
        ['chat://a', 'e-chat://a', 4, 5],
        ['chat://b', 'e-chat://b', 1, 0],
      ],
    );
    assert.deepEqual(
      (await got).map((m) => `${m.room}|${m.offset}:${m.text()}`),
      ['chat://a|4:a4', 'chat://a|5:a5', 'chat://b|1:b1', 'chat://a|6:a6', 'chat://b|2:b2', 'chat://b|3:b3'],
    );
    assert.deepEqual(client.historyPositionOf('chat://a'), { epoch: 'e-chat://a', offset: 6 });
    assert.deepEqual(client.historyPositionOf('chat://b'), { epoch: 'e-chat://b', offset: 3 });
    assert.deepEqual(client.historyPosition, { room: 'live://1000', epoch: undefined, offset: 0 }, 'the primary room has had no op 18');
    // A room's lost range names that room.
    const lost = next<Ev, 'notRecovered'>(client, 'notRecovered');
    comet.send(1, inRoom('chat://b', roomState('chat://b', { epoch: 'e2', first: 9, last: 8, recovered: false, reason: 'epoch changed' })));
    assert.deepEqual(await lost, {
      room: 'chat://b',
      epoch: 'e2',
      first: 9,
      last: 8,
      recovered: false,
      reason: 'epoch changed',
      missedFrom: { epoch: 'e-chat://b', offset: 3 },
    });
    // A room left is forgotten: what was in flight passes as it comes (a5 again), its op 18 is not reported.
    assert.deepEqual(await client.leaveRoom('chat://a'), { code: 0, rooms: ['live://1000', 'chat://b'] });
    assert.equal(client.historyPositionOf('chat://a'), undefined);
    const late = collect<Ev, 'message'>(client, 'message', 2);
    comet.send(1, inRoom('chat://a', roomState('chat://a', { first: 7, last: 6 }), [1000, 5, 'a5']));
    comet.send(1, inRoom('chat://b', [1000, 9, 'b9']));
    assert.deepEqual(
      (await late).map((m) => `${m.room}|${m.offset}:${m.text()}`),
      ['chat://a|5:a5', 'chat://b|9:b9'],
    );
  });

  it('a gap in a joined room that does not fill is reported for that room alone', async () => {
    const { comet, client } = await joined(150);
    assert.equal((await client.joinRoom('chat://g')).code, 0);
    const got = collect<Ev, 'message'>(client, 'message', 3);
    const gap = next<Ev, 'notRecovered'>(client, 'notRecovered');
    comet.send(1, envelope([18, 0, JSON.stringify({ room: 'live://1000', epoch: 'ep', first: 1, last: 0, recovered: true })]));
    comet.send(1, inRoom('chat://g', roomState('chat://g', { first: 1, last: 0 }), [1000, 1, 'g1'], [1000, 3, 'g3']));
    comet.send(1, envelope([1000, 1, 'p1']));
    const ev = await gap;
    assert.deepEqual([ev.room, ev.reason, ev.missedFrom], ['chat://g', 'gap', { epoch: 'e-chat://g', offset: 1 }]);
    assert.deepEqual(
      (await got).map((m) => `${m.room}|${m.offset}:${m.text()}`),
      ['chat://g|1:g1', 'live://1000|1:p1', 'chat://g|3:g3'],
    );
  });

  it('a reconnect joins the rooms again asking per room for what was missed, and the last N for a room without a position', async () => {
    const { comet, client } = await joined();
    assert.equal((await client.joinRoom(['chat://a', 'chat://b'])).code, 0);
    const got = collect<Ev, 'message'>(client, 'message', 3);
    comet.send(1, envelope([18, 0, JSON.stringify({ room: 'live://1000', epoch: 'ep', first: 1, last: 0, recovered: true })], [1000, 1, 'p1']));
    comet.send(1, inRoom('chat://a', roomState('chat://a', { first: 7, last: 6 }), [1000, 7, 'a7'], [1000, 8, 'a8']));
    await got;
    comet.drop(1);
    await next<Ev, 'auth'>(client, 'auth');
    assert.deepEqual(tokenOf(await comet.frame((f) => f.op === 7 && f.conn === 2)).history, { since: 1, epoch: 'ep' });
    const join = await comet.frame((f) => f.op === 19 && f.conn === 2);
    // The token's `last` is 0 (it resumes its own room): the frame gives chat://b the client's last N.
    assert.deepEqual(JSON.parse(Buffer.from(join.body).toString()), {
      rooms: [{ room: 'chat://a', history: { since: 8, epoch: 'e-chat://a' } }, 'chat://b'],
      history: { last: 20 },
    });
    // The replay of chat://a repeats 8 (dropped) and goes on.
    const more = collect<Ev, 'message'>(client, 'message', 1);
    comet.send(2, inRoom('chat://a', roomState('chat://a', { first: 8, last: 9 }), [1000, 8, 'a8'], [1000, 9, 'a9']));
    assert.deepEqual(
      (await more).map((m) => `${m.room}|${m.offset}:${m.text()}`),
      ['chat://a|9:a9'],
    );
  });

  it("joinRoom with a history ask sends it for that room; a fresh join without one relies on the token's last", async () => {
    const { comet, client } = await joined();
    assert.equal((await client.joinRoom('chat://x', { history: { last: 50 } })).code, 0);
    assert.deepEqual(JSON.parse(Buffer.from((await comet.frame((f) => f.op === 19)).body).toString()), { room: 'chat://x', history: { last: 50 } });
    assert.equal((await client.joinRoom('chat://y')).code, 0);
    const joins = comet.frames.filter((f) => f.op === 19).map((f) => JSON.parse(Buffer.from(f.body).toString()) as unknown);
    assert.deepEqual(joins[1], { room: 'chat://y' });
    assert.deepEqual(await client.joinRoom('chat://z', { history: { since: 3 } as never }), {
      code: 1,
      message: 'history.since and history.epoch go together',
      rooms: ['live://1000', 'chat://x', 'chat://y'],
    });
    const since = await client.joinRoom(['chat://z', 'chat://w'], { history: { since: 3, epoch: 'e' } });
    assert.deepEqual([since.code, since.message], [1, 'history.since names a position in one room: join that room alone']);
    assert.equal(comet.frames.filter((f) => f.op === 19).length, 2, 'the refused calls sent nothing');
    assert.deepEqual(client.rooms, ['live://1000', 'chat://x', 'chat://y']);
  });
});
