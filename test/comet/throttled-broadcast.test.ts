// Throttled broadcasts (speed > 0): at most push.maxThrottled walk at once (more are sent at
// once and counted), and a walk lets go of closed connections and ends when none is left.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import type { GoimTestClient } from '../support/goim-client.js';
import { innerFrame, rawProto, startComet } from './harness.js';
import { eventually } from '../support/eventually.js';

const OP = 1000;

describe('throttled broadcasts', () => {
  it('beyond push.maxThrottled walks a broadcast goes to everyone at once, counted; walks end once their clients left', async () => {
    const limits = new LimitHits();
    const h = await startComet({ push: { maxThrottled: 4 } }, undefined, { limits });
    const clients: GoimTestClient[] = [];
    try {
      for (let i = 0; i < 20; i++) clients.push(await h.client(i % 2 ? 'ws' : 'tcp', { mid: i, key: `k${i}`, accepts: [OP] }));
      // speed 1: each walk would take 20 s to reach all 20 clients.
      for (let i = 0; i < 10; i++) h.comet.broadcast(OP, rawProto(innerFrame(OP, `b${i}`)), 1);
      assert.equal(h.comet.counters().throttledWalks, 4);
      assert.equal(limits.snapshot().throttled_broadcasts, 6);
      const immediate = ['b4', 'b5', 'b6', 'b7', 'b8', 'b9'];
      for (const c of clients) {
        for (const body of immediate) await c.nextWhere((f) => f.body.toString() === body, 5000);
      }

      for (const c of clients) c.close();
      await eventually(() => h.comet.counters().sockets === 0, 'every client gone');
      // Closed connections are dropped from the walks (at the latest a second later), which then end.
      await eventually(() => h.comet.counters().throttledWalks === 0, 'walks over once nobody is left', 5000);
    } finally {
      await h.stop();
    }
  });

  it('a walk reaches the clients that stay, at about its speed, skipping those that left and those that came later', async () => {
    const h = await startComet();
    try {
      const stay: GoimTestClient[] = [];
      const leave: GoimTestClient[] = [];
      for (let i = 0; i < 10; i++) (i % 2 ? stay : leave).push(await h.client('tcp', { mid: i, key: `w${i}`, accepts: [OP] }));
      h.comet.broadcast(OP, rawProto(innerFrame(OP, 'walk')), 20); // 10 connections at 20/s: about half a second
      assert.equal(h.comet.counters().pushesDelivered.broadcast, 2, 'the first step: 20/s × 100 ms');
      assert.equal(h.comet.counters().throttledWalks, 1);
      for (const c of leave) c.close();
      const late = await h.client('tcp', { mid: 99, key: 'late', accepts: [OP] });
      for (const c of stay) assert.equal((await c.nextWhere((f) => f.op === OP, 5000)).body.toString(), 'walk');
      await eventually(() => h.comet.counters().throttledWalks === 0, 'walk over', 5000);
      assert.equal(late.queued, 0, 'a connection that came after the broadcast is not a recipient');
    } finally {
      await h.stop();
    }
  });
});
