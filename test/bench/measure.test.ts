// The pure parts of the benchmark instrument: frame counting over a split stream, the send
// stamp, histogram merging, table formatting, /proc parsing, batch sizes, profile summary.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { countEnvelope, CorruptStreamError, StreamFrameCounter } from '../../bench/load/frame-counter.js';
import { bodySize, MIN_BODY_BYTES, parseStamp, parseStampText, stampBody } from '../../bench/load/stamp.js';
import { encodeHistogram, mergeHistograms, newHistogram, recordMs, summarize } from '../../bench/measure/histogram.js';
import { topSelfTime, type CpuProfile } from '../../bench/measure/profile.js';
import { parseStatCpuMs } from '../../bench/measure/proc.js';
import { fmtInt, fmtMs, formatTable } from '../../bench/measure/table.js';
import { batchAt } from '../../bench/servers/server.js';
import { encodeFrame } from '../../src/protocol/frame.js';

function stream(bodies: string[]): Buffer {
  return Buffer.concat(bodies.map((b) => encodeFrame(1000, Buffer.from(b))));
}

/** Feeds `data` cut at the given offsets; returns the counter and the stamps it sampled. */
function feed(data: Buffer, cuts: number[], sample = false) {
  const bodies: string[] = [];
  const c = new StreamFrameCounter(sample ? (b, len) => bodies.push(b.subarray(0, len).toString()) : null, 32);
  const points = [0, ...[...new Set(cuts)].filter((x) => x > 0 && x < data.length).sort((a, b) => a - b), data.length];
  let total = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    // A chunk inside a larger buffer, as the shared read buffer hands it over.
    const chunk = Buffer.concat([Buffer.from('junk'), data.subarray(points[i], points[i + 1]), Buffer.from('junk')]);
    total += c.push(chunk, 4, chunk.length - 4);
  }
  return { counter: c, total, bodies };
}

describe('stream frame counter', () => {
  const bodies = ['{"t":1760000000000.123}', '', 'x'.repeat(100), '{"t":1.5}'];
  const data = stream(bodies);

  it('counts whole frames in one chunk', () => {
    const { counter, total } = feed(data, []);
    assert.equal(total, 4);
    assert.equal(counter.frames, 4);
  });

  it('counts the same over every single split point, including inside packLen', () => {
    for (let cut = 1; cut < data.length; cut++) {
      const { total } = feed(data, [cut]);
      assert.equal(total, 4, `cut at ${cut}`);
    }
  });

  it('counts the same, and samples the same bodies, over arbitrary splits', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 60 }), { maxLength: 12 }), fc.array(fc.nat(2000), { maxLength: 30 }), (texts, cuts) => {
        const d = stream(texts);
        const { total, bodies: seen } = feed(
          d,
          cuts.map((c) => (d.length ? c % d.length : 0)),
          true,
        );
        assert.equal(total, texts.length);
        assert.deepEqual(
          seen,
          texts.map((t) => Buffer.from(t).subarray(0, 32).toString()),
        );
      }),
    );
  });

  it('byte at a time', () => {
    const c = new StreamFrameCounter();
    let n = 0;
    for (let i = 0; i < data.length; i++) n += c.push(data, i, i + 1);
    assert.equal(n, 4);
  });

  it('refuses a packLen shorter than a header', () => {
    const bad = Buffer.from([0, 0, 0, 3, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.throws(() => new StreamFrameCounter().push(bad, 0, bad.length), CorruptStreamError);
  });
});

describe('op-9 envelope counting', () => {
  it('walks the inner frames of one WebSocket message (the room-batch vector)', () => {
    const inner = stream(['{"test":1}', '{"test":2}']);
    const msg = encodeFrame(9, inner);
    const seen: string[] = [];
    assert.equal(
      countEnvelope(msg, (m, s, e) => seen.push(m.subarray(s, e).toString())),
      2,
    );
    assert.deepEqual(seen, ['{"test":1}', '{"test":2}']);
    assert.equal(countEnvelope(encodeFrame(9)), 0);
  });

  it('refuses an inner frame running past the message', () => {
    const msg = encodeFrame(9, stream(['abc']).subarray(0, 18));
    assert.throws(() => countEnvelope(msg), CorruptStreamError);
  });
});

