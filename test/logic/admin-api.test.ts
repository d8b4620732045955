// The operations console's API over real HTTP on an embedded tsim (docs/http-api.md#operations-console-api):
// the admin credential (separate from api.keys, Basic and Bearer, the page's files too), the
// cross-site check on actions, the overview listing the roles with live numbers, a lookup that
// finds a connected goim client, a push that reaches it, a disconnect that closes its socket,
// the log line naming who did it, and bad input answered 400.
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { adminAccess, adminStatsInterval } from '../../src/config/admin-settings.js';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import type { Overview } from '../../src/logic/admin/cluster-view.js';
import type { ConnectionInfo } from '../../src/ports/comet-admin.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { eventually } from '../support/eventually.js';
import { GoimTestClient } from '../support/goim-client.js';

const ADMIN_KEY = 'admin-0123456789abcdef';
const API_KEY = 'push-0123456789abcdef';

function config(extra: Record<string, unknown> = {}) {
  return buildConfig({
    env: { host: 'console-comet' },
    tcp: { bind: ['127.0.0.1:0'] },
    websocket: { bind: ['127.0.0.1:0'] },
    httpServer: { addr: '127.0.0.1:0' },
    room: { signal: '20ms' },
    comet: { renewOnline: '50ms' },
    logic: { onlineReload: '50ms' },
    admin: { statsInterval: '100ms' },
    ...extra,
  });
}

type Lookup = { connections: ConnectionInfo[] };
type Rooms = { byMembers: { room: string; count: number }[]; byRate: { room: string; perSecond: number }[] };

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const basic = (key: string, user = 'ops') => ({ authorization: `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}` });

interface Answer {
  status: number;
  headers: Headers;
  json: { code: number; message: string; data?: unknown };
  text: string;
}

