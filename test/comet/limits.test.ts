// Every `limits` setting (and the two size limits) trips, is counted, and recovers.
import assert from 'node:assert/strict';
import { closedByServer, rawSocket } from '../support/raw-socket.js';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import { LimitLog } from '../../src/comet/limit-log.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { GoimTestClient } from '../support/goim-client.js';
import { startComet, type Harness, type Section } from './harness.js';
import { eventually } from '../support/eventually.js';
import { ManualClock } from '../support/manual-clock.js';
import type { CometOptions } from '../../src/comet/comet.js';

async function withComet(
  limits: Section,
  run: (h: Harness, hits: LimitHits) => Promise<void>,
  extra: Record<string, Section> = {},
  options: Partial<CometOptions> = {},
): Promise<void> {
  const hits = new LimitHits();
  const h = await startComet({ limits, ...extra }, undefined, { limits: hits, ...options });
  try {
    await run(h, hits);
  } finally {
    await h.stop();
  }
}

const hitsOf = (hits: LimitHits, name: string): number => hits.snapshot()[name] ?? 0;

describe('limits', () => {
  it('maxConnections: the socket past the limit is closed; after a close, a new one is served', async () => {
    await withComet({ maxConnections: 2 }, async (h, hits) => {
      const a = await h.client('tcp', { key: 'a' });
      const b = await h.ws();
      const refused = await GoimTestClient.tcp(h.tcpPort);
      await refused.closed;
      assert.equal(hitsOf(hits, 'connections'), 1);
      // WebSocket: answered 503 before the upgrade.
      await assert.rejects(h.ws(), /503 Service Unavailable/);
      assert.equal(hitsOf(hits, 'connections'), 2);
      b.close();
      await eventually(() => h.comet.counters().sockets === 1, 'the closed socket released');
      const c = await h.client('ws', { key: 'c' });
      c.send(Op.Heartbeat);
      assert.equal((await c.nextWhere((f) => f.op === Op.HeartbeatReply)).op, Op.HeartbeatReply);
      a.send(Op.Heartbeat);
      await a.nextWhere((f) => f.op === Op.HeartbeatReply);
    });
  });

  it('maxConnectionsPerIp: a second socket from one IP is refused, another IP is not; recovers on close', async () => {
    await withComet({ maxConnectionsPerIp: 1 }, async (h, hits) => {
      const a = await h.client('tcp', { key: 'a' });
      const second = await rawSocket(h.tcpPort);
      await closedByServer(second);
      assert.equal(hitsOf(hits, 'connections_per_ip'), 1);
      // 127.0.0.2 is another client address on Linux loopback.
      const other = await rawSocket(h.tcpPort, '127.0.0.2');
      try {
        await eventually(() => h.comet.counters().sockets === 2, 'the other IP admitted');
        assert.equal(other.destroyed, false);
      } finally {
        other.destroy();
      }
      a.close();
      await eventually(() => h.comet.counters().sockets === 0, 'sockets released');
      const again = await h.client('tcp', { key: 'again' });
      again.send(Op.Heartbeat);
      await again.nextWhere((f) => f.op === Op.HeartbeatReply);
      assert.equal(hitsOf(hits, 'connections_per_ip'), 1);
    });
  });

  it('newConnectionsPerSecond: a burst past the rate is refused; later sockets are accepted again', async () => {
    // The bucket runs on a manual clock: no token comes back until the test moves time.
    const clock = new ManualClock();
    await withComet(
      { newConnectionsPerSecond: 2 },
      async (h, hits) => {
        const first = await h.tcp();
        const second = await h.tcp();
        const third = await rawSocket(h.tcpPort);
        await closedByServer(third);
        assert.ok(hitsOf(hits, 'new_connections_rate') >= 1);
        first.close();
        second.close();
        // Tokens come back with time: half a second brings one at 2/s.
        clock.advance(500);
        const served = await h.tcp();
        await served.auth({ key: 'later' }, 1);
        served.send(Op.Heartbeat);
        await served.nextWhere((f) => f.op === Op.HeartbeatReply);
      },
      {},
      { clock },
    );
  });

  for (const transport of ['tcp', 'ws'] as const) {
    it(`upstreamFramesPerSecond (${transport}): a flood closes the connection; a client within the rate stays`, async () => {
      await withComet({ upstreamFramesPerSecond: 5, upstreamFramesBurst: 5 }, async (h, hits) => {
        const calm = await h.client(transport, { key: 'calm' });
        const flood = await h.client(transport, { key: 'flood' });
        const hb = encodeFrame(Op.Heartbeat, Buffer.alloc(0), 1, 2);
        if (transport === 'tcp') flood.sendRaw(Buffer.concat(Array.from({ length: 20 }, () => hb)));
        else for (let i = 0; i < 20; i++) flood.sendRaw(hb);
        await flood.closed;
        assert.equal(hitsOf(hits, 'upstream_frame_rate'), 1);
        await h.logic.waitFor('disconnect', (r) => r.key === 'flood');
        // The calm client used 1 of its 5 tokens for auth.
        for (let i = 0; i < 3; i++) {
          calm.send(Op.Heartbeat, '', 1, 10 + i);
          assert.equal((await calm.nextWhere((f) => f.op === Op.HeartbeatReply)).seq, 10 + i);
        }
        const next = await h.client(transport, { key: 'next' });
        next.send(Op.Heartbeat);
        await next.nextWhere((f) => f.op === Op.HeartbeatReply);
      });
    });

    it(`protocol.maxBody (${transport}): an oversized frame is refused and counted`, async () => {
      await withComet(
        {},
        async (h, hits) => {
          const c = await h.client(transport, { key: 'big' });
          c.send(Op.Heartbeat, Buffer.alloc(300));
          await c.closed;
          assert.equal(hitsOf(hits, 'client_frame_size'), 1);
          const ok = await h.client(transport, { key: 'small' });
          ok.send(Op.Heartbeat, Buffer.alloc(200));
          await ok.nextWhere((f) => f.op === Op.HeartbeatReply);
        },
        { protocol: { maxBody: 256 } },
      );
    });
  }

  it('hits are all counted, but logged once per limit per 10 s with the count', () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const hits = new LimitHits();
    const clock = new ManualClock();
    const log = new LimitLog(hits, pino({ level: 'info' }, sink), 'comet', clock);
    for (let i = 0; i < 100; i++) {
      log.hit('connections', { ip: '10.0.0.1' });
      clock.advance(99); // 9.9 s in all: still one line
    }
    log.hit('connections_per_ip', { ip: '10.0.0.2' });
    assert.deepEqual(hits.snapshot(), { connections: 100, connections_per_ip: 1 });
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        assert.deepEqual(
          lines.map((l) => [l.limit, l.hits, l.level]),
          [
            ['connections', 1, 40],
            ['connections_per_ip', 1, 40],
          ],
        );
        resolve();
      }),
    );
  });

  it('the next line for a limit comes 10 s after the last, with the hits since', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const clock = new ManualClock();
    const log = new LimitLog(undefined, pino({ level: 'info' }, sink), 'logic http', clock);
    log.hit('http_origin', {});
    clock.advance(9_999);
    for (let i = 0; i < 5; i++) log.hit('http_origin', {});
    clock.advance(1);
    log.hit('http_origin', { host: 'evil.test' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      lines.map((l) => [l.limit, l.hits, l.host, l.msg]),
      [
        ['http_origin', 1, undefined, 'logic http: limit http_origin reached'],
        ['http_origin', 6, 'evil.test', 'logic http: limit http_origin reached'],
      ],
    );
  });

  it('httpServer.maxBody: 413 with the envelope, counted, exported; smaller bodies pass', async () => {
    const tsim = await startEmbedded(
      buildConfig({
        env: { host: 'limits-http' },
        tcp: { bind: ['127.0.0.1:0'] },
        websocket: { bind: ['127.0.0.1:0'] },
        httpServer: { addr: '127.0.0.1:0', maxBody: 64 },
      }),
      silentLogger,
    );
    try {
      const api = `http://127.0.0.1:${tsim.addresses().http.port}`;
      const big = await fetch(`${api}/goim/push/all?operation=1000`, { method: 'POST', body: 'x'.repeat(65) });
      assert.equal(big.status, 413);
      const envelope = (await big.json()) as { code: number; message: string };
      assert.equal(envelope.code, -413);
      assert.match(envelope.message, /too large/);
      const small = await fetch(`${api}/goim/push/all?operation=1000`, { method: 'POST', body: 'x'.repeat(64) });
      assert.equal(small.status, 200);
      await small.arrayBuffer();
      assert.equal(tsim.metrics?.limits.snapshot().http_body_size, 1);
      const text = await (await fetch(`${api}/metrics`)).text();
      assert.match(text, /tsim_limit_hits_total\{limit="http_body_size"\} 1/);
    } finally {
      await tsim.stop();
    }
  });
});