describe('send stamp', () => {
  it('has one size and reads back exactly', () => {
    const body = stampBody(1760000000000.123);
    assert.equal(body, '{"t":1760000000000.123}');
    assert.equal(body.length, MIN_BODY_BYTES);
    const b = Buffer.from(`xx${body}yy`);
    assert.equal(parseStamp(b, 2, 2 + body.length), 1760000000000.123);
    assert.equal(parseStampText(body), 1760000000000.123);
  });

  it('pads to a requested size and still reads back', () => {
    const body = stampBody(1760000000000.5, 64);
    assert.equal(body.length, 64);
    assert.equal(bodySize(64), 64);
    assert.equal(bodySize(25), MIN_BODY_BYTES, 'too small to pad');
    assert.equal(parseStamp(Buffer.from(body), 0, body.length), 1760000000000.5);
    assert.ok((JSON.parse(body) as { p: string }).p.startsWith('x'));
  });

  it('NaN for bodies without a stamp', () => {
    assert.ok(Number.isNaN(parseStamp(Buffer.from('{"test":1}'), 0, 10)));
    assert.ok(Number.isNaN(parseStamp(Buffer.from('{"t":}'), 0, 6)));
    assert.ok(Number.isNaN(parseStampText('hello')));
  });
});

describe('latency histograms', () => {
  it('merge what every worker recorded', () => {
    const a = newHistogram();
    const b = newHistogram();
    for (let i = 1; i <= 99; i++) recordMs(a, 1);
    recordMs(b, 500);
    recordMs(b, -3); // clock skew: counted as 0
    const m = mergeHistograms([encodeHistogram(a), encodeHistogram(b), '']);
    const s = summarize(m);
    assert.equal(s.count, 101);
    assert.ok(Math.abs(s.p50Ms - 1) < 0.01);
    assert.ok(Math.abs(s.maxMs - 500) < 1);
    assert.ok(Number.isNaN(summarize(newHistogram()).p99Ms));
  });
});

describe('result tables', () => {
  it('aligns columns: first left, the rest right, missing values as "-"', () => {
    const t = formatTable(
      ['server', 'msgs/s', 'p99 ms'],
      [
        ['tsim tcp', 2_400_000, fmtMs(12.345)],
        ['socket.io', 512, null],
      ],
    );
    assert.equal(
      t,
      ['server        msgs/s  p99 ms', '---------  ---------  ------', 'tsim tcp   2,400,000    12.3', 'socket.io        512       -'].join('\n'),
    );
    assert.equal(fmtInt(Number.NaN), '-');
    assert.equal(fmtMs(0.5), '0.50');
    assert.equal(fmtMs(250.4), '250');
  });
});

describe('measuring helpers', () => {
  it('reads CPU time from /proc/<pid>/stat, whatever the command name holds', () => {
    const stat = '1234 (node (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 1000 100';
    assert.equal(parseStatCpuMs(stat), 3000); // (250 + 50) ticks at 100 Hz
  });

  it('batch size tsim uses at a rate (room.batch 20, room.signal 1 s)', () => {
    assert.equal(batchAt(40, 20, 1000), 20);
    assert.equal(batchAt(10, 20, 1000), 10);
    assert.equal(batchAt(40, 20, 50), 2);
    assert.equal(batchAt(1, 20, 50), 1);
  });

  it('ranks profile functions by self time', () => {
    const p: CpuProfile = {
      startTime: 0,
      endTime: 10_000, // µs
      nodes: [
        { id: 1, callFrame: { functionName: '(idle)', url: '', lineNumber: 0 }, hitCount: 5 },
        { id: 2, callFrame: { functionName: 'writev', url: '', lineNumber: 0 }, hitCount: 3 },
        { id: 3, callFrame: { functionName: 'push', url: 'file:///x/outbound.js', lineNumber: 9 }, hitCount: 1 },
        { id: 4, callFrame: { functionName: 'writev', url: '', lineNumber: 0 }, hitCount: 1 },
      ],
    };
    const top = topSelfTime(p, 2);
    assert.deepEqual(
      top.map((t) => [t.name, t.ms, t.pct]),
      [
        ['(idle)', 5, 50],
        ['writev', 4, 40],
      ],
    );
    assert.equal(top[1].busyPct, 80);
  });
});
