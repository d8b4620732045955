// The SDK's durable inbox (docs/client.md#durable-inbox) against a scripted peer: the token opts
// in with a stable key, op 27 becomes `inbox` events deduplicated by seq across reconnects,
// acks are batched (op 24) and answered (op 25), fetch() re-sends (op 26 / op 28).

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { InboxError, TcpClient, TsimClient, type ClientEvents, type InboxMessage, type InboxOptions, type KeyStorage } from 'tsim-client';
import { encodeFrame } from '../../src/protocol/frame.js';
import { FakeComet, type PeerFrame, collect, next } from './fake-comet.js';

type Ev = ClientEvents;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Op 27's frame: seq (u64 BE), op (i32 BE), the message. */
function inboxFrame(seq: number, body: string, op = 1000): Buffer {
  const b = Buffer.alloc(12 + Buffer.byteLength(body));
  b.writeBigUInt64BE(BigInt(seq), 0);
  b.writeInt32BE(op, 8);
  b.write(body, 12);
  return encodeFrame(27, b, 1, 0);
}

/** Op-27 frames in one op-9 envelope, as comet writes them on WebSocket. */
function envelope(...frames: Buffer[]): Buffer {
  return encodeFrame(9, Buffer.concat(frames), 1, 0);
}

const stateFrame = (acked: number, first: number, last: number): Buffer =>
  envelope(encodeFrame(29, Buffer.from(JSON.stringify({ acked, first, last })), 1, 0));
const reply = (f: PeerFrame, op: number, v: unknown): Buffer => encodeFrame(op, Buffer.from(JSON.stringify(v)), f.ver, f.seq);
const bodyOf = (f: PeerFrame): unknown => JSON.parse(f.body.toString());

/** A peer that answers op 24 like comet (the watermark becomes the higher of the two), or with `ackCode`. */
async function peer(over: 'ws' | 'tcp' = 'ws'): Promise<{ comet: FakeComet; acks: number[]; ackCode: { code: number } }> {
  const acks: number[] = [];
  const ackCode = { code: 0 };
  let watermark = 0;
  const answer = (f: PeerFrame): Buffer | undefined => {
    if (f.op !== 24) return undefined;
    const seq = (bodyOf(f) as { seq: number }).seq;
    acks.push(seq);
    if (ackCode.code !== 0) return reply(f, 25, { code: ackCode.code, message: 'inbox unavailable: down' });
    watermark = Math.max(watermark, seq);
    return reply(f, 25, { code: 0, acked: watermark });
  };
  const comet = over === 'ws' ? await FakeComet.ws({ answer }) : await FakeComet.tcp({ answer });
  cleanups.push(() => comet.close());
  return { comet, acks, ackCode };
}

function client(comet: FakeComet, inbox: boolean | InboxOptions, token: Record<string, unknown> = { mid: 7 }): TsimClient {
  const c = new TsimClient({ url: comet.url, token, inbox, reconnect: { baseMs: 10, maxMs: 20, jitter: 0 } });
  cleanups.push(() => c.close());
  return c;
}

const tokenOf = (f: PeerFrame): Record<string, unknown> => JSON.parse(f.body.toString()) as Record<string, unknown>;
const seqs = (ms: InboxMessage[]): number[] => ms.map((m) => m.seq);

class MemoryStorage implements KeyStorage {
  readonly items = new Map<string, string>();
  getItem(name: string): string | null {
    return this.items.get(name) ?? null;
  }
  setItem(name: string, value: string): void {
    this.items.set(name, value);
  }
}

