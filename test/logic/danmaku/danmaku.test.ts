// Danmaku sending in logic (src/logic/danmaku/danmaku.ts, docs/history.md#sending) on a manual
// clock: what is published, the answers, the limits and the nonce.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemorySendGuard } from '../../../src/adapters/memory/send-guard.js';
import { PushType, type SendGuard } from '../../../src/ports/index.js';
import { eventually } from '../../support/eventually.js';
import { ManualClock } from '../../support/manual-clock.js';
import { answer, code, desk, op4, RecordingQueue, roomType, WALL_TIME } from './support.js';

describe('danmaku: accepted', () => {
  test('publishes one ROOM message with the extension fields and answers its id', async () => {
    const { danmaku, queue } = desk({ live: roomType({ op: 1005 }) });
    const r = await danmaku.receive(op4({ text: '666', nonce: 'c1-42', room: 'live://1000', progress: 73500, mode: 1, color: 16777215 }));
    assert.equal(queue.published.length, 1);
    const m = queue.published[0];
    assert.match(m.id ?? '', /^[A-Za-z0-9_-]{22}$/);
    assert.equal(answer(r), `{"code":0,"id":"${m.id}"}`);
    assert.deepEqual(
      { ...m, msg: Buffer.from(m.msg).toString() },
      {
        type: PushType.ROOM,
        operation: 1005,
        speed: 0,
        server: '',
        room: 'live://1000',
        keys: [],
        id: m.id,
        sender: 123n,
        time: WALL_TIME,
        progress: 73500,
        msg: `{"id":"${m.id}","mid":123,"text":"666","nonce":"c1-42","progress":73500,"mode":1,"color":16777215,"time":${WALL_TIME}}`,
      },
    );
    assert.equal(danmaku.counts.accepted, 1);
  });

  test('the mid is written exactly beyond 2^53; data as sent; text escaped, never rewritten', async () => {
    const { danmaku, queue } = desk({ live: roomType() });
    await danmaku.receive(op4('{"data": {"n":12345678901234567890, "s":"\\u00e9"}}', { mid: 9007199254740993n }));
    await danmaku.receive(op4({ text: 'a"b\\c\n😀</script>' }, { mid: 9007199254740993n }));
    const [a, b] = queue.published.map((m) => Buffer.from(m.msg).toString());
    assert.equal(a, `{"id":"${queue.published[0].id}","mid":9007199254740993,"data":{"n":12345678901234567890, "s":"\\u00e9"},"time":${WALL_TIME}}`);
    assert.equal(b, `{"id":"${queue.published[1].id}","mid":9007199254740993,"text":"a\\"b\\\\c\\n😀</script>","time":${WALL_TIME}}`);
    assert.equal(queue.published[0].progress, undefined);
  });
});

