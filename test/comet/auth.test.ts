// Auth (docs/protocol.md, Auth token and Connection lifecycle; byte vectors from
// docs/goim-test-vectors.md), handshake and heartbeat timeouts.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../support/eventually.js';
import { ManualClock } from '../support/manual-clock.js';
import { StubLogic } from '../support/stub-logic.js';
import { hex, SERVER_ID, startComet, type Harness } from './harness.js';

// goim-test-vectors.md#auth-request-javascript-example: ver 1, seq 1.
const JS_AUTH = hex(
  '00 00 00 62 00 10 00 01 00 00 00 07 00 00 00 01 7b 22 6d 69 64 22 3a 31 32 33 2c 20 22 72 6f 6f 6d 5f 69 64 22 3a 22 6c 69 76 65 3a 2f 2f 31 30 30 30 22 2c 20 22 70 6c 61 74 66 6f 72 6d 22 3a 22 77 65 62 22 2c 20 22 61 63 63 65 70 74 73 22 3a 5b 31 30 30 30 2c 31 30 30 31 2c 31 30 30 32 5d 7d',
);
// goim-test-vectors.md#auth-request-go-benchmark-client: ver 1, seq 0.
const BENCH_AUTH = hex(
  '00 00 00 63 00 10 00 01 00 00 00 07 00 00 00 00 7b 22 6d 69 64 22 3a 31 2c 22 6b 65 79 22 3a 22 22 2c 22 72 6f 6f 6d 5f 69 64 22 3a 22 74 65 73 74 3a 2f 2f 31 22 2c 22 70 6c 61 74 66 6f 72 6d 22 3a 22 69 6f 73 22 2c 22 61 63 63 65 70 74 73 22 3a 5b 31 30 30 30 2c 31 30 30 31 2c 31 30 30 32 5d 7d',
);
const AUTH_REPLY_SEQ1 = hex('00 00 00 10 00 10 00 01 00 00 00 08 00 00 00 01');

describe('comet auth', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  it('answers the JS client auth over TCP with the exact auth reply bytes of the goim test vectors and calls Connect', async () => {
    const c = await h.tcp();
    c.sendRaw(JS_AUTH);
    const reply = await c.next();
    assert.equal(reply.op, 8);
    assert.deepEqual(c.rawBytes(), AUTH_REPLY_SEQ1);
    const req = await h.logic.waitFor('connect', (r) => Buffer.from(r.token).equals(JS_AUTH.subarray(16)));
    assert.equal(req.server, SERVER_ID);
    assert.equal(req.cookie, '');
    assert.equal(req.clientIp, '127.0.0.1');
  });

  it('answers the benchmark auth (seq 0) with seq 0', async () => {
    const c = await h.tcp();
    c.sendRaw(BENCH_AUTH);
    await c.next();
    assert.deepEqual(c.rawBytes(), hex('00 00 00 10 00 10 00 01 00 00 00 08 00 00 00 00'));
  });

  it('answers over WebSocket with one binary frame (goim test vectors) and passes the Cookie header', async () => {
    const c = await h.ws({ headers: { Cookie: 'sid=abc' } });
    c.sendRaw(JS_AUTH);
    await c.next();
    assert.deepEqual(c.rawFrames, [hex('82 10 00 00 00 10 00 10 00 01 00 00 00 08 00 00 00 01')]);
    const req = await h.logic.waitFor('connect', (r) => r.cookie === 'sid=abc');
    assert.deepEqual(Buffer.from(req.token), JS_AUTH.subarray(16));
    assert.equal(req.clientIp, '127.0.0.1');
  });

  it('ignores frames before auth', async () => {
    for (const transport of ['tcp', 'ws'] as const) {
      const c = transport === 'tcp' ? await h.tcp() : await h.ws();
      c.send(2, '', 1, 1); // heartbeat
      c.send(4, 'hello', 1, 2);
      const reply = await c.auth({ mid: 5 });
      assert.equal(reply.seq, 1);
      c.send(2, '', 1, 3);
      const hb = await c.next();
      assert.deepEqual([hb.op, hb.seq], [3, 3], `${transport}: nothing was answered before auth`);
    }
  });

  it('closes without a reply when Connect fails, and sends no Disconnect', async () => {
    h.logic.failConnect = (token) => token.key === 'refused';
    try {
      for (const transport of ['tcp', 'ws'] as const) {
        const c = transport === 'tcp' ? await h.tcp() : await h.ws();
        c.send(7, JSON.stringify({ key: 'refused' }), 1, 1);
        await c.closed;
        assert.equal(c.rawMessages.length, 0, `${transport}: nothing written`);
      }
      const c = await h.tcp();
      c.send(7, 'not json', 1, 1);
      await c.closed;
      assert.equal(c.rawBytes().length, 0);
    } finally {
      h.logic.failConnect = false;
    }
    assert.equal(h.logic.calls.disconnect.filter((r) => r.key === 'refused').length, 0);
  });

  it('handles frames sent right behind the auth frame after registering', async () => {
    const c = await h.tcp();
    const release = h.logic.hold('connect');
    c.send(7, JSON.stringify({ key: 'eager', room_id: 'eager://1' }), 1, 1);
    c.send(2, '', 1, 2);
    c.send(12, 'eager://2', 1, 3);
    await h.logic.waitFor('connect', (r) => Buffer.from(r.token).toString().includes('eager'));
    release();
    const frames = await c.collect(3);
    assert.deepEqual(
      frames.map((f) => [f.op, f.seq]),
      [
        [8, 1],
        [3, 2],
        [13, 3],
      ],
    );
    assert.equal(frames[1].body.readInt32BE(0), 1, 'the heartbeat saw the room joined at auth');
    assert.deepEqual(
      h.comet.rooms().filter((r) => r.startsWith('eager')),
      ['eager://2'],
    );
  });
});

