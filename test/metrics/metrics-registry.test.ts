// The metrics building blocks: lazily read values, BucketCounts histograms, the registry
// per process, the scrape server and the queue counters behind tsim_queue_*.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryPushQueue } from '../../src/adapters/memory/push-queue.js';
import { buildConfig } from '../../src/config/load.js';
import { BucketCounts } from '../../src/metrics/bucket-counts.js';
import { registerCometMetrics } from '../../src/metrics/comet-metrics.js';
import { registerLogicMetrics } from '../../src/metrics/logic-metrics.js';
import { createMetricsRegistry } from '../../src/metrics/registry.js';
import { DEFAULT_METRICS_ADDR, metricsAddr } from '../../src/metrics/metrics-addr.js';
import { serveMetrics } from '../../src/metrics/serve.js';
import { PushType, type PushMsg } from '../../src/ports/index.js';
import { parsePromText } from './prom-text.js';
import { eventually } from '../support/eventually.js';

const msg: PushMsg = { type: PushType.ROOM, operation: 1000, speed: 0, server: '', room: 'live://1', keys: [], msg: Buffer.from('x') };

describe('BucketCounts', () => {
  it('counts each value in the first bucket whose bound it does not exceed', () => {
    const b = new BucketCounts([1, 5, 10]);
    for (const v of [0, 1, 1.5, 5, 7, 10, 11, 1000]) b.observe(v);
    assert.deepEqual(b.counts, [2, 2, 2, 2]);
    assert.deepEqual(b.cumulative(), [2, 4, 6, 8]);
    assert.equal(b.count, 8);
    assert.equal(b.sum, 0 + 1 + 1.5 + 5 + 7 + 10 + 11 + 1000);
  });

  it('refuses bounds that do not increase', () => {
    assert.throws(() => new BucketCounts([1, 1]), /increase/);
  });
});

describe('createMetricsRegistry', () => {
  it('reads role counters when scraped, and several registries live in one process', async () => {
    const latency = { keys: new BucketCounts([0.001, 0.01]), room: new BucketCounts([0.001, 0.01]), broadcast: new BucketCounts([0.001, 0.01]) };
    const counters = {
      tcpAccepted: 3,
      wsAccepted: 1,
      tcpFramesRejected: 1,
      wsFramesRejected: 0,
      sockets: 2,
      authOk: 2,
      authFailed: 1,
      pushesReceived: { keys: 1, room: 2, broadcast: 0 },
      pushesDelivered: { keys: 1, room: 7, broadcast: 0 },
      pushesDropped: { keys: 0, room: 3, broadcast: 0 },
      slowDisconnects: 0,
      socketWrites: 5,
      fanoutLatency: latency,
    };
    const comet = {
      stats: () => ({ connections: 2, ips: 1, rooms: 1, pushesDropped: 3, slowDisconnects: 0 }),
      counters: () => counters,
    };
    const a = createMetricsRegistry({ comet });
    const b = createMetricsRegistry({ comet });
    try {
      latency.room.observe(0.0005);
      latency.room.observe(0.005);
      a.limits.hit('connections_per_ip');
      a.limits.hit('connections_per_ip');
      a.limits.hit('push_rate');
      const m = parsePromText(await a.metrics());
      assert.equal(m.get('tsim_comet_connections'), 2);
      assert.equal(m.get('tsim_comet_connections_closed_total'), 2);
      assert.equal(m.get('tsim_comet_pushes_dropped_total', { kind: 'room' }), 3);
      assert.equal(m.get('tsim_comet_socket_writes_total'), 5);
      assert.equal(m.get('tsim_fanout_latency_seconds_bucket', { kind: 'room', le: '0.001' }), 1);
      assert.equal(m.get('tsim_fanout_latency_seconds_bucket', { kind: 'room', le: '0.01' }), 2);
      assert.equal(m.get('tsim_fanout_latency_seconds_bucket', { kind: 'room', le: '+Inf' }), 2);
      assert.equal(m.get('tsim_fanout_latency_seconds_count', { kind: 'room' }), 2);
      assert.equal(m.get('tsim_limit_hits_total', { limit: 'connections_per_ip' }), 2);
      assert.equal(m.get('tsim_limit_hits_total', { limit: 'push_rate' }), 1);
      assert.ok((m.get('process_resident_memory_bytes') ?? 0) > 0);
      // Values are live: a later scrape sees later counts.
      counters.pushesDropped = { keys: 0, room: 5, broadcast: 0 };
      assert.equal(parsePromText(await a.metrics()).get('tsim_comet_pushes_dropped_total', { kind: 'room' }), 5);
      // The other registry has its own limit counts.
      assert.equal(parsePromText(await b.metrics()).get('tsim_limit_hits_total', { limit: 'push_rate' }), undefined);
    } finally {
      a.close();
      b.close();
    }
  });

  it('reads auth results from logic.authStats() when logic has it', async () => {
    const base = {
      pushCounts: { keys: 0, mids: 0, room: 4, broadcast: 0 },
      onlineTotal: () => ({ connCount: 7, ipCount: 2 }),
      comets: () => [],
    };
    const withStats = { ...base, authStats: () => ({ accepted: 5, denied: { expired: 2, malformed: 1 } }) };
    for (const [logic, expected] of [
      [base, []],
      [
        withStats,
        [
          ['accepted', undefined, 5],
          ['denied', 'expired', 2],
          ['denied', 'malformed', 1],
        ],
      ],
    ] as const) {
      const m = createMetricsRegistry({});
      try {
        registerLogicMetrics(m.registry, logic);
        const p = parsePromText(await m.metrics());
        const auth = p.samples.filter((s) => s.name === 'tsim_logic_auth_total').map((s) => [s.labels.result, s.labels.reason, s.value]);
        assert.deepEqual(auth, expected);
        assert.equal(p.get('tsim_logic_pushes_total', { kind: 'room' }), 4);
        assert.equal(p.get('tsim_logic_online_connections'), 7);
        assert.equal(p.get('tsim_logic_comets'), 0);
      } finally {
        m.close();
      }
    }
  });

  it('registering a role twice in one registry fails loudly', () => {
    const m = createMetricsRegistry({});
    try {
      const comet = { stats: () => ({ connections: 0, ips: 0, rooms: 0, pushesDropped: 0, slowDisconnects: 0 }), counters: () => ({}) as never };
      registerCometMetrics(m.registry, comet);
      assert.throws(() => registerCometMetrics(m.registry, comet), /already been registered/);
    } finally {
      m.close();
    }
  });
});

