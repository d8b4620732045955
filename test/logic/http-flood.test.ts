// Logic's HTTP API under floods that stay below httpServer.maxConnections: connections that
// pipeline requests without reading their answers (httpServer.maxPipelined, limit
// http_pipelined), scrapes of /metrics (rendered once per metrics.renderInterval), and one
// address holding many slow-header connections (httpServer.maxConnectionsPerIp, limit
// http_connections_per_ip). Keyed pushes from elsewhere keep going through.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { MemoryRegistry } from '../../src/adapters/memory/registry.js';
import { MemorySessionStore } from '../../src/adapters/memory/session-store.js';
import { LimitLog } from '../../src/comet/limit-log.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { applyHttpLimits } from '../../src/http-limits.js';
import { silentLogger } from '../../src/log.js';
import { LogicHttpServer } from '../../src/logic/http/http-server.js';
import { Logic } from '../../src/logic/logic.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { createMetricsRegistry } from '../../src/metrics/registry.js';
import type { MetricsSource } from '../../src/metrics/serve.js';
import { eventually } from '../support/eventually.js';
import { neverRead, pipelined, rawHttp } from '../support/raw-http.js';
import { httpConfig, logicConfig, RecordingQueue, request, testConfig } from './fixtures.js';

const KEY = 'k3y-0123456789abcdef-ABCDEF';

interface Api {
  port: number;
  base: string;
  hits: LimitHits;
  queue: RecordingQueue;
  /** Renders of /metrics so far. */
  renders(): number;
}

async function withApi(input: ConfigInput, run: (api: Api) => Promise<void>): Promise<void> {
  // Generous deadlines: only the limits under test can end these connections in time.
  const config = testConfig({ api: { keys: [KEY] }, ...input, httpServer: { headersTimeout: '60s', requestTimeout: '60s', ...input.httpServer } });
  const queue = new RecordingQueue();
  const store = new MemorySessionStore();
  const registry = new MemoryRegistry();
  const logic = new Logic({ ...logicConfig(config), store, queue, registry, log: silentLogger });
  await logic.start();
  const hits = new LimitHits();
  const real = createMetricsRegistry({ limits: hits });
  let renders = 0;
  const metrics: MetricsSource = {
    contentType: real.contentType,
    metrics: () => {
      renders++;
      return real.metrics();
    },
  };
  const http = new LogicHttpServer({ ...httpConfig(config, false), logic, log: silentLogger, limits: hits, metrics });
  await http.listen();
  const port = http.address().port;
  try {
    await run({ port, base: `http://127.0.0.1:${port}`, hits, queue, renders: () => renders });
  } finally {
    await http.close();
    real.close();
    await logic.close();
    await store.close();
    await registry.close();
  }
}

const pushPath = '/goim/push/room?operation=1000&type=live&room=1';

async function keyedPush(base: string): Promise<void> {
  const res = await request(base, pushPath, { method: 'POST', body: 'hello', headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 200, res.body);
}

describe('applyHttpLimits', () => {
  it('stops parsing the rest of a pipelined chunk once its connection is cut', async () => {
    const server = createServer((_req, res) => setTimeout(() => res.end('x'), 1000));
    const hits = new LimitHits();
    applyHttpLimits(server, { maxPipelined: 8, maxConnectionsPerIp: 0 }, new LimitLog(hits, silentLogger, 'test'));
    // Every request Node makes of the bytes, before the limits see it.
    let emitted = 0;
    server.prependListener('request', () => emitted++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const c = await rawHttp((server.address() as AddressInfo).port);
      c.socket.write(pipelined(1800, '/'));
      await c.closed('pipelining connection');
      assert.equal(hits.snapshot().http_pipelined, 1);
      // The ninth request cut the connection; the remaining 1,791 were never made requests.
      assert.equal(emitted, 9);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('http api: floods below the connection cap', () => {
  it('connections pipelining 1,800 requests in one write without reading are cut at httpServer.maxPipelined and counted', async () => {
    await withApi({}, async (api) => {
      // 20 keep-alive connections, each ~65 KB of pipelined requests it never reads the answers to:
      // half scrape /metrics, half a cheap open route.
      const floods = await Promise.all(Array.from({ length: 20 }, () => rawHttp(api.port)));
      try {
        floods.forEach((c, i) => {
          neverRead(c);
          c.socket.write(pipelined(1800, i % 2 === 0 ? '/metrics' : '/goim/nodes/weighted'));
        });
        await Promise.all(floods.map((c) => c.closed('pipelining connection')));
        assert.equal(api.hits.snapshot().http_pipelined, 20);
        // At most httpServer.maxPipelined (8) requests of each reached a handler, and scrapes share renders.
        assert.ok(api.renders() <= 10, `${api.renders()} renders of /metrics`);
        await keyedPush(api.base);
        assert.equal(api.queue.published.length, 1);
      } finally {
        for (const c of floods) c.socket.destroy();
      }
    });
  });

  it('a reading client pipelining up to httpServer.maxPipelined requests gets every answer', async () => {
    await withApi({ httpServer: { maxPipelined: 4 } }, async (api) => {
      const c = await rawHttp(api.port);
      c.socket.end(pipelined(4, '/goim/nodes/weighted'));
      await c.closed('reading client');
      assert.equal(c.received().match(/HTTP\/1\.1 200 OK/g)?.length, 4);
      assert.equal(api.hits.snapshot().http_pipelined, undefined);
    });
  });

  it('concurrent scrapes of /metrics share one render within metrics.renderInterval', async () => {
    await withApi({ metrics: { renderInterval: '1h' } }, async (api) => {
      const texts = await Promise.all(Array.from({ length: 30 }, async () => (await request(api.base, '/metrics')).body));
      for (const t of texts) assert.match(t, /^# HELP /);
      assert.equal(api.renders(), 1);
    });
  });

  it('one address holding slow-header connections gets httpServer.maxConnectionsPerIp of them; keyed pushes from another go through', async () => {
    // 20 connections, a quarter (5) per address by default.
    await withApi({ httpServer: { maxConnections: 20 } }, async (api) => {
      // 30 sockets from 127.0.0.2 that send only a request line, each reopened 5 ms after it closes.
      let stopped = false;
      const open = new Set<Socket>();
      const hold = (): void => {
        if (stopped) return;
        const s = connect({ port: api.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
        open.add(s);
        s.on('error', () => {});
        s.once('connect', () => s.write('GET / HTTP/1.1\r\n'));
        s.once('close', () => {
          open.delete(s);
          setTimeout(hold, 5);
        });
      };
      for (let i = 0; i < 30; i++) hold();
      try {
        await eventually(() => {
          const h = api.hits.snapshot();
          return (h.http_connections_per_ip ?? 0) + (h.http_connections ?? 0) >= 30;
        }, 'the flood to be refused');
        for (let i = 0; i < 10; i++) await keyedPush(api.base);
        assert.equal(api.queue.published.length, 10);
        assert.ok((api.hits.snapshot().http_connections_per_ip ?? 0) >= 30);
      } finally {
        stopped = true;
        for (const s of open) s.destroy();
      }
    });
  });
});
