// The generic path (docs/protocol.md#the-generic-path): Logic.Receive, then a header-only echo; replies keep
// request order while one waits on logic; at most 8 frames may await their reply.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hex, startComet, type Harness } from './harness.js';

describe('generic ops', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  it('forwards the frame to logic and echoes a header-only frame on both transports', async () => {
    const tcp = await h.client('tcp', { mid: 11 });
    const at = tcp.rawBytes().length;
    tcp.send(4, 'hello', 1, 5);
    await tcp.next();
    assert.deepEqual(tcp.rawBytes().subarray(at), hex('00 00 00 10 00 10 00 01 00 00 00 04 00 00 00 05'));
    const r = await h.logic.waitFor('receive', (r) => r.mid === 11n);
    assert.deepEqual({ ...r.proto, body: Buffer.from(r.proto.body).toString() }, { ver: 1, op: 4, seq: 5, body: 'hello' });

    const ws = await h.client('ws', { mid: 12 });
    ws.send(1000, 'x', 3, 6);
    await ws.next();
    assert.deepEqual(ws.rawFrames.at(-1), hex('82 10 00 00 00 10 00 10 00 03 00 00 03 e8 00 00 00 06'));
  });

  it('a second auth frame after auth is a generic op', async () => {
    const c = await h.client('tcp', { mid: 13 });
    c.send(7, '{"mid":99}', 1, 2);
    const f = await c.next();
    assert.deepEqual([f.op, f.seq, f.body.length], [7, 2, 0]);
    assert.equal(h.logic.calls.connect.filter((r) => Buffer.from(r.token).toString() === '{"mid":99}').length, 0);
  });

  it('op 9 from a client: nothing back on TCP, an empty op-9 frame on WebSocket', async () => {
    const tcp = await h.client('tcp', { mid: 14 });
    const at = tcp.rawBytes().length;
    tcp.send(9, 'ignored', 1, 3);
    tcp.send(2, '', 1, 4);
    const f = await tcp.next();
    assert.deepEqual([f.op, f.seq], [3, 4]);
    assert.equal(tcp.rawBytes().length - at, 20, 'only the heartbeat reply');

    const ws = await h.client('ws', { mid: 15 });
    ws.send(9, 'ignored', 1, 3);
    ws.send(2, '', 1, 4);
    await ws.next();
    assert.deepEqual(ws.rawMessages.slice(-2), [
      hex('00 00 00 10 00 10 00 01 00 00 00 09 00 00 00 03'),
      hex('00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 04 00 00 00 00'),
    ]);
  });

  it('keeps replies in request order while Receive is pending', async () => {
    const c = await h.client('tcp', { mid: 16, room_id: 'order://1' });
    const release = h.logic.hold('receive');
    c.send(4, 'slow', 1, 1);
    c.send(2, '', 1, 2);
    c.send(12, 'order://2', 1, 3);
    c.send(4, 'slow too', 1, 4);
    c.send(14, '1', 1, 5);
    await h.logic.waitFor('receive', (r) => Buffer.from(r.proto.body).toString() === 'slow too');
    // Held replies come out only after the receive they wait on; a heartbeat round trip on
    // another connection shows the comet has already handled everything sent above.
    const probe = await h.client('tcp', {});
    probe.send(2, '', 1, 1);
    await probe.next();
    assert.equal(c.queued, 0, 'nothing answered while the first receive is pending');
    release();
    const frames = await c.collect(5);
    assert.deepEqual(
      frames.map((f) => [f.op, f.seq]),
      [
        [4, 1],
        [3, 2],
        [13, 3],
        [4, 4],
        [15, 5],
      ],
    );
  });

  it('still echoes when Receive fails', async () => {
    const failing = h.logic.receive.bind(h.logic);
    h.logic.receive = async (req) => {
      await failing(req);
      throw new Error('logic unavailable');
    };
    try {
      const c = await h.client('ws', { mid: 17 });
      c.send(4, 'x', 1, 8);
      const f = await c.next();
      assert.deepEqual([f.op, f.seq], [4, 8]);
    } finally {
      h.logic.receive = failing;
    }
  });

  it('closes a connection with more than 8 frames awaiting replies; 8 are fine', async () => {
    const ok = await h.client('tcp', { mid: 18 });
    const full = await h.client('ws', { mid: 19 });
    const release = h.logic.hold('receive');
    for (let i = 1; i <= 8; i++) ok.send(4, '', 1, i);
    for (let i = 1; i <= 9; i++) full.send(4, '', 1, i);
    await full.closed;
    release();
    const frames = await ok.collect(8);
    assert.deepEqual(
      frames.map((f) => f.seq),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.equal(ok.isClosed, false);
    await h.logic.waitFor('disconnect', (r) => r.mid === 19n);
  });
});