describe('queue counters', () => {
  it('memory queue: depth is what is not yet acknowledged, redeliveries count retries', async () => {
    const q = new MemoryPushQueue({ retryDelay: 1, retryMaxDelay: 1 });
    const m = createMetricsRegistry({ queue: q });
    try {
      let calls = 0;
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await q.publish(msg);
      await q.publish(msg);
      assert.equal(q.queueStats().depth, 2);
      await q.consume(async () => {
        calls++;
        if (calls <= 2) throw new Error('comet down');
        await held;
      });
      await eventually(() => calls >= 4, 'both messages handled after their retry');
      let p = parsePromText(await m.metrics());
      assert.equal(p.get('tsim_queue_redeliveries_total'), 2);
      assert.equal(p.get('tsim_queue_depth'), 2);
      release();
      await eventually(() => q.queueStats().depth === 0, 'acknowledged');
      p = parsePromText(await m.metrics());
      assert.equal(p.get('tsim_queue_depth'), 0);
    } finally {
      m.close();
      await q.close();
    }
  });
});

describe('serveMetrics', () => {
  it('serves GET /metrics and nothing else', async () => {
    const m = createMetricsRegistry({});
    const server = await serveMetrics(m, '127.0.0.1:0');
    try {
      const base = `http://127.0.0.1:${server.address().port}`;
      const res = await fetch(`${base}/metrics`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(await res.text(), /^# HELP tsim_event_loop_lag_seconds /m);
      const query = await fetch(`${base}/metrics?x=1`);
      assert.equal(query.status, 200);
      await query.text();
      const other = await fetch(`${base}/`);
      assert.equal(other.status, 404);
      await other.text();
      const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
      assert.equal(post.status, 405);
      await post.text();
    } finally {
      await server.close();
      m.close();
    }
  });

  it('answers 500 when collecting fails', async () => {
    const server = await serveMetrics({ contentType: 'text/plain', metrics: () => Promise.reject(new Error('boom')) }, '127.0.0.1:0');
    try {
      const res = await fetch(`http://127.0.0.1:${server.address().port}/metrics`);
      assert.equal(res.status, 500);
      assert.match(await res.text(), /boom/);
    } finally {
      await server.close();
    }
  });

  it('names the address it cannot bind', async () => {
    const first = await serveMetrics({ contentType: 'text/plain', metrics: async () => '' }, '127.0.0.1:0');
    try {
      const taken = `127.0.0.1:${first.address().port}`;
      await assert.rejects(
        serveMetrics({ contentType: 'text/plain', metrics: async () => '' }, taken),
        new RegExp(`metrics: cannot listen on ${taken}`),
      );
    } finally {
      await first.close();
    }
  });
});

describe('metricsAddr', () => {
  it('uses the role default, metrics.addr when set, and port + worker for comet workers', () => {
    const defaults = buildConfig({});
    assert.equal(metricsAddr(defaults, 'comet'), DEFAULT_METRICS_ADDR.comet);
    assert.equal(metricsAddr(defaults, 'job'), DEFAULT_METRICS_ADDR.job);
    assert.equal(metricsAddr(defaults, 'comet', 3), ':3193');
    const set = buildConfig({ metrics: { addr: '127.0.0.1:9100' } });
    assert.equal(metricsAddr(set, 'comet', 2), '127.0.0.1:9102');
    assert.equal(metricsAddr(buildConfig({ metrics: { addr: '[::1]:0' } }), 'comet', 2), '[::1]:0');
  });
});
