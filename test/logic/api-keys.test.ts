// Bearer API keys on logic's HTTP API: which routes need one, the 401 answer, constant-time
// matching, when `api.auth = "auto"` turns them on, and start-up errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { apiAuthRequired, apiKeyValues } from '../../src/config/logic-settings.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { ApiKeys, guardApi } from '../../src/logic/http/api-keys.js';
import { httpConfig, JSON_TYPE, request, startLogic, testConfig, type Running } from './fixtures.js';

const KEY = 'k3y-0123456789abcdef-ABCDEF';
const OTHER_KEY = 'second-key-0123456789';
const UNAUTHORIZED = '{"code":-401,"message":"missing or invalid API key"}';

type Api = Running;
const startApi = startLogic;

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

const PROTECTED: Array<[method: 'GET' | 'POST', path: string]> = [
  ['POST', '/goim/push/keys?operation=1000&keys=a'],
  ['POST', '/goim/push/mids?operation=1000&mids=1'],
  ['POST', '/goim/push/room?operation=1000&type=live&room=1'],
  ['POST', '/goim/push/all?operation=1000'],
  ['GET', '/goim/online/top?type=live&limit=10'],
  ['GET', '/goim/online/room?type=live&rooms=1'],
  ['GET', '/goim/online/total'],
  ['GET', '/goim/nodes/instances'],
];

