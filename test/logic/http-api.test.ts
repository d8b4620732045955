// goim's HTTP API over real HTTP: statuses, content types and bodies byte for byte
// (docs/http-api.md, docs/goim-test-vectors.md#http-exchanges), and what reaches the queue.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PushType } from '../../src/ports/index.js';
import { comet, JSON_TYPE, request, startLogic, TEXT_TYPE, type Running } from './fixtures.js';
import { eventually } from '../support/eventually.js';

const enc = (s: string) => new TextEncoder().encode(s);
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** A request with a path fetch would normalise, over node:http. */
function raw(
  base: string,
  method: string,
  path: string,
): Promise<{ status: number; type: string | undefined; body: string; location: string | undefined }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          type: res.headers['content-type'],
          body: Buffer.concat(chunks).toString('utf8'),
          location: res.headers.location,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('http: push endpoints', () => {
  let s: Running;
  before(async () => {
    s = await startLogic();
    await s.logic.connect({ server: 'comet01', cookie: '', token: enc('{"mid":123,"key":"m123"}') });
    await s.logic.connect({ server: 'comet02', cookie: '', token: enc('{"mid":123,"key":"m123b"}') });
    await s.logic.connect({ server: 'comet01', cookie: '', token: enc('{"key":"k1"}') });
    await s.logic.connect({ server: 'comet02', cookie: '', token: enc('{"key":"k2"}') });
  });
  after(() => s.stop());

  function take() {
    return s.queue.published.splice(0);
  }

  test('push/mids: curl-style form body delivered raw, one message per comet', async () => {
    const r = await request(s.base, '/goim/push/mids?operation=1000&mids=123', { method: 'POST', body: 'mid message', headers: FORM });
    assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, '{"code":0,"message":""}']);
    assert.deepEqual(take(), [
      { type: PushType.PUSH, operation: 1000, speed: 0, server: 'comet01', room: '', keys: ['m123'], msg: Buffer.from('mid message') },
      { type: PushType.PUSH, operation: 1000, speed: 0, server: 'comet02', room: '', keys: ['m123b'], msg: Buffer.from('mid message') },
    ]);
  });

  test('push/mids with no online mid or no mids at all still succeeds', async () => {
    for (const path of ['/goim/push/mids?operation=1000&mids=999', '/goim/push/mids?operation=1000', '/goim/push/mids']) {
      const r = await request(s.base, path, { method: 'POST', body: 'x' });
      assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, '{"code":0,"message":""}'], path);
    }
    assert.deepEqual(take(), []);
  });

  test('push/keys groups keys by comet; a form-encoded body is not decoded', async () => {
    const body = 'a=b&c=%20+d';
    const r = await request(s.base, '/goim/push/keys?operation=1001&keys=k1&keys=k2&keys=gone&keys=m123', {
      method: 'POST',
      body,
      headers: FORM,
    });
    assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, '{"code":0,"message":""}']);
    assert.deepEqual(take(), [
      { type: PushType.PUSH, operation: 1001, speed: 0, server: 'comet01', room: '', keys: ['k1', 'm123'], msg: Buffer.from(body) },
      { type: PushType.PUSH, operation: 1001, speed: 0, server: 'comet02', room: '', keys: ['k2'], msg: Buffer.from(body) },
    ]);
  });

  test('push/keys without keys: 200 with code -400 and a reason', async () => {
    const r = await request(s.base, '/goim/push/keys?operation=1000', { method: 'POST', body: 'x' });
    assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, '{"code":-400,"message":"keys required"}']);
    assert.deepEqual(take(), []);
  });

  test('push/room with a JSON body publishes one ROOM message', async () => {
    const r = await request(s.base, '/goim/push/room?operation=1000&type=test&room=1', {
      method: 'POST',
      body: '{"test":1}',
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, '{"code":0,"message":""}']);
    const pushed = take();
    assert.equal(pushed.length, 1);
    // A room push also carries a message id and its accept time (docs/history.md#the-queue-message).
    const { id, time, ...rest } = pushed[0];
    assert.match(id ?? '', /^[A-Za-z0-9_-]{22}$/);
    assert.equal(typeof time, 'number');
    assert.deepEqual(rest, {
      type: PushType.ROOM,
      operation: 1000,
      speed: 0,
      server: '',
      room: 'test://1',
      keys: [],
      msg: Buffer.from('{"test":1}'),
    });
  });

  test('push/all publishes one BROADCAST message with its speed', async () => {
    let r = await request(s.base, '/goim/push/all?operation=1000', { method: 'POST', body: 'broadcast message' });
    assert.deepEqual([r.status, r.body], [200, '{"code":0,"message":""}']);
    r = await request(s.base, '/goim/push/all?operation=1002&speed=100', { method: 'POST', body: 'b' });
    assert.deepEqual([r.status, r.body], [200, '{"code":0,"message":""}']);
    assert.deepEqual(take(), [
      { type: PushType.BROADCAST, operation: 1000, speed: 0, server: '', room: '', keys: [], msg: Buffer.from('broadcast message') },
      { type: PushType.BROADCAST, operation: 1002, speed: 100, server: '', room: '', keys: [], msg: Buffer.from('b') },
    ]);
  });

  test('bodies arrive byte for byte whatever the Content-Type: binary, none, bogus, empty, chunked', async () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const sends: Array<[RequestInit, Uint8Array]> = [
      [{ body: all }, all],
      [{ body: all, headers: { 'content-type': 'application/octet-stream' } }, all],
      [{ body: 'x', headers: { 'content-type': '!!!' } }, enc('x')],
      [{ body: '{bad json', headers: { 'content-type': 'application/json; charset=utf-8' } }, enc('{bad json')],
      [{ body: 'a=%zz', headers: { 'content-type': 'multipart/form-data; boundary=x' } }, enc('a=%zz')],
      [{}, new Uint8Array(0)],
      [
        {
          body: new ReadableStream({
            start(c) {
              c.enqueue(enc('chunk1 '));
              c.enqueue(enc('chunk2'));
              c.close();
            },
          }),
          duplex: 'half',
        } as RequestInit,
        enc('chunk1 chunk2'),
      ],
    ];
    for (const [init, expected] of sends) {
      const r = await request(s.base, '/goim/push/room?operation=1&type=t&room=r', { method: 'POST', ...init });
      assert.equal(r.status, 200, r.body);
      const [msg] = take();
      assert.deepEqual(new Uint8Array(msg.msg), expected);
    }
  });

  test('binding errors: HTTP 400, text/plain, goim texts', async () => {
    const cases: Array<[string, string]> = [
      ['/goim/push/room?type=live&room=1000', `{"code":-400,"message":"Key: 'Op' Error:Field validation for 'Op' failed on the 'required' tag"}`],
      ['/goim/push/mids?operation=abc&mids=1', '{"code":-400,"message":"strconv.ParseInt: parsing \\"abc\\": invalid syntax"}'],
      ['/goim/push/mids?operation=1&mids=1&mids=x', '{"code":-400,"message":"strconv.ParseInt: parsing \\"x\\": invalid syntax"}'],
      [
        '/goim/push/mids?mids=9223372036854775808',
        '{"code":-400,"message":"strconv.ParseInt: parsing \\"9223372036854775808\\": value out of range"}',
      ],
      ['/goim/push/keys?operation=2147483648&keys=a', '{"code":-400,"message":"strconv.ParseInt: parsing \\"2147483648\\": value out of range"}'],
      ['/goim/push/all?operation=0', `{"code":-400,"message":"Key: 'Op' Error:Field validation for 'Op' failed on the 'required' tag"}`],
      ['/goim/push/all?operation=1&speed=1.5', '{"code":-400,"message":"strconv.ParseInt: parsing \\"1.5\\": invalid syntax"}'],
      [
        '/goim/push/room?operation=',
        `{"code":-400,"message":"Key: 'Op' Error:Field validation for 'Op' failed on the 'required' tag\\nKey: 'Type' Error:Field validation for 'Type' failed on the 'required' tag\\nKey: 'Room' Error:Field validation for 'Room' failed on the 'required' tag"}`,
      ],
      // Go's JSON escaping of < > &
      ['/goim/push/mids?operation=%3C%26%3E', '{"code":-400,"message":"strconv.ParseInt: parsing \\"\\u003c\\u0026\\u003e\\": invalid syntax"}'],
    ];
    for (const [path, body] of cases) {
      const r = await request(s.base, path, { method: 'POST', body: 'x', headers: FORM });
      assert.deepEqual([r.status, r.type, r.body], [400, TEXT_TYPE, body], path);
    }
    assert.deepEqual(take(), []);
  });

  test('queue failures: 200 with -500 and the reason', async () => {
    s.queue.failWith = new Error('queue unavailable');
    try {
      const cases: Array<[string, string]> = [
        ['/goim/push/keys?operation=1&keys=k1', '{"code":-500,"message":"queue unavailable"}'],
        ['/goim/push/mids?operation=1&mids=123', '{"code":-500,"message":"queue unavailable"}'],
        ['/goim/push/room?operation=1&type=t&room=r', '{"code":-500,"message":"queue unavailable"}'],
        ['/goim/push/all?operation=1', '{"code":-500,"message":"queue unavailable"}'],
      ];
      for (const [path, body] of cases) {
        const r = await request(s.base, path, { method: 'POST', body: 'x' });
        assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, body], path);
      }
    } finally {
      s.queue.failWith = undefined;
    }
  });
});

