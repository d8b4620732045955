// /metrics in embedded mode: real clients connect and receive pushes; the scrape shows them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { GoimTestClient } from '../support/goim-client.js';
import { scrape, type PromText } from './prom-text.js';
import { eventually } from '../support/eventually.js';

function config(extra: Record<string, unknown> = {}) {
  return buildConfig({
    env: { host: 'comet-metrics' },
    tcp: { bind: ['127.0.0.1:0'] },
    websocket: { bind: ['127.0.0.1:0'] },
    httpServer: { addr: '127.0.0.1:0' },
    room: { signal: '10ms' },
    comet: { renewOnline: '50ms' },
    logic: { onlineReload: '50ms' },
    registry: { refresh: '50ms' },
    ...extra,
  });
}

describe('embedded /metrics', () => {
  let tsim: Embedded;
  let api: string;
  const clients: GoimTestClient[] = [];

  before(async () => {
    tsim = await startEmbedded(config(), silentLogger);
    api = `http://127.0.0.1:${tsim.addresses().http.port}`;
  });

  after(async () => {
    for (const c of clients) c.close();
    await tsim.stop();
  });

  const push = async (path: string, body: string): Promise<void> => {
    const res = await fetch(`${api}${path}`, { method: 'POST', body });
    assert.equal(await res.text(), '{"code":0,"message":""}');
  };

  /** Scrapes until `ready` holds (values are read live, so this waits for the event). */
  const scrapeUntil = async (ready: (m: PromText) => boolean, what: string): Promise<PromText> => {
    let m!: PromText;
    await eventually(async () => ready((m = await scrape(`${api}/metrics`))), what, 10_000);
    return m;
  };

  it('shows connections, rooms, and pushes by kind as clients receive them', async () => {
    const { tcp, ws } = tsim.addresses();
    const t1 = await GoimTestClient.tcp(tcp[0].port);
    const t2 = await GoimTestClient.tcp(tcp[0].port);
    const w1 = await GoimTestClient.ws(ws[0].port);
    clients.push(t1, t2, w1);
    await t1.auth({ mid: 1, key: 'k-t1', room_id: 'live://a', accepts: [1000] });
    await t2.auth({ mid: 2, key: 'k-t2', room_id: 'live://b', accepts: [1000] });
    await w1.auth({ mid: 3, key: 'k-w1', room_id: 'live://a', accepts: [1000] });
    // A socket that never authenticates, and one whose first frame is malformed.
    const idle = await GoimTestClient.tcp(tcp[0].port);
    clients.push(idle);
    const bad = await GoimTestClient.tcp(tcp[0].port);
    clients.push(bad);
    const badFrame = encodeFrame(7, Buffer.from('{}'));
    badFrame.writeInt16BE(15, 4); // headerLen must be 16
    bad.sendRaw(badFrame);
    await bad.closed;
    // A token logic refuses.
    const refused = await GoimTestClient.tcp(tcp[0].port);
    clients.push(refused);
    refused.send(7, '{"mid": "not a number"}');
    await refused.closed;

    let m = await scrape(`${api}/metrics`);
    assert.equal(m.get('tsim_comet_connections'), 3);
    assert.equal(m.get('tsim_comet_rooms'), 2);
    assert.equal(m.get('tsim_comet_sockets'), 4);
    assert.equal(m.get('tsim_comet_connections_accepted_total', { transport: 'tcp' }), 5);
    assert.equal(m.get('tsim_comet_connections_accepted_total', { transport: 'ws' }), 1);
    assert.equal(m.get('tsim_comet_connections_closed_total'), 2);
    assert.equal(m.get('tsim_comet_auth_total', { result: 'ok' }), 3);
    assert.equal(m.get('tsim_comet_auth_total', { result: 'failed' }), 1);
    assert.equal(m.get('tsim_logic_auth_total', { result: 'accepted' }), 3);
    assert.equal(m.sum('tsim_logic_auth_total', { result: 'denied' }), 1);
    assert.equal(m.get('tsim_comet_frames_rejected_total', { transport: 'tcp' }), 1);
    assert.equal(m.types.get('tsim_comet_pushes_total'), 'counter');
    assert.equal(m.types.get('tsim_fanout_latency_seconds'), 'histogram');
    // Process metrics are there too.
    assert.ok((m.get('process_resident_memory_bytes') ?? 0) > 0);
    assert.ok(m.get('tsim_event_loop_lag_seconds', { quantile: '0.99' }) !== undefined);

    await push('/goim/push/room?operation=1000&type=live&room=a', 'to-room-a');
    await push('/goim/push/keys?operation=1000&keys=k-t2', 'to-t2');
    await push('/goim/push/all?operation=1000&speed=0', 'to-all');
    for (const [c, bodies] of [
      [t1, ['to-room-a', 'to-all']],
      [w1, ['to-room-a', 'to-all']],
      [t2, ['to-t2', 'to-all']],
    ] as const) {
      const got = (await c.collect(2)).map((f) => f.body.toString()).sort();
      assert.deepEqual(got, [...bodies].sort());
    }

    m = await scrapeUntil((x) => x.sum('tsim_job_messages_total') === 3, 'the job to count 3 messages');
    assert.equal(m.get('tsim_comet_pushes_total', { kind: 'room' }), 1);
    assert.equal(m.get('tsim_comet_pushes_total', { kind: 'keys' }), 1);
    assert.equal(m.get('tsim_comet_pushes_total', { kind: 'broadcast' }), 1);
    assert.equal(m.get('tsim_comet_pushes_delivered_total', { kind: 'room' }), 2);
    assert.equal(m.get('tsim_comet_pushes_delivered_total', { kind: 'keys' }), 1);
    assert.equal(m.get('tsim_comet_pushes_delivered_total', { kind: 'broadcast' }), 3);
    assert.equal(m.sum('tsim_comet_pushes_dropped_total'), 0);
    // Three auth replies, then the three pushes to each of three sockets in one to three turns.
    const writes = m.get('tsim_comet_socket_writes_total') ?? 0;
    assert.ok(writes >= 6 && writes <= 12, `socket writes ${writes}`);
    assert.equal(m.get('tsim_fanout_latency_seconds_count', { kind: 'room' }), 1);
    assert.equal(m.get('tsim_fanout_latency_seconds_bucket', { kind: 'room', le: '+Inf' }), 1);
    assert.equal(m.get('tsim_logic_pushes_total', { kind: 'room' }), 1);
    assert.equal(m.get('tsim_logic_pushes_total', { kind: 'keys' }), 1);
    assert.equal(m.get('tsim_logic_pushes_total', { kind: 'broadcast' }), 1);
    assert.equal(m.get('tsim_job_messages_total', { kind: 'room' }), 1);
    assert.equal(m.get('tsim_job_messages_total', { kind: 'push' }), 1);
    assert.equal(m.get('tsim_job_messages_total', { kind: 'broadcast' }), 1);
    assert.equal(m.get('tsim_job_room_batches_total'), 1);
    assert.equal(m.get('tsim_job_room_batch_size_count'), 1);
    assert.equal(m.get('tsim_job_room_batch_size_bucket', { le: '1' }), 1);
    assert.equal(m.get('tsim_queue_depth'), 0);
    assert.equal(m.get('tsim_queue_redeliveries_total'), 0);

    // The registration refresh reaches logic's view of the comets.
    m = await scrapeUntil((x) => x.get('tsim_logic_online_connections') === 3, 'logic to see 3 connections');
    assert.equal(m.get('tsim_logic_comets'), 1);
  });

  it('keeps goim 404s for other paths and serves only GET', async () => {
    const res = await fetch(`${api}/metrics/`);
    assert.equal(res.status, 404);
    assert.equal(await res.text(), '404 page not found');
    const post = await fetch(`${api}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 404);
    await post.text();
  });
});

describe('embedded with metrics.enabled = false', () => {
  it('has no /metrics route', async () => {
    const tsim = await startEmbedded(config({ metrics: { enabled: false } }), silentLogger);
    try {
      assert.equal(tsim.metrics, undefined);
      const res = await fetch(`http://127.0.0.1:${tsim.addresses().http.port}/metrics`);
      assert.equal(res.status, 404);
      await res.text();
    } finally {
      await tsim.stop();
    }
  });
});