describe('api keys: enforced (distributed wiring)', () => {
  let api: Api;
  let web: string;

  before(async () => {
    web = mkdtempSync(join(tmpdir(), 'tsim-web-'));
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>demo</title>');
    api = await startApi({ api: { keys: [KEY, OTHER_KEY] } }, { embedded: false, webRoots: [web] });
  });
  after(async () => {
    await api.stop();
    rmSync(web, { recursive: true, force: true });
  });
  afterEach(() => {
    api.queue.published.length = 0;
  });

  it('answers 401 with the goim envelope and WWW-Authenticate without a key or with a wrong one', async () => {
    const wrong: Array<Record<string, string>> = [
      {},
      bearer('wrong-key-0123456789abc'),
      bearer(KEY.slice(0, -1)),
      bearer(KEY + 'x'),
      { authorization: `Basic ${Buffer.from(`user:${KEY}`).toString('base64')}` },
      { authorization: KEY },
      { authorization: 'Bearer' },
      { 'x-api-key': KEY },
    ];
    for (const [method, path] of PROTECTED) {
      for (const headers of wrong) {
        const res = await request(api.base, path, { method, headers, body: method === 'POST' ? 'msg' : undefined });
        const what = `${method} ${path} ${JSON.stringify(headers)}`;
        assert.equal(res.status, 401, what);
        assert.equal(res.type, JSON_TYPE, what);
        assert.equal(res.body, UNAUTHORIZED, what);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer', what);
      }
    }
    assert.equal(api.queue.published.length, 0, 'nothing was pushed');
    assert.equal(api.http.apiAuthStats().enabled, true);
    assert.equal(api.http.apiAuthStats().rejected, PROTECTED.length * wrong.length);
  });

  it('serves every protected route with either key (scheme case-insensitive)', async () => {
    for (const [method, path] of PROTECTED) {
      for (const headers of [bearer(KEY), bearer(OTHER_KEY), { authorization: `bearer ${KEY}` }]) {
        const res = await request(api.base, path, { method, headers, body: method === 'POST' ? 'msg' : undefined });
        assert.equal(res.status, 200, `${method} ${path}: ${res.body}`);
        assert.match(res.body, /^\{"code":0,/);
      }
    }
    assert.equal(api.queue.published.length, 2 * 3, 'room and all pushes were published with a key');
  });

  it('leaves /goim/nodes/weighted and the demo page open', async () => {
    const nodes = await request(api.base, '/goim/nodes/weighted?platform=web');
    assert.equal(nodes.status, 200);
    assert.match(nodes.body, /^\{"code":0,"message":"","data":\{"domain":/);
    const page = await request(api.base, '/');
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>demo<\/title>/);
    assert.equal((await request(api.base, '/missing.js')).status, 404);
  });

  it('cannot be bypassed by spelling the path differently', async () => {
    const q = '?operation=1&type=live&room=1';
    const cases: Array<[path: string, status: number]> = [
      // The router decodes this to /goim/push/room: a check on the raw path would miss it.
      [`/goim/%70ush/room${q}`, 401],
      // gin's trailing-slash redirect, which pushes nothing.
      [`/goim/push/room/${q}`, 307],
      [`/GOIM/push/room${q}`, 404],
      [`//goim/push/room${q}`, 404],
      [`/goim/push/room;x${q}`, 404],
    ];
    for (const [path, status] of cases) {
      assert.equal((await request(api.base, path, { method: 'POST', body: 'x' })).status, status, path);
    }
    assert.equal(api.queue.published.length, 0);
  });

  it('refuses a request before reading its body', async () => {
    const big = 'x'.repeat(2 << 20); // beyond httpServer.maxBody: a 413 would mean it was read
    const res = await request(api.base, '/goim/push/all?operation=1', { method: 'POST', body: big });
    assert.equal(res.status, 401);
  });
});

describe('api keys: when api.auth turns them on', () => {
  const running: Api[] = [];
  afterEach(async () => {
    for (const a of running.splice(0)) await a.stop();
  });
  const start = async (input: ConfigInput, embedded?: boolean) => {
    const a = await startApi(input, { embedded });
    running.push(a);
    return a;
  };
  const push = (a: Api, headers: Record<string, string> = {}) =>
    request(a.base, '/goim/push/room?operation=1000&type=live&room=1', { method: 'POST', body: 'hi', headers });

  it('auto: off for the embedded server on loopback (the demo page pushes without a key)', async () => {
    const a = await start({});
    assert.equal((await push(a)).status, 200);
    assert.equal(a.http.apiAuthStats().enabled, false);
  });

  it('auto: on for the embedded server on loopback once keys are configured', async () => {
    const a = await start({ api: { keys: [KEY] } });
    assert.equal((await push(a)).status, 401);
    assert.equal((await push(a, bearer(KEY))).status, 200);
  });

  it('auto: on in distributed wiring, even on loopback; a start-up error without keys', async () => {
    const a = await start({ api: { keys: [KEY] } }, false);
    assert.equal((await push(a)).status, 401);
    await assert.rejects(
      start({}, false),
      /api\.auth is on but api\.keys is empty: api\.auth = "auto" turns it on because logic runs distributed; set api\.keys/,
    );
  });

  it('auto decides by address and wiring', () => {
    const cases: Array<[addr: string, embedded: boolean, keys: number, required: boolean]> = [
      ['127.0.0.1:3111', true, 0, false],
      ['127.0.0.2:3111', true, 0, false],
      ['[::1]:3111', true, 0, false],
      ['localhost:3111', true, 0, false],
      [':3111', true, 0, true],
      ['0.0.0.0:3111', true, 0, true],
      ['[::]:3111', true, 0, true],
      ['10.0.0.5:3111', true, 0, true],
      ['127.0.0.1:3111', false, 0, true],
      ['127.0.0.1:3111', true, 1, true],
    ];
    for (const [addr, embedded, keys, required] of cases) {
      assert.equal(apiAuthRequired('auto', addr, embedded, keys), required, `${addr} embedded=${embedded} keys=${keys}`);
    }
    assert.equal(apiAuthRequired('on', '127.0.0.1:1', true), true);
    assert.equal(apiAuthRequired('off', ':3111', false, 2), false);
  });

  it('on: enforced on loopback too; start-up error without keys', async () => {
    const a = await start({ api: { auth: 'on', keys: [KEY] } });
    assert.equal((await push(a)).status, 401);
    assert.equal((await push(a, bearer(KEY))).status, 200);
    await assert.rejects(start({ api: { auth: 'on' } }), /^ConfigError: api\.auth is on but api\.keys is empty$/);
  });

  it('off: open even in distributed wiring', async () => {
    const a = await start({ api: { auth: 'off', keys: [KEY] } }, false);
    assert.equal((await push(a)).status, 200);
  });

  it('embedded beyond loopback without keys is a start-up error naming the fixes', () => {
    const config = testConfig({ httpServer: { addr: ':0' } });
    assert.throws(
      () => guardApi(Fastify(), { access: httpConfig(config, true).api, log: silentLogger }),
      /api\.auth is on but api\.keys is empty: api\.auth = "auto" turns it on because the HTTP API listens beyond loopback \(httpServer\.addr ":0"\); set api\.keys, bind httpServer\.addr to 127\.0\.0\.1, or set api\.auth = "off"/,
    );
  });
});

describe('api keys: /metrics', () => {
  const withMetrics = async (protectMetrics: boolean) => {
    const app = Fastify();
    guardApi(app, { access: httpConfig(testConfig({ api: { auth: 'on', keys: [KEY], protectMetrics } }), true).api, log: silentLogger });
    app.get('/metrics', async () => 'tsim_up 1\n');
    await app.ready();
    return app;
  };

  it('is open unless api.protectMetrics', async () => {
    const open = await withMetrics(false);
    assert.equal((await open.inject({ url: '/metrics' })).statusCode, 200);
    await open.close();
    const guarded = await withMetrics(true);
    assert.equal((await guarded.inject({ url: '/metrics' })).statusCode, 401);
    assert.equal((await guarded.inject({ url: '/metrics', headers: bearer(KEY) })).statusCode, 200);
    await guarded.close();
  });
});

describe('api keys: configured keys', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsim-keys-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // The keys as configured, read and checked as the wiring does.
  const configured = (keys: string[]) => new ApiKeys(apiKeyValues(keys));

  it('refuses short keys and keys that cannot be bearer tokens', () => {
    assert.throws(() => configured([]), /api\.auth is on but api\.keys is empty/);
    assert.throws(() => configured([KEY, 'short']), /api\.keys\[1\]: must be at least 16 characters/);
    assert.throws(() => configured(['has spaces in it, sadly']), /api\.keys\[0\]: must be a bearer token/);
  });

  it('reads "@file" keys without their trailing newline', () => {
    const file = join(dir, 'key');
    writeFileSync(file, `${KEY}\n`);
    const keys = configured([`@${file}`]);
    assert.equal(keys.accepts(`Bearer ${KEY}`), true);
    assert.throws(() => configured([`@${join(dir, 'missing')}`]), /api\.keys\[0\]: cannot read/);
  });

  it('matches exact keys only', () => {
    const keys = configured([KEY, OTHER_KEY]);
    assert.equal(keys.accepts(`Bearer ${KEY}`), true);
    assert.equal(keys.accepts(`Bearer   ${OTHER_KEY}  `), true);
    for (const h of [undefined, '', 'Bearer ', `Bearer ${KEY} extra`, `Bearer ${KEY.toUpperCase()}`, `Token ${KEY}`, `Bearer ${KEY}\u0000`]) {
      assert.equal(keys.accepts(h), false, JSON.stringify(h));
    }
  });
});
