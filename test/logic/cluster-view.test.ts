// The console's cluster view (logic/admin/cluster-view.ts) over the memory snapshot store:
// rates from two readings of cumulative counters, a restarted node's reset giving no negative
// rate, cluster sums and the worst event-loop lag, a node's own series, the ring's bound, and
// a node that stopped reporting shown stale, then gone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryNodeStats } from '../../src/adapters/memory/node-stats.js';
import { silentLogger } from '../../src/log.js';
import { ClusterView, UnknownNodeError } from '../../src/logic/admin/cluster-view.js';
import type { NodeSnapshot } from '../../src/ports/node-stats.js';

const node = (id: string, at: number, values: Record<string, number>): NodeSnapshot => ({
  role: 'comet',
  id,
  version: '0.1.0',
  startedAt: at - 5000,
  at,
  addrs: [],
  health: 'ok',
  values,
});

describe('cluster view', () => {
  it('turns counters into per-second rates and sums the cluster', async () => {
    const store = new MemoryNodeStats();
    const view = new ClusterView({ store, intervalMs: 60_000, log: silentLogger, keep: 3 });
    const t = Date.now();
    await store.publish(node('a', t, { connections: 3, delivered: 100, event_loop_p99_ms: 2 }), 60_000);
    await store.publish(node('b', t, { connections: 4, delivered: 10, event_loop_p99_ms: 9 }), 60_000);
    await view.poll();
    await store.publish(node('a', t + 2000, { connections: 5, delivered: 300, event_loop_p99_ms: 1 }), 60_000);
    // b restarted: its counter went down; no rate, not a negative one.
    await store.publish(node('b', t + 1000, { connections: 1, delivered: 2, event_loop_p99_ms: 3 }), 60_000);
    await view.poll();
    const o = await view.overview();
    assert.equal(o.totals.connections, 6);
    assert.equal(o.totals.delivered_per_s, 100);
    assert.equal(o.totals.event_loop_p99_ms, 3);
    assert.equal(o.totals.delivered, 302);
    assert.deepEqual(o.series.connections, [7, 6]);
    assert.deepEqual(o.series.delivered_per_s, [0, 100]);
    assert.deepEqual(
      o.nodes.map((n) => [n.id, n.rates.delivered]),
      [
        ['a', 100],
        ['b', 0],
      ],
    );
    const a = await view.overview('comet/a');
    assert.equal(a.seriesOf, 'comet/a');
    assert.deepEqual(a.series.connections, [3, 5]);
    // The totals stay the cluster's whichever node's series is shown.
    assert.deepEqual(a.totals, (await view.overview()).totals);
    await assert.rejects(view.overview('comet/nope'), UnknownNodeError);
    // The ring keeps `keep` points.
    await view.poll();
    await view.poll();
    assert.equal((await view.overview()).series.t.length, 3);
  });

  it('shows a node without a fresh snapshot as stale, and drops it once its snapshot expires', async () => {
    const store = new MemoryNodeStats();
    const view = new ClusterView({ store, intervalMs: 100, log: silentLogger });
    await store.publish(node('old', Date.now() - 1000, {}), 60_000);
    await store.publish(node('gone', Date.now(), {}), 1);
    await new Promise((r) => setTimeout(r, 5));
    // Its snapshot's own time says nothing (its clock may be off): what counts is that it stops changing.
    assert.deepEqual(
      (await view.overview()).nodes.map((n) => [n.id, n.health]),
      [['old', 'ok']],
    );
    await new Promise((r) => setTimeout(r, 350));
    await view.poll();
    assert.deepEqual(
      (await view.overview()).nodes.map((n) => [n.id, n.health]),
      [['old', 'stale']],
    );
  });
});