describe('http: body limit', () => {
  let s: Running;
  before(async () => {
    s = await startLogic({ httpServer: { maxBody: 32 } });
  });
  after(() => s.stop());

  test('a body of exactly maxBody is accepted', async () => {
    const r = await request(s.base, '/goim/push/all?operation=1', { method: 'POST', body: 'x'.repeat(32) });
    assert.deepEqual([r.status, r.body], [200, '{"code":0,"message":""}']);
    assert.equal(s.queue.published.length, 1);
  });

  test('a larger body gets 413 with the envelope, declared or chunked', async () => {
    const expected = [413, JSON_TYPE, '{"code":-413,"message":"request body too large (limit 32 bytes)"}'];
    let r = await request(s.base, '/goim/push/all?operation=1', { method: 'POST', body: 'x'.repeat(33), headers: FORM });
    assert.deepEqual([r.status, r.type, r.body], expected);
    r = await request(s.base, '/goim/push/room?operation=1&type=a&room=b', {
      method: 'POST',
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 10; i++) c.enqueue(enc('0123456789'));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.deepEqual([r.status, r.type, r.body], expected);
    assert.equal(s.queue.published.length, 1);
  });
});

describe('http: online and nodes endpoints', () => {
  let s: Running;
  before(async () => {
    s = await startLogic({ node: { wssPort: 3103 } });
  });
  after(() => s.stop());

  test('nodes/instances before any comet is known: data null', async () => {
    const r = await request(s.base, '/goim/nodes/instances');
    assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, '{"code":0,"message":"","data":null}']);
  });

  test('nodes/weighted with no comets (the example config)', async () => {
    const r = await request(s.base, '/goim/nodes/weighted?platform=web');
    assert.deepEqual(
      [r.status, r.type, r.body],
      [
        200,
        JSON_TYPE,
        '{"code":0,"message":"","data":{"domain":"conn.goim.io","tcp_port":3101,"ws_port":3102,"wss_port":3103,"heartbeat":240,"nodes":["conn.goim.io"],"backoff":{"max_delay":300,"base_delay":3,"factor":1.8,"jitter":0.3},"heartbeat_max":2}}',
      ],
    );
  });

  test('online top/room/total from RenewOnline and registry metadata', async () => {
    await s.registry.register(
      comet(
        'host1',
        { addrs: '47.89.10.97', conn_count: '2', ip_count: '1', offline: 'false', weight: '10' },
        { region: 'sh', zone: 'sh001', env: 'dev', addrs: ['grpc://10.0.0.5:3109'] },
      ),
    );
    await eventually(() => s.logic.onlineTotal().connCount === 2, 'the registry update');
    await s.logic.renewOnline('host1', { 'live://1000': 3 });
    await s.logic.reloadOnline();

    let r = await request(s.base, '/goim/online/top?type=live&limit=2');
    assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, '{"code":0,"message":"","data":[{"room_id":"1000","count":3}]}']);
    r = await request(s.base, '/goim/online/room?type=live&rooms=1000&rooms=2000');
    assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, '{"code":0,"message":"","data":{"1000":3,"2000":0}}']);
    r = await request(s.base, '/goim/online/total');
    assert.deepEqual([r.status, r.type, r.body], [200, JSON_TYPE, '{"code":0,"message":"","data":{"conn_count":2,"ip_count":1}}']);

    const [stamped] = await s.registry.list('goim.comet');
    r = await request(s.base, '/goim/nodes/instances');
    assert.deepEqual(
      [r.status, r.type, r.body],
      [
        200,
        JSON_TYPE,
        `{"code":0,"message":"","data":[{"region":"sh","zone":"sh001","env":"dev","appid":"goim.comet","hostname":"host1","addrs":["grpc://10.0.0.5:3109"],"version":"","latest_timestamp":${stamped.latestTimestamp},"metadata":{"addrs":"47.89.10.97","conn_count":"2","ip_count":"1","offline":"false","weight":"10"}}]}`,
      ],
    );
    r = await request(s.base, '/goim/nodes/weighted?platform=web');
    assert.match(r.body, /"nodes":\["host1\.goim\.io"\]/);
    r = await request(s.base, '/goim/nodes/weighted');
    assert.match(r.body, /"nodes":\["47\.89\.10\.97"\]/);
  });

  test('online room: keys in Go map order, repeated and empty rooms', async () => {
    let r = await request(s.base, '/goim/online/room?type=live&rooms=9&rooms=10&rooms=b&rooms=A&rooms=9');
    assert.equal(r.body, '{"code":0,"message":"","data":{"10":0,"9":0,"A":0,"b":0}}');
    r = await request(s.base, '/goim/online/room?type=live&rooms=');
    assert.equal(r.body, '{"code":0,"message":"","data":{"":0}}');
    r = await request(s.base, '/goim/online/room?type=live&rooms=%3Cx%3E');
    assert.equal(r.body, '{"code":0,"message":"","data":{"\\u003cx\\u003e":0}}');
  });

  test('online top with no match answers an empty list', async () => {
    const r = await request(s.base, '/goim/online/top?type=nothing&limit=5');
    assert.deepEqual([r.status, r.body], [200, '{"code":0,"message":"","data":[]}']);
  });

  test('online binding errors, including a negative limit (a panic in goim)', async () => {
    const req = (f: string) => `Key: '${f}' Error:Field validation for '${f}' failed on the 'required' tag`;
    const cases: Array<[string, string]> = [
      ['/goim/online/top?type=live&limit=-1', `{"code":-400,"message":"Key: 'Limit' Error:Field validation for 'Limit' failed on the 'min' tag"}`],
      ['/goim/online/top?type=live', `{"code":-400,"message":"${req('Limit')}"}`],
      ['/goim/online/top?type=live&limit=0', `{"code":-400,"message":"${req('Limit')}"}`],
      ['/goim/online/top?limit=1', `{"code":-400,"message":"${req('Type')}"}`],
      ['/goim/online/top?type=live&limit=x', '{"code":-400,"message":"strconv.ParseInt: parsing \\"x\\": invalid syntax"}'],
      ['/goim/online/room?type=live', `{"code":-400,"message":"${req('Rooms')}"}`],
      ['/goim/online/room', `{"code":-400,"message":"${req('Type')}\\n${req('Rooms')}"}`],
    ];
    for (const [path, body] of cases) {
      const r = await request(s.base, path);
      assert.deepEqual([r.status, r.type, r.body], [400, TEXT_TYPE, body], path);
    }
  });
});

