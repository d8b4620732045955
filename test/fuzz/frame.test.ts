// Properties of the frame codec (fast-check, bounded runs): decoding never throws anything
// but FrameError, whatever the bytes, and valid frames come back exactly however the
// stream is cut.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeMessageFrame,
  DEFAULT_MAX_BODY,
  encodeFrame,
  FrameError,
  FrameReader,
  HEADER_LEN,
  splitFrames,
  type Frame,
} from '../../src/protocol/frame.js';

const RUNS = 500;

interface FrameSpec {
  ver: number;
  op: number;
  seq: number;
  body: Uint8Array;
}

const int32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
const frameSpec = (maxBody = 256): fc.Arbitrary<FrameSpec> =>
  fc.record({
    ver: fc.integer({ min: -0x8000, max: 0x7fff }),
    op: int32,
    seq: int32,
    body: fc.uint8Array({ maxLength: maxBody }),
  });

const encode = (f: FrameSpec): Buffer => encodeFrame(f.op, f.body, f.ver, f.seq);
const plain = (f: Frame | FrameSpec) => ({ ver: f.ver, op: f.op, seq: f.seq, body: Buffer.from(f.body).toString('hex') });

/** Cuts `data` at the given points (any number, anywhere, repeats allowed). */
function chunk(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  out.push(data.subarray(prev));
  return out;
}

/** Feeds chunks; returns the frames and the error that stopped it, if any (only FrameError may). */
function feed(chunks: Buffer[], maxBody = DEFAULT_MAX_BODY): { frames: Frame[]; error: FrameError | undefined } {
  const reader = new FrameReader(maxBody);
  const frames: Frame[] = [];
  try {
    for (const c of chunks) reader.push(c, (f) => frames.push(f));
  } catch (err) {
    if (err instanceof FrameError) return { frames, error: err };
    throw err;
  }
  return { frames, error: undefined };
}

/** A byte string with a goim-looking header now and then, so mutations reach past the header checks. */
const hostileBytes = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.tuple(frameSpec(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })).map(([f, flips]) => {
    const b = Buffer.from(encode(f));
    for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v;
    return new Uint8Array(b);
  }),
  fc
    .tuple(fc.integer({ min: -2, max: 6000 }), fc.integer({ min: -2, max: 40 }), fc.uint8Array({ maxLength: 300 }))
    .map(([packLen, headerLen, rest]) => {
      const b = Buffer.alloc(HEADER_LEN + rest.length);
      b.writeInt32BE(packLen, 0);
      b.writeInt16BE(headerLen, 4);
      b.set(rest, HEADER_LEN);
      return new Uint8Array(b);
    }),
);

describe('FrameReader (property)', () => {
  it('yields exactly the frames of a valid stream, however it is chunked', () => {
    fc.assert(
      fc.property(fc.array(frameSpec(), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (specs, cuts) => {
        const stream = Buffer.concat(specs.map(encode));
        const { frames, error } = feed(chunk(stream, cuts));
        assert.equal(error, undefined);
        assert.deepEqual(frames.map(plain), specs.map(plain));
      }),
      { numRuns: RUNS },
    );
  });

  it('throws nothing but FrameError on arbitrary bytes, and frames before the error are whole', () => {
    fc.assert(
      fc.property(fc.array(hostileBytes, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 10 }), (parts, cuts) => {
        const stream = Buffer.concat(parts.map((p) => Buffer.from(p)));
        const { frames } = feed(chunk(stream, cuts));
        // Whatever was emitted re-encodes to a prefix of the input.
        const again = Buffer.concat(frames.map((f) => encodeFrame(f.op, f.body, f.ver, f.seq)));
        assert.ok(again.equals(stream.subarray(0, again.length)));
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects a body over maxBody before it is buffered', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 1, max: 64 }), (maxBody, over) => {
        const f = encodeFrame(7, Buffer.alloc(maxBody + over));
        // The header alone is enough to refuse it.
        const { error } = feed([f.subarray(0, HEADER_LEN)], maxBody);
        assert.ok(error instanceof FrameError);
      }),
      { numRuns: 200 },
    );
  });
});

describe('decodeMessageFrame (property)', () => {
  it('throws nothing but FrameError on arbitrary bytes', () => {
    fc.assert(
      fc.property(hostileBytes, (bytes) => {
        try {
          const f = decodeMessageFrame(Buffer.from(bytes));
          assert.ok(f.body.length <= DEFAULT_MAX_BODY);
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('decodes a valid frame, ignoring bytes after packLen', () => {
    fc.assert(
      fc.property(frameSpec(DEFAULT_MAX_BODY), fc.uint8Array({ maxLength: 64 }), (spec, trailer) => {
        const f = decodeMessageFrame(Buffer.concat([encode(spec), trailer]));
        assert.deepEqual(plain(f), plain(spec));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('splitFrames (property)', () => {
  it('is the inverse of concatenation', () => {
    fc.assert(
      fc.property(fc.array(frameSpec(), { maxLength: 12 }), (specs) => {
        assert.deepEqual(splitFrames(Buffer.concat(specs.map(encode))).map(plain), specs.map(plain));
      }),
      { numRuns: RUNS },
    );
  });

  it('throws nothing but FrameError on arbitrary bytes', () => {
    fc.assert(
      fc.property(hostileBytes, (bytes) => {
        try {
          splitFrames(Buffer.from(bytes));
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
        }
      }),
      { numRuns: RUNS },
    );
  });
});