describe('operations console API (admin keys)', () => {
  let tsim: Embedded;
  let base: string;
  let tcpPort: number;
  const lines: Record<string, unknown>[] = [];
  const clients: GoimTestClient[] = [];

  const call = async (path: string, init: RequestInit = {}): Promise<Answer> => {
    const res = await fetch(`${base}${path}`, init);
    const text = await res.text();
    let json: Answer['json'] = { code: NaN, message: '' };
    try {
      json = JSON.parse(text) as Answer['json'];
    } catch {
      // a file
    }
    return { status: res.status, headers: res.headers, json, text };
  };

  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    tsim = await startEmbedded(
      config({ admin: { keys: [`alice:${ADMIN_KEY}`], statsInterval: '100ms' }, api: { keys: [API_KEY] } }),
      pino({ level: 'info' }, sink),
    );
    const a = tsim.addresses();
    base = `http://127.0.0.1:${a.http.port}`;
    tcpPort = a.tcp[0].port;
  });

  after(async () => {
    for (const c of clients) c.close();
    await tsim.stop();
  });

  it('refuses every console path without the admin key, including the page and its files', async () => {
    const paths = ['/admin', '/admin/admin.js', '/admin/uPlot.min.css', '/admin/api/overview', '/admin/api/lookup?mid=1', '/admin/api/rooms'];
    const wrong: Record<string, string>[] = [
      {},
      bearer(API_KEY),
      basic(API_KEY),
      bearer(ADMIN_KEY + 'x'),
      basic(ADMIN_KEY.slice(1)),
      { authorization: ADMIN_KEY },
    ];
    for (const path of paths) {
      for (const headers of wrong) {
        const r = await call(path, { headers });
        assert.equal(r.status, 401, `${path} with ${JSON.stringify(headers)}`);
        assert.deepEqual(r.json, { code: -401, message: 'missing or invalid admin key' });
        assert.equal(r.headers.get('www-authenticate'), 'Basic realm="tsim admin", charset="UTF-8"');
      }
    }
    for (const [path, method] of [
      ['/admin/api/disconnect?key=x', 'POST'],
      ['/admin/api/push?key=x&operation=1000', 'POST'],
    ]) {
      assert.equal((await call(path, { method, headers: bearer(API_KEY), body: 'x' })).status, 401);
    }
    // The bundle is not reachable through the demo's file route either.
    assert.equal((await call('/admin.js')).status, 404);
    // And the admin key opens nothing of the push API.
    assert.equal((await call('/goim/online/total', { headers: bearer(ADMIN_KEY) })).status, 401);
  });

  it('serves the page and its files with Basic, the API with Bearer or Basic', async () => {
    const page = await call('/admin', { headers: basic(ADMIN_KEY) });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.text, /<script src="\/admin\/admin.js">/);
    const js = await call('/admin/admin.js', { headers: basic(ADMIN_KEY, 'anyone') });
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await call('/admin/uPlot.min.css', { headers: basic(ADMIN_KEY) })).status, 200);
    assert.equal((await call('/admin/nope.js', { headers: basic(ADMIN_KEY) })).status, 404);
    assert.equal((await call('/admin/api/overview', { headers: bearer(ADMIN_KEY) })).json.code, 0);
  });

  it('lists comet, logic and job with live numbers', async () => {
    const c = await GoimTestClient.tcp(tcpPort);
    clients.push(c);
    await c.auth({ mid: 4242, key: 'console-key-1', room_id: 'live://7', accepts: [1000] });
    let o = {} as Overview;
    await eventually(async () => {
      o = (await call('/admin/api/overview', { headers: bearer(ADMIN_KEY) })).json.data as Overview;
      return o.totals.connections >= 1 && o.series.t.length >= 2;
    }, 'the overview to count the connection');
    assert.deepEqual(o.nodes.map((n) => `${n.role}/${n.id}`).sort(), ['comet/console-comet', 'job/console-comet', 'logic/console-comet']);
    const version = (await import('../../src/package-root.js')).packageVersion();
    for (const n of o.nodes) {
      assert.equal(n.version, version);
      assert.equal(n.health, 'ok');
      assert.ok(n.addrs.some((a) => a.startsWith('http ')));
      assert.equal(typeof n.values.event_loop_p99_ms, 'number');
    }
    assert.equal(o.nodes.find((n) => n.role === 'comet')?.values.connections, 1);
    for (const name of [
      'connections',
      'rooms',
      'pushes_in_per_s',
      'delivered_per_s',
      'dropped_per_s',
      'slow_disconnects_per_s',
      'auth_failures_per_s',
      'queue_lag',
      'event_loop_p99_ms',
    ]) {
      assert.equal(o.series[name].length, o.series.t.length, name);
    }
    // A node's own series.
    const node = (await call('/admin/api/overview?node=comet/console-comet', { headers: bearer(ADMIN_KEY) })).json.data as Overview;
    assert.equal(node.seriesOf, 'comet/console-comet');
    assert.equal(node.totals.connections, o.totals.connections, "the cluster's totals, whichever node's series");
    assert.equal((await call('/admin/api/overview?node=comet/gone', { headers: bearer(ADMIN_KEY) })).status, 404);
    assert.equal((await call('/admin/api/overview?node=bogus', { headers: bearer(ADMIN_KEY) })).status, 400);
    // The room is among the busiest.
    await eventually(async () => {
      const rooms = ((await call('/admin/api/rooms?limit=5', { headers: bearer(ADMIN_KEY) })).json.data as Rooms).byMembers;
      return rooms.some((r) => r.room === 'live://7' && r.count === 1);
    }, 'the room in the top list');
    // By message rate: the jobs' count of the room's messages over their last interval.
    await eventually(async () => {
      await fetch(`${base}/goim/push/room?operation=1000&type=live&room=7`, { method: 'POST', headers: bearer(API_KEY), body: 'busy' });
      const rooms = ((await call('/admin/api/rooms?limit=5', { headers: bearer(ADMIN_KEY) })).json.data as Rooms).byRate;
      return rooms.some((r) => r.room === 'live://7' && r.perSecond > 0);
    }, 'the room among the busiest by rate');
  });

  it('finds a connected client by mid and by key, pushes to it and disconnects it', async () => {
    const c = await GoimTestClient.tcp(tcpPort);
    clients.push(c);
    await c.auth({ mid: 31337, key: 'console-key-2', room_id: 'live://8', accepts: [1000] });
    const byMid = await call('/admin/api/lookup?mid=31337', { headers: basic(ADMIN_KEY) });
    assert.equal(byMid.status, 200);
    const found = (byMid.json.data as Lookup).connections;
    assert.equal(found.length, 1);
    const conn = found[0];
    assert.equal(conn.key, 'console-key-2');
    assert.equal(conn.mid, '31337');
    assert.equal(conn.comet, 'console-comet');
    assert.equal(conn.transport, 'tcp');
    assert.equal(conn.tls, false);
    assert.deepEqual(conn.rooms, ['live://8']);
    assert.match(conn.remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(conn.since <= Date.now() && conn.since > Date.now() - 60_000);
    const byKey = await call('/admin/api/lookup?key=console-key-2', { headers: bearer(ADMIN_KEY) });
    assert.deepEqual((byKey.json.data as Lookup).connections, [conn]);
    assert.deepEqual(((await call('/admin/api/lookup?mid=999999', { headers: bearer(ADMIN_KEY) })).json.data as Lookup).connections, []);

    // A push from the console: the same bytes as the push API's.
    const pushed = await call('/admin/api/push?mid=31337&operation=1000', { method: 'POST', headers: basic(ADMIN_KEY), body: 'from the console' });
    assert.deepEqual({ status: pushed.status, json: pushed.json }, { status: 200, json: { code: 0, message: '' } });
    const f = await c.next();
    assert.equal(f.op, 1000);
    assert.deepEqual(c.rawBytes().subarray(-(16 + 16)), encodeFrame(1000, Buffer.from('from the console')));
    const toKey = await call('/admin/api/push?key=console-key-2&operation=1000', { method: 'POST', headers: bearer(ADMIN_KEY), body: 'by key' });
    assert.equal(toKey.status, 200);
    assert.equal((await c.next()).body.toString(), 'by key');

    const kicked = await call('/admin/api/disconnect?key=console-key-2', { method: 'POST', headers: basic(ADMIN_KEY) });
    assert.deepEqual({ status: kicked.status, json: kicked.json }, { status: 200, json: { code: 0, message: '', data: { closed: true } } });
    await c.closed;
    const again = await call('/admin/api/disconnect?key=console-key-2', { method: 'POST', headers: bearer(ADMIN_KEY) });
    assert.equal(again.status, 404);

    const audit = lines.filter((l) => typeof l.action === 'string');
    assert.deepEqual(
      audit.map((l) => [l.action, l.admin, l.ip]),
      [
        // Looks at personal data are kept too.
        ['lookup', 'alice', '127.0.0.1'],
        ['lookup', 'alice', '127.0.0.1'],
        ['lookup', 'alice', '127.0.0.1'],
        ['push', 'alice', '127.0.0.1'],
        ['push', 'alice', '127.0.0.1'],
        ['disconnect', 'alice', '127.0.0.1'],
        ['disconnect', 'alice', '127.0.0.1'],
      ],
    );
    assert.deepEqual([audit[0].mid, audit[0].found, audit[1].key], ['31337', 1, 'console-key-2']);
    assert.equal(audit[5].key, 'console-key-2');
    assert.equal(audit[5].level, 30);
  });

  it("shows a room's members across comets", async () => {
    const a = await GoimTestClient.tcp(tcpPort);
    const b = await GoimTestClient.tcp(tcpPort);
    clients.push(a, b);
    await a.auth({ mid: 71, key: 'room-member-a', room_id: 'live://9', accepts: [] });
    await b.auth({ mid: 72, key: 'room-member-b', room_id: 'live://9', accepts: [] });
    const r = await call('/admin/api/room?room=live://9', { headers: bearer(ADMIN_KEY) });
    assert.equal(r.status, 200);
    const room = r.json.data as { room: string; total: number; comets: unknown[]; members: ConnectionInfo[]; history: unknown };
    assert.equal(room.room, 'live://9');
    assert.equal(room.total, 2);
    assert.deepEqual(room.comets, [{ comet: 'console-comet', total: 2 }]);
    assert.deepEqual(room.members.map((m) => [m.key, m.mid, m.rooms]).sort(), [
      ['room-member-a', '71', ['live://9']],
      ['room-member-b', '72', ['live://9']],
    ]);
    assert.deepEqual(room.history, { unavailable: 'room type "live" keeps no history' });
    const one = (await call('/admin/api/room?room=live://9&limit=1', { headers: bearer(ADMIN_KEY) })).json.data as {
      total: number;
      members: unknown[];
    };
    assert.equal(one.total, 2);
    assert.equal(one.members.length, 1);
    for (const bad of [
      '/admin/api/room',
      '/admin/api/room?room=nokey',
      '/admin/api/room?room=live://9&limit=101',
      `/admin/api/room?room=live://${'x'.repeat(300)}`,
    ]) {
      assert.equal((await call(bad, { headers: bearer(ADMIN_KEY) })).status, 400, bad);
    }
  });

  it('refuses actions sent with Basic credentials from another origin', async () => {
    const evil = { ...basic(ADMIN_KEY), origin: 'http://evil.example' };
    const r = await call('/admin/api/disconnect?key=x', { method: 'POST', headers: evil });
    assert.equal(r.status, 403);
    assert.match(r.json.message, /own origin/);
    const site = await call('/admin/api/push?key=x&operation=1000', {
      method: 'POST',
      headers: { ...basic(ADMIN_KEY), 'sec-fetch-site': 'cross-site' },
      body: 'x',
    });
    assert.equal(site.status, 403);
    // Its own origin passes (and finds no such key).
    const own = await call('/admin/api/disconnect?key=x', { method: 'POST', headers: { ...basic(ADMIN_KEY), origin: base } });
    assert.equal(own.status, 404);
  });

  it('a client whose key has spaces, non-ASCII or 1,000 bytes is found and disconnected too', async () => {
    for (const key of ['a key with spaces', 'ключ/世界', 'k'.repeat(1000)]) {
      const c = await GoimTestClient.tcp(tcpPort);
      clients.push(c);
      await c.auth({ mid: 4242, key, room_id: 'live://odd', accepts: [1000] });
      const q = `key=${encodeURIComponent(key)}`;
      assert.equal(((await call(`/admin/api/lookup?${q}`, { headers: bearer(ADMIN_KEY) })).json.data as Lookup).connections[0]?.key, key);
      const kicked = await call(`/admin/api/disconnect?${q}`, { method: 'POST', headers: bearer(ADMIN_KEY) });
      assert.equal(kicked.status, 200, key.slice(0, 20));
      await c.closed;
    }
  });

  it('takes actions from an origin listed in httpServer.allowedOrigins (a proxy that rewrites Host)', async () => {
    const proxied = await startEmbedded(
      config({ admin: { keys: [ADMIN_KEY] }, httpServer: { addr: '127.0.0.1:0', allowedOrigins: ['https://ops.example.com'] } }),
      silentLogger,
    );
    try {
      const url = `http://127.0.0.1:${proxied.addresses().http.port}/admin/api/disconnect?key=nobody`;
      const listed = await fetch(url, { method: 'POST', headers: { ...basic(ADMIN_KEY), origin: 'https://ops.example.com' } });
      assert.equal(listed.status, 404, 'passed the origin check (no such key)');
      const other = await fetch(url, { method: 'POST', headers: { ...basic(ADMIN_KEY), origin: 'https://evil.example.com' } });
      assert.equal(other.status, 403);
    } finally {
      await proxied.stop();
    }
  });

  it('answers bad input with 400 and its reason', async () => {
    const h = { headers: bearer(ADMIN_KEY) };
    const cases: [string, RegExp][] = [
      ['/admin/api/lookup', /either mid or key/],
      ['/admin/api/lookup?mid=1&key=a', /either mid or key/],
      ['/admin/api/lookup?mid=abc', /int64/],
      ['/admin/api/lookup?mid=99999999999999999999', /int64/],
      ['/admin/api/lookup?key=', /1 to 16384 bytes/],
      ['/admin/api/rooms?limit=0', /limit/],
      ['/admin/api/rooms?limit=1000', /limit/],
    ];
    for (const [path, why] of cases) {
      const r = await call(path, h);
      assert.equal(r.status, 400, path);
      assert.match(r.json.message, why, path);
    }
    const post = (path: string) => call(path, { method: 'POST', headers: bearer(ADMIN_KEY), body: 'x' });
    assert.equal((await post('/admin/api/disconnect?mid=1')).status, 400);
    assert.equal((await post('/admin/api/push?mid=1')).status, 400);
    assert.equal((await post('/admin/api/push?mid=1&operation=20')).status, 400);
  });
});