describe('danmaku: refusals', () => {
  test('each check answers its code and publishes nothing', async () => {
    const { danmaku, queue } = desk({ live: roomType({ maxText: 3 }) });
    assert.equal(answer(await danmaku.receive(op4('not json'))), '{"code":1,"message":"invalid danmaku"}');
    assert.equal(code(await danmaku.receive(op4({ text: 'a' }, { mid: 0n }))), 2);
    assert.equal(code(await danmaku.receive(op4({ text: 'a' }, { mid: -5n }))), 2);
    assert.equal(code(await danmaku.receive(op4({ text: 'a', room: 'live://1001' }))), 3);
    assert.equal(code(await danmaku.receive(op4({ text: 'abcd' }))), 4);
    assert.deepEqual(queue.published, []);
    assert.equal(danmaku.counts.accepted, 0);
    assert.deepEqual(Object.fromEntries(Object.entries(danmaku.counts.refused).filter(([, n]) => n > 0)), {
      invalid: 1,
      anonymous: 2,
      not_in_room: 1,
      too_long: 1,
    });
  });

  test('anonymous senders, where allowed, are limited per connection key', async () => {
    const { danmaku } = desk({ live: roomType({ anonymous: true, burst: 1 }) });
    assert.equal(code(await danmaku.receive(op4({ text: 'a' }, { mid: 0n, key: 'k1' }))), 0);
    assert.equal(code(await danmaku.receive(op4({ text: 'a' }, { mid: 0n, key: 'k1' }))), 5);
    assert.equal(code(await danmaku.receive(op4({ text: 'a' }, { mid: 0n, key: 'k2' }))), 0);
  });

  test('a room type without send keeps the echo, unless the danmaku names a room', async () => {
    const { danmaku, queue } = desk({ live: roomType(), vod: roomType({ send: false }) });
    const inVod = { room: 'vod://1' };
    assert.equal(answer(await danmaku.receive(op4({ text: 'a' }, inVod))), 'echo');
    assert.equal(answer(await danmaku.receive(op4('anything', inVod))), 'echo');
    assert.equal(answer(await danmaku.receive(op4('{"room":1}', inVod))), 'echo');
    assert.equal(code(await danmaku.receive(op4({ text: 'a', room: 'vod://1' }, inVod))), 9);
    assert.equal(code(await danmaku.receive(op4({ text: 'a', room: 'live://1000' }, inVod))), 3);
    // Not configured at all, or in no room.
    assert.equal(answer(await danmaku.receive(op4({ text: 'a' }, { room: 'other://1' }))), 'echo');
    assert.equal(code(await danmaku.receive(op4({ text: 'a', room: 'other://1' }, { room: 'other://1' }))), 9);
    assert.equal(answer(await danmaku.receive(op4({ text: 'a' }, { room: '' }))), 'echo');
    assert.equal(code(await danmaku.receive(op4({ text: 'a', room: 'live://1000' }, { room: '' }))), 3);
    assert.deepEqual(queue.published, []);
  });

  test('a queue that refuses: code 10, and the slow-mode slot is given back', async () => {
    const { danmaku, queue } = desk({ live: roomType({ slowMode: 10_000 }) });
    queue.failure = new Error('queue full');
    assert.equal(answer(await danmaku.receive(op4({ text: 'a' }))), '{"code":10,"message":"try again"}');
    queue.failure = undefined;
    assert.equal(code(await danmaku.receive(op4({ text: 'a' }))), 0);
    assert.equal(code(await danmaku.receive(op4({ text: 'a' }))), 6);
  });

  test('a guard that fails: code 10, nothing published', async () => {
    const broken: SendGuard = {
      claimSlot: () => Promise.reject(new Error('down')),
      releaseSlot: () => Promise.reject(new Error('down')),
      claimNonce: () => Promise.reject(new Error('down')),
      settleNonce: () => Promise.reject(new Error('down')),
      releaseNonce: () => Promise.reject(new Error('down')),
      close: async () => {},
    };
    const { danmaku, queue } = desk({ live: roomType({ slowMode: 1000 }) }, { guard: broken });
    assert.equal(code(await danmaku.receive(op4({ text: 'a' }))), 10);
    assert.equal(code(await danmaku.receive(op4({ text: 'a', nonce: 'n' }))), 10);
    assert.deepEqual(queue.published, []);
    assert.equal(danmaku.counts.refused.unavailable, 2);
  });
});

describe('danmaku: limits on the clock', () => {
  test('token bucket: burst, then rate per second, per user and room type', async () => {
    const { danmaku, clock } = desk({ live: roomType({ rate: 2, burst: 3 }), game: roomType({ rate: 2, burst: 3 }) });
    const send = async (over = {}) => code(await danmaku.receive(op4({ text: 'x' }, over)));
    assert.deepEqual([await send(), await send(), await send(), await send()], [0, 0, 0, 5]);
    assert.equal(await send({ mid: 124n }), 0, 'another user');
    assert.equal(await send({ room: 'game://1' }), 0, 'another room type');
    assert.equal(await send({ room: 'live://2000' }), 5, 'the same type, another room');
    clock.advance(499);
    assert.equal(await send(), 5);
    clock.advance(1);
    assert.equal(await send(), 0);
    assert.equal(await send(), 5);
    assert.equal(danmaku.counts.refused.rate_limit, 4);
  });

  test('buckets are bounded: a flood of mids keeps at most maxUsers', async () => {
    const { danmaku } = desk({ live: roomType() }, { maxUsers: 50 });
    for (let i = 1; i <= 2000; i++) await danmaku.receive(op4({ text: 'x' }, { mid: BigInt(i) }));
    assert.equal((danmaku as unknown as { buckets: { size: number } }).buckets.size, 50);
  });

  test('slow mode: one danmaku per user and room within slowMode', async () => {
    const { danmaku, clock } = desk({ live: roomType({ slowMode: 5000 }) });
    const send = async (over = {}) => code(await danmaku.receive(op4({ text: 'x' }, over)));
    assert.equal(await send(), 0);
    assert.equal(await send(), 6);
    assert.equal(await send({ room: 'live://2' }), 0, 'another room');
    assert.equal(await send({ mid: 9n }), 0, 'another user');
    clock.advance(4999);
    assert.equal(await send(), 6);
    clock.advance(1);
    assert.equal(await send(), 0);
  });
});

