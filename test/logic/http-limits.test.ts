// Logic's HTTP API holds no connection longer than its deadlines allow, however slowly a
// client sends: headers (httpServer.headersTimeout), whole requests (requestTimeout), a body
// nobody will read after a 401; and at most httpServer.maxConnections at once. Every
// refusal is counted; keyed pushes still get through afterwards.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import type { ConfigInput } from '../../src/config/schema.js';
import { request, startLogic, type Running } from './fixtures.js';

const KEY = 'k3y-0123456789abcdef-ABCDEF';
/** Far beyond the deadlines used here: a socket still open then was never going to be closed. */
const CLOSE_WAIT_MS = 15_000;

type Api = Running;
const startApi = (input: ConfigInput): Promise<Api> => startLogic(input, { embedded: false });

async function withApi(input: ConfigInput, run: (api: Api) => Promise<void>): Promise<void> {
  const api = await startApi({ api: { keys: [KEY] }, ...input });
  try {
    await run(api);
  } finally {
    await api.stop();
  }
}

/** A raw connection that collects what the server sends. */
interface Raw {
  socket: Socket;
  received(): string;
  /** Resolves when the server closed it; rejects if it is still open after CLOSE_WAIT_MS. */
  closed(what: string): Promise<void>;
}

function raw(port: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    const done = new Promise<void>((r) => socket.once('close', () => r()));
    const closed = (what: string): Promise<void> =>
      new Promise((res, rej) => {
        const t = setTimeout(
          () => rej(new Error(`${what}: still open ${CLOSE_WAIT_MS} ms after connecting (received ${JSON.stringify(text)})`)),
          CLOSE_WAIT_MS,
        );
        void done.then(() => {
          clearTimeout(t);
          res();
        });
      });
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

/** Writes `chunk()` every 50 ms until the socket closes. */
function trickle(s: Socket, chunk: () => string): void {
  const t = setInterval(() => {
    if (s.destroyed) clearInterval(t);
    else s.write(chunk());
  }, 50);
  s.once('close', () => clearInterval(t));
}

const pushPath = '/goim/push/room?operation=1000&type=live&room=1';

async function keyedPush(base: string): Promise<void> {
  const res = await request(base, pushPath, { method: 'POST', body: 'hello', headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(res.status, 200, res.body);
}

describe('http api: deadlines and connection cap', () => {
  it('a request without a key is answered 401 and its connection closed, not its trickled body read', async () => {
    // Generous timeouts: only the early close can end these connections within the test.
    await withApi({ httpServer: { headersTimeout: '60s', requestTimeout: '60s' } }, async (api) => {
      const clients = await Promise.all(Array.from({ length: 20 }, () => raw(api.port)));
      for (const c of clients) {
        c.socket.write(`POST ${pushPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\n\r\nx`);
        trickle(c.socket, () => 'x');
      }
      await Promise.all(clients.map((c) => c.closed('unauthenticated trickling push')));
      for (const c of clients) assert.match(c.received(), /^HTTP\/1\.1 401 /);
      await keyedPush(api.base);
      assert.equal(api.queue.published.length, 1);
    });
  });

  it('a keyed body trickled past httpServer.requestTimeout is cut with 408 and counted', async () => {
    await withApi({ httpServer: { headersTimeout: '200ms', requestTimeout: '400ms' } }, async (api) => {
      const c = await raw(api.port);
      c.socket.write(`POST ${pushPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Length: 1000000\r\n\r\nx`);
      trickle(c.socket, () => 'x');
      await c.closed('keyed trickling push');
      assert.match(c.received(), /^HTTP\/1\.1 408 /);
      assert.equal(api.hits.snapshot().http_request_timeout, 1);
      assert.equal(api.queue.published.length, 0);
      await keyedPush(api.base);
    });
  });

  it('headers trickled past httpServer.headersTimeout, and a silent connection, are cut and counted', async () => {
    await withApi({ httpServer: { headersTimeout: '300ms', requestTimeout: '60s' } }, async (api) => {
      const slow = await raw(api.port);
      slow.socket.write(`GET /goim/online/total HTTP/1.1\r\nHost: 127.0.0.1\r\n`);
      let n = 0;
      trickle(slow.socket, () => `X-Slow-${n++}: 1\r\n`);
      const silent = await raw(api.port);
      await Promise.all([slow.closed('trickled headers'), silent.closed('silent connection')]);
      assert.equal(api.hits.snapshot().http_request_timeout, 2);
      await keyedPush(api.base);
    });
  });

  it('connections past httpServer.maxConnections are closed at accept and counted; the API recovers', async () => {
    // All from one address: the per-address share (httpServer.maxConnectionsPerIp) is off here.
    await withApi({ httpServer: { maxConnections: 3, maxConnectionsPerIp: 0, headersTimeout: '60s', requestTimeout: '60s' } }, async (api) => {
      const held = await Promise.all(Array.from({ length: 3 }, () => raw(api.port)));
      for (const c of held) c.socket.write('GET /goim/online/total HTTP/1.1\r\n');
      const over = await raw(api.port);
      await over.closed('connection over maxConnections');
      assert.equal(over.received(), '');
      assert.equal(api.hits.snapshot().http_connections, 1);
      for (const c of held) c.socket.destroy();
      // The server sees the closes a little later; until then a push may be dropped too.
      let pushed = false;
      const end = Date.now() + 10_000;
      while (!pushed) {
        if (Date.now() > end) throw new Error('the API never accepted a keyed push again');
        pushed = await keyedPush(api.base).then(
          () => true,
          () => false,
        );
      }
      assert.equal(api.queue.published.length, 1);
    });
  });
});