describe('http: routing', () => {
  let s: Running;
  before(async () => {
    s = await startLogic();
  });
  after(() => s.stop());

  test('unknown path or method: 404 page not found', async () => {
    for (const [method, path] of [
      ['GET', '/goim/push/keys'],
      ['POST', '/goim/online/total'],
      ['DELETE', '/goim/push/keys'],
      ['PUT', '/goim/push/room'],
      ['GET', '/nope/x'],
      ['GET', '/goim'],
      ['GET', '/goim/push/keys/'],
      ['GET', '/'],
    ]) {
      const r = await request(s.base, path, { method });
      assert.deepEqual([r.status, r.type, r.body], [404, 'text/plain', '404 page not found'], `${method} ${path}`);
    }
    const head = await request(s.base, '/goim/online/total', { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  test('trailing-slash variants redirect: 301 for GET, 307 otherwise, query kept', async () => {
    let r = await request(s.base, '/goim/online/total/');
    assert.deepEqual(
      [r.status, r.type, r.headers.get('location'), r.body],
      [301, 'text/html; charset=utf-8', '/goim/online/total', '<a href="/goim/online/total">Moved Permanently</a>.\n\n'],
    );
    r = await request(s.base, '/goim/online/top/?type=live&limit=2');
    assert.deepEqual(
      [r.status, r.headers.get('location'), r.body],
      [301, '/goim/online/top?type=live&limit=2', '<a href="/goim/online/top?type=live&amp;limit=2">Moved Permanently</a>.\n\n'],
    );
    r = await request(s.base, '/goim/push/room/?operation=1&type=a&room=b', { method: 'POST', body: 'x' });
    assert.deepEqual([r.status, r.type, r.headers.get('location'), r.body], [307, null, '/goim/push/room?operation=1&type=a&room=b', '']);
    assert.deepEqual(s.queue.published, []);
  });
});

describe('http: static files', () => {
  let s: Running;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-web-'));
    const first = join(dir, 'web');
    const second = join(dir, 'dist-web');
    await mkdir(first);
    await mkdir(second);
    await mkdir(join(first, 'sub'));
    await writeFile(join(first, 'index.html'), '<!doctype html><title>demo</title>');
    await writeFile(join(first, 'style.css'), 'body{}');
    await writeFile(join(first, 'logo.svg'), '<svg/>');
    await writeFile(join(first, '.hidden'), 'secret');
    await writeFile(join(second, 'index.html'), 'shadowed');
    await writeFile(join(second, 'client.js'), 'export {};');
    await writeFile(join(second, 'client.js.map'), '{"version":3}');
    await writeFile(join(dir, 'outside.txt'), 'outside');
    s = await startLogic({}, { webRoots: [first, second] });
  });
  after(async () => {
    await s.stop();
    const { rm } = await import('node:fs/promises');
    await rm(dir, { recursive: true, force: true });
  });

  test('/ is index.html of the first root; names resolve in root order with their types', async () => {
    const cases: Array<[string, string, string]> = [
      ['/', 'text/html; charset=utf-8', '<!doctype html><title>demo</title>'],
      ['/index.html', 'text/html; charset=utf-8', '<!doctype html><title>demo</title>'],
      ['/style.css', 'text/css; charset=utf-8', 'body{}'],
      ['/logo.svg', 'image/svg+xml', '<svg/>'],
      ['/client.js', 'text/javascript; charset=utf-8', 'export {};'],
      ['/client.js.map', 'application/json; charset=utf-8', '{"version":3}'],
      ['/client.js?v=2', 'text/javascript; charset=utf-8', 'export {};'],
    ];
    for (const [path, type, body] of cases) {
      const r = await request(s.base, path);
      assert.deepEqual([r.status, r.type, r.body], [200, type, body], path);
    }
  });

  test('missing files, folders, dot files and escapes are 404', async () => {
    for (const path of ['/missing.js', '/sub', '/.hidden', '/..%2Foutside.txt', '/%2e%2e', '/..', '/sub/x', '/web%2Findex.html']) {
      const r = await raw(s.base, 'GET', path);
      assert.deepEqual([r.status, r.type, r.body], [404, 'text/plain', '404 page not found'], path);
    }
    const post = await request(s.base, '/index.html', { method: 'POST', body: 'x' });
    assert.equal(post.status, 404);
  });
});
