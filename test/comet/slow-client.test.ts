// Bounded outbound per connection (docs/architecture.md#the-hot-path-comet): a client that stops reading never holds more
// than protocol.sendQueueBytes; past it pushes are dropped, or the client is disconnected.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GoimTestClient } from '../support/goim-client.js';
import { innerFrame, rawProto, startComet, turn, type Harness } from './harness.js';

const CAP = 256 * 1024;
const BODY = 'x'.repeat(48 * 1024);
const MAX_PUSHES = 2000; // ~100 MB at most: far beyond any loopback socket buffer

/** Pushes to `key` one per event-loop turn until `stop()`, checking the cap after each. */
async function flood(h: Harness, key: string, stop: () => boolean): Promise<number> {
  const proto = rawProto(innerFrame(1000, BODY));
  for (let i = 1; i <= MAX_PUSHES; i++) {
    h.comet.pushMsg([key], 1000, proto);
    const queued = h.comet.sendQueueBytes(key);
    if (queued !== undefined) assert.ok(queued <= CAP, `push ${i}: ${queued} bytes queued > cap ${CAP}`);
    await turn();
    const after = h.comet.sendQueueBytes(key);
    if (after !== undefined) assert.ok(after <= CAP, `push ${i} flushed: ${after} bytes queued > cap ${CAP}`);
    if (stop()) return i;
  }
  assert.fail(`still not over the cap after ${MAX_PUSHES} pushes`);
}

describe('slow readers', () => {
  it('drop policy: pushes past the cap are dropped and counted, the connection lives on', async () => {
    const h = await startComet({ protocol: { sendQueueBytes: CAP, slowPolicy: 'drop' } });
    try {
      const slow: GoimTestClient = await h.client('tcp', { key: 'slow', accepts: [1000] });
      const fast = await h.client('ws', { key: 'fast', accepts: [1000] });
      slow.socket.pause();
      const pushes = await flood(h, 'slow', () => h.comet.stats().pushesDropped >= 5);
      assert.ok(pushes > 5);
      assert.equal(h.comet.stats().slowDisconnects, 0);

      // Others are unaffected; the slow one catches up once it reads again.
      h.comet.pushMsg(['fast', 'slow'], 1000, rawProto(innerFrame(1000, 'marker')));
      assert.equal((await fast.next()).body.toString(), 'marker');
      slow.socket.resume();
      await slow.nextWhere((f) => f.body.toString() === 'marker', 30_000);
      slow.send(2, '', 1, 1);
      assert.equal((await slow.nextWhere((f) => f.op === 3)).seq, 1);
      assert.equal(slow.isClosed, false);
    } finally {
      await h.stop();
    }
  });

  it('disconnect policy: the slow connection is closed, counted, and logic told', async () => {
    const h = await startComet({ protocol: { sendQueueBytes: CAP, slowPolicy: 'disconnect' } });
    try {
      const slow = await h.client('ws', { mid: 77, key: 'slow-ws', accepts: [1000] });
      const fast = await h.client('tcp', { key: 'fast-tcp', accepts: [1000] });
      slow.socket.pause();
      await flood(h, 'slow-ws', () => h.comet.sendQueueBytes('slow-ws') === undefined);
      slow.socket.resume(); // a client that does not read cannot see the close either
      await slow.closed;
      assert.equal(h.comet.stats().slowDisconnects, 1);
      assert.equal(h.comet.stats().pushesDropped, 0);
      await h.logic.waitFor('disconnect', (r) => r.key === 'slow-ws');
      h.comet.pushMsg(['fast-tcp'], 1000, rawProto(innerFrame(1000, 'marker')));
      assert.equal((await fast.next()).body.toString(), 'marker');
    } finally {
      await h.stop();
    }
  });

  it('a push larger than the cap is never queued', async () => {
    const h = await startComet({ protocol: { sendQueueBytes: 4096, slowPolicy: 'drop' } });
    try {
      const c = await h.client('tcp', { key: 'small', accepts: [1] });
      h.comet.pushMsg(['small'], 1, rawProto(innerFrame(1, 'y'.repeat(5000))));
      h.comet.pushMsg(['small'], 1, rawProto(innerFrame(1, 'fits')));
      assert.equal((await c.next()).body.toString(), 'fits');
      assert.equal(h.comet.stats().pushesDropped, 1);
    } finally {
      await h.stop();
    }
  });
});