describe('operations console API (embedded on loopback, no admin key)', () => {
  let tsim: Embedded;
  let base: string;

  before(async () => {
    tsim = await startEmbedded(config(), silentLogger);
    base = `http://127.0.0.1:${tsim.addresses().http.port}`;
  });
  after(() => tsim.stop());

  it('opens without a key, and refuses foreign hosts and cross-site actions', async () => {
    assert.equal((await fetch(`${base}/admin/api/overview`)).status, 200);
    // fetch cannot set Host: node:http can.
    const port = tsim.addresses().http.port;
    const status = await new Promise<number | undefined>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/admin/api/overview', headers: { host: 'evil.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject);
    });
    assert.equal(status, 403);
    const r = await fetch(`${base}/admin/api/disconnect?key=x`, { method: 'POST', headers: { origin: 'http://evil.example' } });
    assert.equal(r.status, 403);
    assert.equal((await fetch(`${base}/admin/api/disconnect?key=x`, { method: 'POST', headers: { origin: base } })).status, 404);
  });

  it('sends the page so that no other page can frame it', async () => {
    const res = await fetch(`${base}/admin`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });
});

describe('operations console API: an embedded logic on loopback whose push API takes keys', () => {
  it('does not serve the console without admin keys: the push API is not opened through it', async () => {
    const tsim = await startEmbedded(config({ api: { keys: [API_KEY] } }), silentLogger);
    try {
      const base = `http://127.0.0.1:${tsim.addresses().http.port}`;
      assert.equal((await fetch(`${base}/goim/push/mids?operation=1000&mids=1`, { method: 'POST', body: 'x' })).status, 401);
      assert.equal(
        (await fetch(`${base}/admin/api/push?mid=1&operation=1000`, { method: 'POST', body: 'x', headers: { origin: base } })).status,
        404,
      );
      assert.equal((await fetch(`${base}/admin/api/overview`)).status, 404);
    } finally {
      await tsim.stop();
    }
  });
});

