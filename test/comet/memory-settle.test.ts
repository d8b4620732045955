// A comet gives memory back once a burst of connections is over (docs/operations.md#memory-after-connect-storms).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from '../support/eventually.js';
import { startComet } from './harness.js';

test('comet runs one memory settle after a burst of connections, counted in its metrics', async () => {
  const h = await startComet({}, undefined, { memorySettle: { after: 3, quietMs: 1000, growth: 0 } });
  try {
    for (let i = 0; i < 3; i++) await h.client(i % 2 ? 'ws' : 'tcp', { mid: i + 1, key: `k${i}`, room_id: 'live://1' });
    await eventually(() => h.comet.counters().memorySettles?.settles === 1, 'a memory settle', 8000);
    assert.ok((h.comet.counters().memorySettles?.pauseMs ?? 0) > 0);
    // The clients stayed connected through it.
    assert.equal(h.comet.stats().connections, 3);
  } finally {
    await h.stop();
  }
});

test('memory.settleAfter = 0 turns it off', async () => {
  const h = await startComet({ memory: { settleAfter: 0 } });
  try {
    assert.equal(h.comet.counters().memorySettles, undefined);
  } finally {
    await h.stop();
  }
});
