// The danmaku counters of a logic (src/metrics/logic-metrics.ts) as /metrics shows them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetricsRegistry } from '../../src/metrics/registry.js';
import { desk, op4, roomType } from '../logic/danmaku/support.js';
import { parsePromText } from './prom-text.js';

describe('danmaku metrics', () => {
  it('accepted, refused by reason (every reason listed), repeats, moderation by type and result', async () => {
    const { danmaku } = desk({ live: roomType({ maxText: 2 }) });
    const logic = {
      danmaku,
      pushCounts: { keys: 0, mids: 0, room: 0, broadcast: 0 },
      onlineTotal: () => ({ connCount: 0, ipCount: 0 }),
      comets: () => [],
    };
    const m = createMetricsRegistry({ logic });
    try {
      await danmaku.receive(op4({ text: 'ok', nonce: 'n' }));
      await danmaku.receive(op4({ text: 'ok', nonce: 'n' }));
      await danmaku.receive(op4({ text: 'too long' }));
      await danmaku.receive(op4('nope'));
      const p = parsePromText(await m.metrics());
      assert.equal(p.get('tsim_logic_danmaku_accepted_total'), 1);
      assert.equal(p.get('tsim_logic_danmaku_repeats_total'), 1);
      assert.equal(p.get('tsim_logic_danmaku_refused_total', { reason: 'too_long' }), 1);
      assert.equal(p.get('tsim_logic_danmaku_refused_total', { reason: 'invalid' }), 1);
      assert.equal(p.get('tsim_logic_danmaku_refused_total', { reason: 'slow_mode' }), 0);
      assert.equal(p.types.get('tsim_logic_danmaku_refused_total'), 'counter');
      assert.equal(p.sum('tsim_logic_danmaku_moderation_total'), 0, 'no moderation configured');
    } finally {
      m.close();
    }
  });
});