describe('operations console API: a room with history', () => {
  let tsim: Embedded;
  let base: string;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tsim-console-history-'));
    tsim = await startEmbedded(config({ roomTypes: { live: { history: true } }, history: { engine: 'sqlite', dataDir } }), silentLogger);
    base = `http://127.0.0.1:${tsim.addresses().http.port}`;
  });
  after(async () => {
    await tsim.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("shows the room's recent messages", async () => {
    for (const body of ['one', 'two', 'three']) {
      assert.equal((await fetch(`${base}/goim/push/room?operation=1000&type=live&room=h1`, { method: 'POST', body })).status, 200);
    }
    type History = { records?: { offset: number; op: number; body: string; mid: string }[] };
    let history: History = {};
    await eventually(async () => {
      const res = await fetch(`${base}/admin/api/room?room=${encodeURIComponent('live://h1')}`);
      history = ((await res.json()) as { data: { history: History } }).data.history;
      return history.records?.length === 3;
    }, 'the three messages in the history');
    assert.deepEqual(
      history.records!.map((r) => [r.offset, r.op, r.mid, r.body]),
      [
        [1, 1000, '0', 'one'],
        [2, 1000, '0', 'two'],
        [3, 1000, '0', 'three'],
      ],
    );
  });
});

describe('admin access from the configuration', () => {
  it('is open only embedded on loopback under auto, off without keys otherwise, and an error under "on"', () => {
    assert.equal(adminAccess(config(), true, silentLogger).mode, 'open');
    assert.deepEqual(adminAccess(config(), false, silentLogger), { mode: 'disabled', why: 'no admin.keys while logic runs distributed' });
    assert.equal(adminAccess(config({ httpServer: { addr: ':0' } }), true, silentLogger).mode, 'disabled');
    // Never open beside a push API that takes keys.
    assert.deepEqual(adminAccess(config({ api: { keys: [API_KEY] } }), true, silentLogger), {
      mode: 'disabled',
      why: 'no admin.keys while the push API takes keys',
    });
    assert.equal(adminAccess(config({ api: { auth: 'on', keys: [API_KEY] } }), true, silentLogger).mode, 'disabled');
    assert.throws(() => adminAccess(config({ admin: { auth: 'on' } }), true, silentLogger), /admin.auth is on but admin.keys is empty/);
    assert.equal(adminAccess(config({ admin: { auth: 'off' } }), false, silentLogger).mode, 'open');
    assert.deepEqual(adminAccess(config({ admin: { keys: [ADMIN_KEY, `bob:${ADMIN_KEY}x`] } }), false, silentLogger), {
      mode: 'keys',
      keys: [
        { who: 'key#0', key: ADMIN_KEY },
        { who: 'bob', key: `${ADMIN_KEY}x` },
      ],
    });
    assert.throws(() => adminAccess(config({ admin: { keys: ['short'] } }), true, silentLogger), /admin.keys\[0\]: must be at least 16/);
    assert.throws(() => adminAccess(config({ admin: { keys: [`b@d name:${ADMIN_KEY}`] } }), true, silentLogger), /admin.keys\[0\]/);
    assert.throws(() => adminStatsInterval(config({ admin: { statsInterval: '10ms' } })), /admin.statsInterval/);
    assert.equal(adminStatsInterval(config()), 100);
  });
});
