// The metrics listener of a distributed comet or job holds little whatever a client does:
// requests a connection pipelines without reading past httpServer.maxPipelined cut it
// (limit http_pipelined), /metrics is rendered once per metrics.renderInterval however many
// scrapes arrive, and at most metrics.maxConnections connections are open (http_connections).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { metricsServeOptions, serveMetrics, type MetricsServer, type MetricsSource } from '../../src/metrics/serve.js';
import { neverRead, pipelined, rawHttp } from '../support/raw-http.js';

/** A source that counts its renders; each is 16 KiB of text, like a comet's real page. */
function countingSource(): MetricsSource & { renders: number } {
  const text = `# a metric\n${'x'.repeat(16 * 1024)}\n`;
  const source = {
    renders: 0,
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    async metrics(): Promise<string> {
      source.renders++;
      await new Promise((r) => setImmediate(r));
      return text;
    },
  };
  return source;
}

async function withServer(
  input: ConfigInput,
  run: (port: number, source: ReturnType<typeof countingSource>, hits: LimitHits) => Promise<void>,
): Promise<void> {
  const source = countingSource();
  const hits = new LimitHits();
  const server: MetricsServer = await serveMetrics(source, '127.0.0.1:0', silentLogger, metricsServeOptions(configSchema.parse(input), hits));
  try {
    await run(server.address().port, source, hits);
  } finally {
    await server.close();
  }
}

describe('metrics listener: limits', () => {
  it('a connection pipelining more than httpServer.maxPipelined scrapes without reading is cut and counted', async () => {
    await withServer({ httpServer: { maxPipelined: 8 } }, async (port, source, hits) => {
      const floods = await Promise.all(Array.from({ length: 4 }, () => rawHttp(port)));
      try {
        for (const c of floods) {
          neverRead(c);
          // ~65 KB: 1,800 requests in one write.
          c.socket.write(pipelined(1800, '/metrics'));
        }
        await Promise.all(floods.map((c) => c.closed('pipelining connection')));
        assert.equal(hits.snapshot().http_pipelined, 4);
        // Each connection had at most 8 requests dispatched, and they shared renders.
        assert.ok(source.renders <= 4, `${source.renders} renders`);
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        assert.equal(res.status, 200);
        assert.match(await res.text(), /^# a metric/);
      } finally {
        for (const c of floods) c.socket.destroy();
      }
    });
  });

  it('up to httpServer.maxPipelined requests pipelined by a reading client are all answered', async () => {
    await withServer({ httpServer: { maxPipelined: 8 } }, async (port, _source, hits) => {
      const c = await rawHttp(port);
      c.socket.write(pipelined(8, '/metrics'));
      c.socket.end();
      await c.closed('reading client');
      assert.equal(c.received().match(/HTTP\/1\.1 200 OK/g)?.length, 8);
      assert.equal(hits.snapshot().http_pipelined, undefined);
    });
  });

  it('concurrent scrapes share one render within metrics.renderInterval', async () => {
    await withServer({ metrics: { renderInterval: '1h', maxConnections: 64 } }, async (port, source) => {
      const scrapes = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const c = await rawHttp(port);
          c.socket.end(pipelined(1, '/metrics'));
          await c.closed('scrape');
          return c.received();
        }),
      );
      for (const text of scrapes) assert.match(text, /^HTTP\/1\.1 200 OK/);
      assert.equal(source.renders, 1);
    });
  });

  it('with renderInterval "0", sequential scrapes render afresh', async () => {
    await withServer({ metrics: { renderInterval: '0' } }, async (port, source) => {
      for (let i = 0; i < 3; i++) await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.equal(source.renders, 3);
    });
  });

  it('connections past metrics.maxConnections are closed at accept and counted', async () => {
    await withServer(
      { metrics: { maxConnections: 2 }, httpServer: { headersTimeout: '60s', requestTimeout: '60s' } },
      async (port, _source, hits) => {
        const held = await Promise.all([rawHttp(port), rawHttp(port)]);
        try {
          for (const c of held) c.socket.write('GET /metrics HTTP/1.1\r\n');
          const over = await rawHttp(port);
          await over.closed('connection over metrics.maxConnections');
          assert.equal(over.received(), '');
          assert.equal(hits.snapshot().http_connections, 1);
        } finally {
          for (const c of held) c.socket.destroy();
        }
      },
    );
  });

  it('headers not received within httpServer.headersTimeout are answered 408 and counted', async () => {
    await withServer({ httpServer: { headersTimeout: '200ms', requestTimeout: '400ms' } }, async (port, _source, hits) => {
      const c = await rawHttp(port);
      c.socket.write('GET /metrics HTTP/1.1\r\n');
      await c.closed('slow headers');
      assert.match(c.received(), /^HTTP\/1\.1 408 /);
      assert.equal(hits.snapshot().http_request_timeout, 1);
    });
  });
});
