// The instrument end to end, kept tiny (20 clients, 1 s): `npm run bench -- fanout` starts the
// servers and load workers as child processes, every message is accounted for, the JSON
// results are written, and nothing is left running.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FanoutRow } from '../../bench/scenarios/fanout.js';
import type { ConnectRow } from '../../bench/scenarios/connect.js';
import { benchChild } from '../support/bench-child.js';

/** The bench as a child process; its processes carry a mark so leftovers can be found. */
const { run: bench, leftovers } = benchChild('TSIM_BENCH_TEST_MARK', 120_000);

async function onlyResult<T>(dir: string, scenario: string): Promise<{ rows: T[] }> {
  const files = (await readdir(dir)).filter((f) => f.startsWith(`${scenario}-`) && f.endsWith('.json'));
  assert.equal(files.length, 1, `one ${scenario} result file`);
  return (JSON.parse(await readFile(join(dir, files[0]), 'utf8')) as { results: { rows: T[] } }).results;
}

describe('bench (tiny runs)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-bench-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fanout over TCP: tsim and raw-net deliver every message, results written', async () => {
    const out = join(dir, 'tcp');
    const r = await bench([
      'fanout',
      '--clients',
      '20',
      '--workers',
      '2',
      '--rate',
      '20',
      '--duration',
      '1',
      '--signal',
      '50',
      '--baseline',
      'raw-net',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tsim tcp/);
    assert.match(r.stdout, /raw-net tcp/);
    const { rows } = await onlyResult<FanoutRow>(out, 'fanout');
    assert.deepEqual(
      rows.map((x) => x.server),
      ['tsim tcp', 'raw-net tcp'],
    );
    for (const row of rows) {
      assert.equal(row.clients, 20);
      assert.ok(row.expected >= 20 * 10, `${row.server}: expected ${row.expected}`);
      assert.equal(row.delivered, row.expected, `${row.server}: every message delivered`);
      assert.equal(row.lost, 0);
      assert.ok(row.latency.count > 0, `${row.server}: latency sampled`);
    }
    assert.equal(rows[0].expected, rows[0].pushesSent * 20, 'tsim: every accepted push reached all 20 clients');
    assert.equal(await leftovers(), 0, 'no server or load worker left running');
  });

  it('fanout over WebSocket, with socket.io; connect reports memory per connection', async () => {
    const out = join(dir, 'ws');
    const f = await bench([
      'fanout',
      '--clients',
      '20',
      '--workers',
      '1',
      '--transport',
      'ws',
      '--rate',
      '20',
      '--duration',
      '1',
      '--signal',
      '50',
      '--baseline',
      'socket.io',
      '--out',
      out,
    ]);
    assert.equal(f.code, 0, f.stderr);
    const { rows } = await onlyResult<FanoutRow>(out, 'fanout');
    assert.deepEqual(
      rows.map((x) => [x.server, x.delivered === x.expected && x.expected > 0]),
      [
        ['tsim ws', true],
        ['socket.io', true],
      ],
    );
    const c = await bench(['connect', '--clients', '20', '--workers', '1', '--transport', 'ws', '--idle-wait', '1', '--out', out]);
    assert.equal(c.code, 0, c.stderr);
    const conn = await onlyResult<ConnectRow>(out, 'connect');
    assert.equal(conn.rows[0].ok, 20);
    assert.equal(conn.rows[0].failed, 0);
    assert.ok(conn.rows[0].rssAfter > 0);
    assert.ok(conn.rows[0].rssIdle > 0 && conn.rows[0].rssBeforeNoGc > 0, 'RSS also read without a forced GC');
    assert.equal(conn.rows[0].idleWait, 1);
    assert.equal(await leftovers(), 0, 'no server or load worker left running');
  });
});
