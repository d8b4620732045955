// `tsim status` as a user runs it, against a real embedded tsim with an admin key: the nodes
// and totals as a table (and as JSON), the key from the environment, and a clear one-line error
// with exit code 1 for a wrong or missing key and for a logic that is not there.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded, type Embedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';
import type { Overview } from '../../src/logic/admin/cluster-view.js';
import { packageRoot } from '../../src/package-root.js';
import { eventually } from '../support/eventually.js';
import { GoimTestClient } from '../support/goim-client.js';

const cli = join(packageRoot(), 'bin', 'tsim.js');
const KEY = 'status-0123456789abcdef';

function status(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const { TSIM_ADMIN_KEY: _drop, ...base } = process.env;
    execFile(process.execPath, [cli, 'status', ...args], { env: { ...base, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describe('tsim status', () => {
  let tsim: Embedded;
  let url: string;
  let client: GoimTestClient;

  before(async () => {
    tsim = await startEmbedded(
      buildConfig({
        env: { host: 'status-node' },
        tcp: { bind: ['127.0.0.1:0'] },
        websocket: { bind: ['127.0.0.1:0'] },
        httpServer: { addr: '127.0.0.1:0' },
        admin: { keys: [KEY], statsInterval: '100ms' },
      }),
      silentLogger,
    );
    const a = tsim.addresses();
    url = `http://127.0.0.1:${a.http.port}`;
    client = await GoimTestClient.tcp(a.tcp[0].port);
    await client.auth({ mid: 1, room_id: 'live://1', accepts: [] });
    await eventually(async () => {
      const res = await fetch(`${url}/admin/api/overview`, { headers: { authorization: `Bearer ${KEY}` } });
      return ((await res.json()) as { data: Overview }).data.totals.connections === 1;
    }, 'the console to count the client');
  });

  after(async () => {
    client?.close();
    await tsim?.stop();
  });

  it('prints the nodes and totals', async () => {
    const r = await status(['--url', url, '--key', KEY]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `tsim at ${url}: 1 comet(s), 1 logic(s), 1 job(s)`);
    assert.match(lines[1], /^connections 1 {2}rooms 1 {2}pushes in\/s /);
    assert.match(r.stdout, /\nROLE +ID +VERSION +UPTIME +HEALTH +LOAD +LOOP P99 +ADDRESSES\n/);
    assert.match(r.stdout, /\ncomet +status-node +\d+\.\d+\.\d+\S* +\S+ +ok +1 conns /);
    assert.match(r.stdout, /\nlogic +status-node /);
    assert.match(r.stdout, /\njob +status-node .* 0 queued /);
  });

  it('takes the key from TSIM_ADMIN_KEY, and prints JSON on request', async () => {
    const r = await status(['--url', url, '--json'], { TSIM_ADMIN_KEY: KEY });
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout) as Overview;
    assert.deepEqual(o.nodes.map((n) => n.role).sort(), ['comet', 'job', 'logic']);
  });

  it('says why when the key is wrong or missing', async () => {
    const wrong = await status(['--url', url, '--key', 'not-the-key-0123456789']);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, `tsim status: logic at ${url} refused the admin key (401): it is not one of its admin.keys\n`);
    const none = await status(['--url', url]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /give one with --key or TSIM_ADMIN_KEY/);
  });

  it('says when logic cannot be reached', async () => {
    // A port that was free a moment ago, closed again: nothing listens there.
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise((r) => srv.close(r));
    const r = await status(['--url', `http://127.0.0.1:${port}`, '--key', KEY]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `tsim status: cannot reach logic at http://127.0.0.1:${port}: ECONNREFUSED\n`);
    const bad = await status(['--url', 'not a url']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not a URL/);
  });

  it('a logic that stalls mid-answer, answers another shape, or sends escape codes: one line, exit 1, nothing raw on the terminal', async () => {
    let mode = 'stall';
    const srv = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      if (mode === 'stall')
        res.write('{"code":0,'); // and never ends
      else if (mode === 'shape') res.end('{"code":0,"message":"","data":{}}');
      else
        res.end(
          JSON.stringify({
            code: 0,
            message: '',
            data: {
              at: 0,
              intervalMs: 1000,
              totals: {},
              series: {},
              seriesOf: 'cluster',
              nodes: [
                { role: 'comet', id: 'evil\u001b[2J', version: '1', startedAt: 0, uptimeS: 5, addrs: ['x'], health: 'ok', values: {}, rates: {} },
              ],
            },
          }),
        );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const at = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      const stalled = await status(['--url', at, '--timeout', '500']);
      assert.equal(stalled.code, 1);
      assert.equal(stalled.stderr, `tsim status: cannot reach logic at ${at}: no answer within 500 ms\n`);
      mode = 'shape';
      const shape = await status(['--url', at]);
      assert.equal(shape.code, 1);
      assert.match(shape.stderr, /^tsim status: logic at .* answered an overview of another shape/);
      mode = 'escape';
      const esc = await status(['--url', at]);
      assert.equal(esc.code, 0, esc.stderr);
      assert.ok(!esc.stdout.includes('\u001b'), 'no escape code printed');
      assert.match(esc.stdout, /evil\?\[2J/);
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });
});
