// `npm run bench -- multiroom`: which rooms each connection is in, and a tiny run end to end on
// embedded tsim — every connection joins its rooms with op 19, every room push reaches every
// member (inside op-23 envelopes for the multi-room connections, goim's plain frames for the
// single-room ones), RSS per connection measured, nothing left running.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { roomsOf } from '../../bench/load/multiroom-rooms.js';
import { multiroomOptionProblem, roomMembers, type MultiroomRow } from '../../bench/scenarios/multiroom.js';
import { benchChild } from '../support/bench-child.js';

const { run: bench, leftovers } = benchChild('TSIM_BENCH_MULTIROOM_TEST_MARK', 150_000);

describe('multiroom benchmark rooms', () => {
  it('puts each connection in R distinct rooms, every room with the same members when R × C is a multiple of K', () => {
    assert.deepEqual(roomsOf(0, 3, 10), [0, 1, 2]);
    assert.deepEqual(roomsOf(3, 3, 10), [9, 0, 1]);
    for (let g = 0; g < 50; g++) assert.equal(new Set(roomsOf(g, 4, 7)).size, 4);
    assert.deepEqual(roomMembers(10, 3, 6), [5, 5, 5, 5, 5, 5]);
    assert.deepEqual(roomMembers(4, 1, 6), [1, 1, 1, 1, 0, 0]);
  });

  it('refuses shapes it cannot run', () => {
    assert.equal(multiroomOptionProblem({ perConn: 10, rooms: 10 }), null);
    assert.match(multiroomOptionProblem({ perConn: 11, rooms: 10 }) ?? '', /exceeds --rooms/);
    assert.match(multiroomOptionProblem({ perConn: 129, rooms: 1000 }) ?? '', /maxRooms/);
  });
});

describe('multiroom (tiny run)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-bench-multiroom-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('embedded: every push reaches every member, in envelopes when multi-room, plain frames when single-room', async () => {
    const out = join(dir, 'embedded');
    const r = await bench(
      ['multiroom', '--clients', '30', '--rooms-per-conn', '4', '--rooms', '6', '--rate', '60', '--duration', '1'].concat([
        '--workers',
        '2',
        '--out',
        out,
      ]),
    );
    assert.equal(r.code, 0, r.stderr);
    const files = (await readdir(out)).filter((f) => f.startsWith('multiroom-') && f.endsWith('.json'));
    assert.equal(files.length, 1);
    const rows = (JSON.parse(await readFile(join(out, files[0]), 'utf8')) as { results: { rows: MultiroomRow[] } }).results.rows;
    assert.deepEqual(
      rows.map((x) => x.roomsPerConn),
      [4, 1],
    );
    for (const x of rows) {
      assert.equal(x.clientsOk, 30);
      assert.equal(x.clientsLost, 0);
      assert.ok(x.accepted > 0);
      assert.equal(x.failed, 0);
      assert.equal(x.delivered, x.expected, `${x.roomsPerConn} rooms/conn: every push reached every member`);
      assert.equal(x.lost, 0);
      assert.ok(x.deliveredPerSec > 0);
      assert.ok(x.rssAfter > 0 && x.rssBefore > 0);
    }
    // 30 connections × 4 rooms over 6 rooms: 20 members each; single-room: 5 each.
    assert.equal(rows[0].expected, rows[0].accepted * 20);
    assert.equal(rows[1].expected, rows[1].accepted * 5);
    assert.ok(rows[0].envelopes > 0, 'multi-room connections get op-23 envelopes');
    assert.equal(rows[1].envelopes, 0, 'single-room connections keep goim bytes');
    assert.equal(await leftovers(), 0, 'no server or load worker left running');
  });
});
