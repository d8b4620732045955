// A plain WebSocket listener answers anything but an upgrade once and closes the connection,
// so a second request on one connection is never legitimate: a chunk of pipelined requests
// is cut at the second (limit http_pipelined) instead of being answered request by request.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { Op } from '../../src/protocol/ops.js';
import { neverRead, pipelined, rawHttp } from '../support/raw-http.js';
import { startComet } from './harness.js';

describe('WebSocket listener: pipelined requests', () => {
  it('a connection pipelining requests it never reads is cut at the second and counted; clients still connect', async () => {
    const hits = new LimitHits();
    const h = await startComet({}, undefined, { limits: hits });
    try {
      const floods = await Promise.all(Array.from({ length: 20 }, () => rawHttp(h.wsPort)));
      try {
        for (const c of floods) {
          neverRead(c);
          c.socket.write(pipelined(2000, '/x'));
        }
        await Promise.all(floods.map((c) => c.closed('pipelining connection')));
        assert.equal(hits.snapshot().http_pipelined, 20);
      } finally {
        for (const c of floods) c.socket.destroy();
      }
      // A plain request is still answered, and a WebSocket client still upgrades.
      const plain = await rawHttp(h.wsPort);
      plain.socket.write(pipelined(1, '/x'));
      await plain.closed('plain request');
      assert.match(plain.received(), /^HTTP\/1\.1 404 /);
      const c = await h.client('ws', { key: 'after-flood' });
      c.send(Op.Heartbeat);
      await c.nextWhere((f) => f.op === Op.HeartbeatReply);
      assert.equal(hits.snapshot().http_pipelined, 20);
    } finally {
      await h.stop();
    }
  });
});
