// A keyless API (embedded on loopback) refuses what a browser page could send it: a
// cross-site request (Origin of another site, Origin "null", Sec-Fetch-Site: cross-site) and
// a request for a host name it does not know (DNS rebinding). curl-like clients, the demo
// page it serves itself, and configured hosts and origins keep working; with API keys the
// check is not needed (a browser cannot add the Authorization header cross-site unasked).
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { ConfigInput } from '../../src/config/schema.js';
import { startLogic, type Running } from './fixtures.js';

const KEY = 'k3y-0123456789abcdef-ABCDEF';

type Api = Running;
const startApi = (input: ConfigInput, embedded: boolean): Promise<Api> => startLogic(input, { embedded });

interface Answer {
  status: number;
  body: string;
}

/** A request with exactly these headers (Host included), as a browser or curl would send it. */
function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, setHost: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const PUSH = '/goim/push/room?operation=1000&type=live&room=1';

describe('keyless API: Origin and Host', () => {
  let api: Api;
  let own: string;
  const push = (headers: Record<string, string>) => send(api.port, 'POST', PUSH, headers, 'hi');

  before(async () => {
    api = await startApi({ httpServer: { allowedHosts: ['push.internal'], allowedOrigins: ['https://admin.example.com'] } }, true);
    own = `127.0.0.1:${api.port}`;
  });
  after(async () => {
    await api?.stop();
  });

  it('curl (no Origin) and the demo page (its own origin) push', async () => {
    assert.equal((await push({ host: own })).status, 200);
    assert.equal((await push({ host: `localhost:${api.port}` })).status, 200);
    assert.equal((await push({ host: own, origin: `http://${own}`, 'sec-fetch-site': 'same-origin' })).status, 200);
    assert.equal((await push({ host: `[::1]:${api.port}` })).status, 200);
  });

  it('a cross-site page is refused with 403 and a reason, and counted', async () => {
    const before = api.hits.snapshot().http_origin ?? 0;
    const published = api.queue.published.length;
    for (const origin of ['http://evil.example', 'null', `http://localhost:${api.port}`]) {
      const res = await push({ host: own, origin, 'content-type': 'text/plain' });
      assert.equal(res.status, 403, origin);
      const body = JSON.parse(res.body) as { code: number; message: string };
      assert.equal(body.code, -403);
      assert.match(body.message, /cross-site request from origin .* refused/);
    }
    // A read without Origin that the browser marks cross-site.
    const read = await send(api.port, 'GET', '/goim/online/total', { host: own, 'sec-fetch-site': 'cross-site' });
    assert.equal(read.status, 403);
    assert.equal(api.queue.published.length, published);
    assert.equal(api.hits.snapshot().http_origin, before + 4);
  });

  it('a host name that is not loopback, an IP or configured is refused (DNS rebinding)', async () => {
    const res = await push({ host: `rebind.evil.example:${api.port}`, origin: `http://rebind.evil.example:${api.port}` });
    assert.equal(res.status, 403);
    assert.match((JSON.parse(res.body) as { message: string }).message, /Host "rebind\.evil\.example:\d+" is not a loopback name/);
    const read = await send(api.port, 'GET', '/goim/online/total', { host: 'rebind.evil.example' });
    assert.equal(read.status, 403);
  });

  it('configured hosts and origins pass', async () => {
    assert.equal((await push({ host: 'push.internal' })).status, 200);
    assert.equal((await push({ host: own, origin: 'https://admin.example.com' })).status, 200);
  });

  it('open routes check the Host, not the Origin: a rebinding page reads nothing, the demo page and /metrics included', async () => {
    const open = ['/goim/nodes/weighted?platform=web', '/', '/index.html', '/metrics', '/no/such/route'];
    for (const path of open) {
      const res = await send(api.port, 'GET', path, { host: `rebind.evil.example:${api.port}` });
      assert.equal(res.status, 403, path);
      assert.match((JSON.parse(res.body) as { message: string }).message, /Host "rebind\.evil\.example:\d+" is not a loopback name/);
    }
    for (const host of [own, `localhost:${api.port}`, `[::1]:${api.port}`, 'push.internal']) {
      const res = await send(api.port, 'GET', '/goim/nodes/weighted?platform=web', { host, origin: 'http://evil.example' });
      assert.equal(res.status, 200, host);
    }
  });

  it('a Host that URL parsing would read another host out of is refused', async () => {
    for (const host of [
      `evil.example@127.0.0.1:${api.port}`,
      'evil.example@localhost',
      '127.0.0.1/evil.example',
      '127.0.0.1#evil.example',
      '127.0.0.1?x',
      '127.0.0.1\\evil.example',
    ]) {
      assert.equal((await push({ host })).status, 403, host);
      assert.equal((await send(api.port, 'GET', '/', { host })).status, 403, host);
    }
  });
});

describe('keyed API: no Origin check', () => {
  let api: Api;
  before(async () => {
    api = await startApi({ api: { keys: [KEY] } }, false);
  });
  after(async () => {
    await api?.stop();
  });

  it('a keyed request from any origin and host is served', async () => {
    const res = await send(api.port, 'POST', PUSH, { host: 'anything.example', origin: 'http://evil.example', authorization: `Bearer ${KEY}` }, 'hi');
    assert.equal(res.status, 200);
  });
});
