// The configuration tables `npm run bench -- danmaku` adds to the benchmark's tsim
// configuration: valid for the schema, senders out of the rate limit, history on or off,
// the chosen engine in the temporary data directory.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { danmakuConfig } from '../../bench/scenarios/danmaku.js';
import { buildConfig } from '../../src/config/load.js';

describe('danmaku benchmark configuration', () => {
  it('enables send and history for live rooms, limits out of the way, the chosen engine in the data directory', () => {
    const c = buildConfig(parse(danmakuConfig(true, 'sqlite', '/tmp/tsim-bench-danmaku-x')), 'danmaku.toml');
    assert.equal(c.roomTypes.live.send, true);
    assert.equal(c.roomTypes.live.history, true);
    assert.equal(c.roomTypes.live.rate, 1000);
    assert.equal(c.roomTypes.live.burst, 1000);
    assert.equal(c.history.engine, 'sqlite');
    assert.equal(c.history.dataDir, '/tmp/tsim-bench-danmaku-x');
  });

  it('turns history off for the comparison run, keeping send', () => {
    const c = buildConfig(parse(danmakuConfig(false, 'memory', '/tmp/d')), 'danmaku.toml');
    assert.equal(c.roomTypes.live.send, true);
    assert.equal(c.roomTypes.live.history, false);
    assert.equal(c.history.engine, 'memory');
  });
});