describe('danmaku: nonce', () => {
  test('the same nonce twice at once: one message published, the same answer', async () => {
    const queue = new RecordingQueue();
    let release!: () => void;
    queue.hold = new Promise((r) => (release = r));
    const { danmaku } = desk({ live: roomType() }, { queue });
    const a = danmaku.receive(op4({ text: 'x', nonce: 'n1' }));
    const b = danmaku.receive(op4({ text: 'x', nonce: 'n1' }));
    release();
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(queue.published.length, 1);
    assert.equal(answer(ra), `{"code":0,"id":"${queue.published[0].id}"}`);
    assert.equal(answer(rb), answer(ra));
    assert.equal(danmaku.counts.repeats, 1);
  });

  test('a repeat within the window gets the first answer without using a token; after it, a new send', async () => {
    const { danmaku, queue, clock } = desk({ live: roomType({ burst: 2, rate: 0.001, nonceWindow: 60_000 }) });
    const first = answer(await danmaku.receive(op4({ text: 'x', nonce: 'n' })));
    for (let i = 0; i < 5; i++) assert.equal(answer(await danmaku.receive(op4({ text: 'x', nonce: 'n' }))), first);
    assert.equal(queue.published.length, 1);
    assert.equal(code(await danmaku.receive(op4({ text: 'y' }))), 0, 'the second token is still there');
    clock.advance(60_000);
    assert.equal(code(await danmaku.receive(op4({ text: 'x', nonce: 'n' }))), 5, 'a new send, and the bucket is empty');
    assert.equal(danmaku.counts.repeats, 5);
  });

  test('a refusal that passes (rate limit) does not stick to the nonce: a retry is tried again', async () => {
    const { danmaku, clock } = desk({ live: roomType({ burst: 1, rate: 1, maxText: 2 }) });
    assert.equal(code(await danmaku.receive(op4({ text: 'a' }))), 0);
    assert.equal(code(await danmaku.receive(op4({ text: 'b', nonce: 'n' }))), 5);
    clock.advance(1000);
    assert.equal(code(await danmaku.receive(op4({ text: 'b', nonce: 'n' }))), 0, 'retried, not answered 5 again');
  });

  test('two logic processes sharing a guard: the repeat waits for the first answer', async () => {
    const clock = new ManualClock();
    const guard = new MemorySendGuard({ clock });
    const q1 = new RecordingQueue();
    let release!: () => void;
    q1.hold = new Promise((r) => (release = r));
    const one = desk({ live: roomType() }, { clock, guard, queue: q1 });
    const two = desk({ live: roomType() }, { clock, guard });
    const a = one.danmaku.receive(op4({ text: 'x', nonce: 'shared' }));
    const b = two.danmaku.receive(op4({ text: 'x', nonce: 'shared' }));
    await eventually(() => clock.timers > 0, 'the second to wait for the first');
    clock.advance(50);
    await eventually(() => clock.timers > 0, 'the second to wait again');
    release();
    const ra = await a;
    clock.advance(50);
    const rb = await b;
    assert.equal(answer(rb), answer(ra));
    assert.equal(code(ra), 0);
    assert.equal(q1.published.length + two.queue.published.length, 1);
  });

  test('the same nonce in another room is another send', async () => {
    const { danmaku, queue } = desk({ live: roomType() });
    const a = await danmaku.receive(op4({ text: 'one', nonce: 'n' }, { room: 'live://1000' }));
    const b = await danmaku.receive(op4({ text: 'two', nonce: 'n' }, { room: 'live://2000' }));
    assert.deepEqual([code(a), code(b)], [0, 0]);
    assert.equal(queue.published.length, 2);
  });

  test('a repeat whose first send never answers is told to try again after the pending bound', async () => {
    const clock = new ManualClock();
    const guard = new MemorySendGuard({ clock });
    // The guard's nonce is scoped to the room: `<room length>:<room><nonce>`.
    await guard.claimNonce('m123', '11:live://1000stuck', 60_000);
    const { danmaku } = desk({ live: roomType() }, { clock, guard });
    const start = clock.now();
    let done = false;
    const r = danmaku.receive(op4({ text: 'x', nonce: 'stuck' })).finally(() => (done = true));
    for (;;) {
      await eventually(() => clock.timers > 0 || done, 'a poll or the answer');
      if (done) break;
      clock.advance(50);
    }
    assert.equal(code(await r), 10);
    assert.ok(clock.now() - start >= 10_000, `answered after ${clock.now() - start} ms`);
  });
});