describe('client inbox', () => {
  it('opts in with a generated key kept across reconnects; a key in the token or the options wins', async () => {
    const { comet } = await peer();
    const c = client(comet, { keyStorage: null });
    await next<Ev, 'auth'>(c, 'auth');
    const first = tokenOf(await comet.frame((f) => f.op === 7 && f.conn === 1));
    assert.equal(first.inbox, true);
    assert.match(String(first.key), /^[0-9a-f]{32}$/);
    comet.drop(1);
    await next<Ev, 'auth'>(c, 'auth');
    assert.equal(tokenOf(await comet.frame((f) => f.op === 7 && f.conn === 2)).key, first.key);

    const own = client(comet, true, { mid: 7, key: 'phone-1' });
    await next<Ev, 'auth'>(own, 'auth');
    assert.deepEqual(tokenOf(await comet.frame((f) => f.op === 7 && f.conn === 3)), { mid: 7, key: 'phone-1', inbox: true });
    const opt = client(comet, { key: 'tablet' });
    await next<Ev, 'auth'>(opt, 'auth');
    assert.equal(tokenOf(await comet.frame((f) => f.op === 7 && f.conn === 4)).key, 'tablet');
    assert.throws(() => client(comet, { key: '' }), /inbox.key/);
  });

  it('keeps a generated key in the key storage, per mid', async () => {
    const { comet } = await peer();
    const storage = new MemoryStorage();
    const a = client(comet, { keyStorage: storage });
    await next<Ev, 'auth'>(a, 'auth');
    const key = tokenOf(await comet.frame((f) => f.op === 7 && f.conn === 1)).key;
    assert.deepEqual([...storage.items], [['tsim-client:inbox-key:7', key]]);
    await a.close();
    const again = client(comet, { keyStorage: storage });
    await next<Ev, 'auth'>(again, 'auth');
    assert.equal(tokenOf(await comet.frame((f) => f.op === 7 && f.conn === 2)).key, key);
    const other = client(comet, { keyStorage: storage }, { mid: 8 });
    await next<Ev, 'auth'>(other, 'auth');
    assert.notEqual(tokenOf(await comet.frame((f) => f.op === 7 && f.conn === 3)).key, key);
    assert.equal(storage.items.size, 2);
  });

  it('decodes op 29 and op 27, and acknowledges once the handlers returned, batched by count and time', async () => {
    const { comet, acks } = await peer();
    const c = client(comet, { ackEvery: 2, ackDelayMs: 50 });
    await next<Ev, 'auth'>(c, 'auth');
    const st = next<Ev, 'inboxState'>(c, 'inboxState');
    const got = collect<Ev, 'inbox'>(c, 'inbox', 5);
    const handled: number[] = [];
    c.on('inbox', (m) => handled.push(m.seq));
    comet.send(1, stateFrame(0, 1, 5));
    comet.send(1, envelope(inboxFrame(1, 'a'), inboxFrame(2, '{"x":2}', 1001), inboxFrame(3, 'c'), inboxFrame(4, 'd'), inboxFrame(5, 'e')));
    assert.deepEqual(await st, { acked: 0, first: 1, last: 5 });
    const ms = await got;
    assert.deepEqual(
      ms.map((m) => [m.seq, m.op, m.text(), m.fetched]),
      [
        [1, 1000, 'a', false],
        [2, 1001, '{"x":2}', false],
        [3, 1000, 'c', false],
        [4, 1000, 'd', false],
        [5, 1000, 'e', false],
      ],
    );
    assert.deepEqual(ms[1].json(), { x: 2 });
    // Two processed: an ack at once; the other three wait for it to be answered, then go together.
    await comet.frame((f) => f.op === 24 && (bodyOf(f) as { seq: number }).seq === 5);
    assert.deepEqual(acks, [2, 5]);
    assert.deepEqual(handled, [1, 2, 3, 4, 5]);
    // One more: below ackEvery, it goes after ackDelayMs.
    comet.send(1, envelope(inboxFrame(6, 'f')));
    await comet.frame((f) => f.op === 24 && (bodyOf(f) as { seq: number }).seq === 6);
    assert.deepEqual(acks, [2, 5, 6]);
    assert.equal(c.inbox?.lastSeq, 6);
  });

  it('drops seqs it delivered when a reconnect sends them again, and acks what the new connection delivered', async () => {
    const { comet, acks } = await peer();
    const c = client(comet, { ackEvery: 4, ackDelayMs: 60_000 });
    await next<Ev, 'auth'>(c, 'auth');
    const all: InboxMessage[] = [];
    c.on('inbox', (m) => all.push(m));
    const three = collect<Ev, 'inbox'>(c, 'inbox', 3);
    comet.send(1, stateFrame(0, 1, 3));
    comet.send(1, envelope(inboxFrame(1, 'a'), inboxFrame(2, 'b'), inboxFrame(3, 'c')));
    await three;
    comet.drop(1); // mid-stream: nothing was acknowledged
    await next<Ev, 'auth'>(c, 'auth');
    const fifth = collect<Ev, 'inbox'>(c, 'inbox', 2);
    comet.send(2, stateFrame(0, 1, 5));
    comet.send(2, envelope(inboxFrame(1, 'a'), inboxFrame(2, 'b'), inboxFrame(3, 'c'), inboxFrame(4, 'd')));
    comet.send(2, envelope(inboxFrame(3, 'c'), inboxFrame(5, 'e')));
    assert.deepEqual(seqs(await fifth), [4, 5]);
    assert.deepEqual(seqs(all), [1, 2, 3, 4, 5]);
    // Four processed once the new connection had delivered 4 again: one ack, no higher than that.
    await comet.frame((f) => f.op === 24);
    assert.deepEqual(acks, [4]);
  });

  it('acknowledges what is processed when the application closes the client', async () => {
    const { comet, acks } = await peer();
    const c = client(comet, { ackDelayMs: 60_000 });
    await next<Ev, 'auth'>(c, 'auth');
    const got = collect<Ev, 'inbox'>(c, 'inbox', 2);
    comet.send(1, stateFrame(0, 1, 2));
    comet.send(1, envelope(inboxFrame(1, 'a'), inboxFrame(2, 'b')));
    await got;
    assert.deepEqual(acks, []);
    const waiting = c.inbox!.ack(2);
    await c.close();
    await comet.frame((f) => f.op === 24);
    assert.deepEqual(acks, [2]);
    // The answer cannot arrive any more: the caller is told so, as is a later caller.
    assert.deepEqual(await waiting, { code: -1, message: 'the client is closed' });
    assert.deepEqual(await c.inbox!.ack(2), { code: -1, message: 'the client is closed' });
  });

  it('starts over when a token function names another user: seqs are per user', async () => {
    const { comet } = await peer();
    let mid = 7;
    const c = new TsimClient({
      url: comet.url,
      token: () => ({ mid }),
      inbox: { keyStorage: null },
      reconnect: { baseMs: 10, maxMs: 20, jitter: 0 },
    });
    cleanups.push(() => c.close());
    await next<Ev, 'auth'>(c, 'auth');
    const first = next<Ev, 'inbox'>(c, 'inbox');
    comet.send(1, envelope(inboxFrame(1, 'for 7')));
    await first;
    mid = 8;
    comet.drop(1);
    await next<Ev, 'auth'>(c, 'auth');
    const other = next<Ev, 'inbox'>(c, 'inbox');
    comet.send(2, envelope(inboxFrame(1, 'for 8')));
    assert.equal((await other).text(), 'for 8');
    const keys = comet.frames.filter((f) => f.op === 7).map((f) => tokenOf(f).key);
    assert.notEqual(keys[0], keys[1], 'a key per user');
  });

  it('manual mode: nothing is acknowledged until ack(seq), which resolves with the watermark', async () => {
    const { comet, acks, ackCode } = await peer();
    const c = client(comet, { ack: 'manual', ackDelayMs: 10 });
    await next<Ev, 'auth'>(c, 'auth');
    const got = collect<Ev, 'inbox'>(c, 'inbox', 3);
    comet.send(1, stateFrame(0, 1, 3));
    comet.send(1, envelope(inboxFrame(1, 'a'), inboxFrame(2, 'b'), inboxFrame(3, 'c')));
    await got;
    const inbox = c.inbox!;
    assert.deepEqual(await inbox.ack(9), { code: 2, message: 'seq 9 was not received (highest 3)' });
    assert.equal((await inbox.ack(-1)).code, 1);
    const [r1, r2] = await Promise.all([inbox.ack(1), inbox.ack(2)]);
    assert.deepEqual(
      [r1, r2],
      [
        { code: 0, acked: 2 },
        { code: 0, acked: 2 },
      ],
    );
    assert.deepEqual(acks, [2], 'two acks in one batch');
    assert.deepEqual(await inbox.ack(2), { code: 0, acked: 2 }, 'already acknowledged: answered without a request');
    assert.deepEqual(acks, [2]);
    // A refusal reaches the caller.
    ackCode.code = 4;
    assert.deepEqual(await inbox.ack(3), { code: 4, message: 'inbox unavailable: down' });
  });

  it('surfaces a refused automatic ack as an error event', async () => {
    const { comet, ackCode } = await peer();
    ackCode.code = 4;
    const c = client(comet, { ackDelayMs: 10 });
    await next<Ev, 'auth'>(c, 'auth');
    const err = next<Ev, 'error'>(c, 'error');
    comet.send(1, stateFrame(0, 1, 1));
    comet.send(1, envelope(inboxFrame(1, 'a')));
    const e = await err;
    assert.ok(e instanceof InboxError);
    assert.equal(e.code, 4);
    assert.match(e.message, /inbox ack of 1: inbox unavailable: down/);
  });

  it('fetch(after) delivers the re-sent messages once, marked fetched, then resolves with the reply', async () => {
    const { comet } = await peer();
    let fetchFrame: PeerFrame | undefined;
    const base = comet.script.answer;
    comet.script.answer = (f) => {
      if (f.op !== 26) return base(f);
      fetchFrame = f;
      // Re-sent messages (and a repeat of one), then op 28 with the request's seq.
      comet.send(f.conn, envelope(inboxFrame(2, 'b'), inboxFrame(3, 'c'), inboxFrame(3, 'c')));
      return reply(f, 28, { code: 0, next: 3, more: false });
    };
    const c = client(comet, { ackDelayMs: 60_000 });
    await next<Ev, 'auth'>(c, 'auth');
    const got = collect<Ev, 'inbox'>(c, 'inbox', 3);
    comet.send(1, stateFrame(0, 1, 3));
    comet.send(1, envelope(inboxFrame(1, 'a'), inboxFrame(2, 'b'), inboxFrame(3, 'c')));
    await got;
    const again = collect<Ev, 'inbox'>(c, 'inbox', 2);
    const inbox = c.inbox!;
    const result = inbox.fetch(1);
    assert.deepEqual(await inbox.fetch(0), { code: 5, message: 'a fetch is already running' });
    assert.deepEqual(await result, { code: 0, next: 3, more: false });
    assert.deepEqual(bodyOf(fetchFrame!), { after: 1 });
    assert.deepEqual(
      (await again).map((m) => [m.seq, m.text(), m.fetched]),
      [
        [2, 'b', true],
        [3, 'c', true],
      ],
    );
    assert.equal((await inbox.fetch(1.5)).code, 1);
    await c.close();
    assert.deepEqual(await inbox.fetch(0), { code: -1, message: 'not connected' });
  });

  it('refuses the inbox ops in send(), and drops a connection that sends a malformed op 27', async () => {
    const { comet } = await peer();
    const c = client(comet, true);
    await next<Ev, 'auth'>(c, 'auth');
    for (const op of [24, 25, 26, 27, 28, 29]) assert.throws(() => void c.send(op, '{}'), /reserved/);
    const err = next<Ev, 'error'>(c, 'error');
    comet.send(1, envelope(encodeFrame(27, Buffer.alloc(11), 1, 0)));
    assert.match((await err).message, /inbox message of 11 bytes/);
    await next<Ev, 'auth'>(c, 'auth');
  });

  it('takes op 27 as bare frames over TCP', async () => {
    const { comet, acks } = await peer('tcp');
    const c = new TcpClient({ url: comet.url, token: { mid: 7 }, inbox: { ackDelayMs: 10 }, reconnect: false });
    cleanups.push(() => c.close());
    await next<Ev, 'auth'>(c, 'auth');
    const got = collect<Ev, 'inbox'>(c, 'inbox', 2);
    comet.send(1, Buffer.concat([encodeFrame(29, Buffer.from('{"acked":4,"first":1,"last":6}'), 1, 0), inboxFrame(5, 'e'), inboxFrame(6, 'f')]));
    assert.deepEqual(seqs(await got), [5, 6]);
    await comet.frame((f) => f.op === 24);
    assert.deepEqual(acks, [6]);
    assert.deepEqual(c.inbox?.state, { acked: 4, first: 1, last: 6 });
  });
});
