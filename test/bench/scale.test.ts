// `npm run bench -- scale`, kept tiny: two connection counts, the second over two comet
// workers. Every client connects and heartbeats, every pushed message is delivered at each
// rate, memory and CPU are read per process, and `bench chart` turns the file into an SVG
// with a point per count. Nothing is left running.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ScaleStep } from '../../bench/scenarios/scale.js';
import { clusterGate } from '../support/cluster.js';
import { benchChild } from '../support/bench-child.js';

/** The bench as a child process; its processes carry a mark so leftovers can be found. */
const { run: bench, leftovers } = benchChild('TSIM_BENCH_TEST_MARK', 150_000);

const skip = await clusterGate();

describe('bench scale (tiny run)', { skip }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-bench-scale-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('two counts, one and two comet workers: all connected, every message delivered, memory per process, a chart', async () => {
    const r = await bench([
      'scale',
      '--clients',
      '20,50',
      '--clients-per-comet',
      '30',
      '--idle',
      '2',
      '--heartbeat',
      '1',
      '--rate',
      '20,40',
      '--duration',
      '1',
      '--drain',
      '5',
      '--out',
      dir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const files = (await readdir(dir)).filter((f) => f.startsWith('scale-') && f.endsWith('.json'));
    assert.equal(files.length, 1);
    const file = join(dir, files[0]);
    const steps = (JSON.parse(await readFile(file, 'utf8')) as { results: { steps: ScaleStep[] } }).results.steps;
    assert.deepEqual(
      steps.map((s) => [s.clients, s.cometWorkers, s.connected, s.failed]),
      [
        [20, 1, 20, 0],
        [50, 2, 50, 0],
      ],
    );
    for (const s of steps) {
      assert.ok(s.heartbeatsPerSec > 0, 'clients heartbeat while idle');
      assert.equal(s.processes.filter((p) => p.role.startsWith('comet-w') || p.role === 'comet').length, s.cometWorkers);
      assert.ok(
        s.processes.every((p) => p.rssIdle > 0 && p.rssStart > 0),
        'RSS read for every process',
      );
      assert.ok(s.rows.length >= 1);
      for (const row of s.rows) {
        assert.ok(row.expected > 0);
        assert.equal(row.delivered, row.expected, `${s.clients} clients, ${row.rate}/s: every message delivered`);
      }
    }
    const svg = join(dir, 'scale.svg');
    const c = await bench(['chart', file, '--out', svg]);
    assert.equal(c.code, 0, c.stderr);
    const text = await readFile(svg, 'utf8');
    assert.match(text, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(text, /Comet RSS per connection/);
    // One point per count on every line: 2 memory lines, 2 CPU lines, 1 per-write line.
    assert.equal((text.match(/<circle /g) ?? []).length, 2 * 5);
    assert.equal(await leftovers(), 0, 'no server or load worker left running');
  });
});