// On a manual clock: the deadlines pass when the test moves time, not by waiting for them.
describe('comet timeouts', () => {
  let h: Harness;
  const logic = new StubLogic({ heartbeatMs: 150 });
  const clock = new ManualClock();
  before(async () => {
    h = await startComet({ protocol: { handshakeTimeout: '100ms' } }, logic, { clock });
  });
  after(() => h.stop());

  /** Once the comet holds `sockets` sockets, moves its clock `ms` on (the sweep runs every 20 ms of it). */
  async function pass(ms: number, sockets = 1): Promise<void> {
    await eventually(() => h.comet.counters().sockets === sockets, `${sockets} socket(s) accepted`);
    clock.advance(ms);
  }

  it('closes a TCP connection that does not authenticate in time, writing nothing', async () => {
    const c = await h.tcp();
    await pass(120);
    await c.closed;
    assert.equal(c.rawBytes().length, 0);
  });

  it('closes a WebSocket that upgrades but does not authenticate in time', async () => {
    const c = await h.ws();
    await pass(120);
    await c.closed;
    assert.equal(c.rawFrames.length, 0);
  });

  it('closes a socket on the WebSocket port that never sends the upgrade', async () => {
    const socket = connect({ port: h.wsPort, host: '127.0.0.1' });
    socket.on('error', () => {});
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    await pass(120);
    await new Promise((resolve) => socket.once('close', resolve));
    assert.equal(Buffer.concat(received).length, 0);
  });

  it('closes a connection that sends no heartbeat within the timeout, and tells logic', async () => {
    for (const transport of ['tcp', 'ws'] as const) {
      const key = `hb-timeout-${transport}`;
      const c = await h.client(transport, { mid: 9, key });
      await pass(160);
      await c.closed;
      const d = await logic.waitFor('disconnect', (r) => r.key === key);
      assert.deepEqual(d, { mid: 9n, key, server: SERVER_ID });
    }
  });

  it('a connection authenticated in time outlives the handshake deadline', async () => {
    logic.heartbeatMs = 60_000;
    try {
      const c = await h.tcp();
      const witness = await h.tcp(); // accepted later: its handshake deadline is no earlier
      await c.auth({ key: 'in-time' });
      await pass(120, 2);
      await witness.closed;
      c.send(2, '', 1, 7);
      const hb = await c.next();
      assert.deepEqual([hb.op, hb.seq], [3, 7]);
      assert.equal(c.isClosed, false);
    } finally {
      logic.heartbeatMs = 150;
    }
  });
});
