import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CodecError,
  FrameStreamReader,
  HEADER_LEN,
  type DecodedFrame,
  decodeFrame,
  eachFrame,
  encodeFrame,
  messageFrames,
  onlineCount,
  roomMessage,
  text,
  utf8,
  stringifyToken,
  backoffDelay,
  nodeTcpAddresses,
  nodeUrls,
  resolveBackoff,
} from 'tsim-client';
import { hex } from './fake-comet.js';

const bytes = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

// docs/goim-test-vectors.md
const V10_1 =
  '00 00 00 62 00 10 00 01 00 00 00 07 00 00 00 01 7b 22 6d 69 64 22 3a 31 32 33 2c 20 22 72 6f 6f 6d 5f 69 64 22 3a 22 6c 69 76 65 3a 2f 2f 31 30 30 30 22 2c 20 22 70 6c 61 74 66 6f 72 6d 22 3a 22 77 65 62 22 2c 20 22 61 63 63 65 70 74 73 22 3a 5b 31 30 30 30 2c 31 30 30 31 2c 31 30 30 32 5d 7d';
const JS_TOKEN = '{"mid":123, "room_id":"live://1000", "platform":"web", "accepts":[1000,1001,1002]}';
const V10_7_WS_PAYLOAD =
  '00 00 00 44 00 10 00 01 00 00 00 09 00 00 00 00 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d';
const V10_7_TCP =
  '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d';

describe('client codec: goim test vectors', () => {
  it('auth request with the JavaScript example token', () => {
    const frame = encodeFrame(7, JS_TOKEN, 1, 1);
    assert.equal(frame.length, 98);
    assert.deepEqual(bytes(frame), hex(V10_1));
  });

  it('compact and Go-benchmark auth requests', () => {
    assert.deepEqual(
      bytes(encodeFrame(7, '{"mid":1,"room_id":"live://1000","accepts":[1000]}', 1, 1)),
      hex(
        '00 00 00 42 00 10 00 01 00 00 00 07 00 00 00 01 7b 22 6d 69 64 22 3a 31 2c 22 72 6f 6f 6d 5f 69 64 22 3a 22 6c 69 76 65 3a 2f 2f 31 30 30 30 22 2c 22 61 63 63 65 70 74 73 22 3a 5b 31 30 30 30 5d 7d',
      ),
    );
    const bench = '{"mid":1,"key":"","room_id":"test://1","platform":"ios","accepts":[1000,1001,1002]}';
    assert.deepEqual(bytes(encodeFrame(7, utf8(bench), 1, 0)).subarray(0, 16), hex('00 00 00 63 00 10 00 01 00 00 00 07 00 00 00 00'));
  });

  it('heartbeat and change-room frames', () => {
    assert.deepEqual(bytes(encodeFrame(2, undefined, 1, 1)), hex('00 00 00 10 00 10 00 01 00 00 00 02 00 00 00 01'));
    assert.deepEqual(bytes(encodeFrame(2, new Uint8Array(0), 0, 1)), hex('00 00 00 10 00 10 00 00 00 00 00 02 00 00 00 01'));
    assert.deepEqual(
      bytes(encodeFrame(13, 'live://1001', 1, 7)),
      hex('00 00 00 1b 00 10 00 01 00 00 00 0d 00 00 00 07 6c 69 76 65 3a 2f 2f 31 30 30 31'),
    );
  });

  it('auth and heartbeat replies decode', () => {
    const auth = decodeFrame(hex('00 00 00 10 00 10 00 01 00 00 00 08 00 00 00 01'));
    assert.deepEqual({ ...auth, body: [...auth!.body] }, { ver: 1, op: 8, seq: 1, body: [], packLen: 16 });
    const hb = decodeFrame(hex('00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 01 00 00 00 03'))!;
    assert.equal(hb.op, 3);
    assert.equal(hb.seq, 1);
    assert.equal(onlineCount(hb.body), 3);
    assert.equal(onlineCount(new Uint8Array(0)), 0);
  });

  it('room batch: op-9 iteration yields the two inner frames', () => {
    const frames = messageFrames(hex(V10_7_WS_PAYLOAD));
    assert.equal(frames.length, 2);
    assert.deepEqual(
      frames.map((f) => ({ ver: f.ver, op: f.op, seq: f.seq, packLen: f.packLen, text: text(f.body) })),
      [
        { ver: 1, op: 1000, seq: 0, packLen: 26, text: '{"test":1}' },
        { ver: 1, op: 1000, seq: 0, packLen: 26, text: '{"test":2}' },
      ],
    );
    // The same two frames back to back, as a TCP client receives them.
    assert.deepEqual(
      [...eachFrame(hex(V10_7_TCP))].map((f) => text(f.body)),
      ['{"test":1}', '{"test":2}'],
    );
  });

  it('single push envelope; a non-op-9 message is its own frame', () => {
    const ws = hex('00 00 00 25 00 10 00 01 00 00 00 09 00 00 00 00 00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f');
    const [push, ...rest] = messageFrames(ws);
    assert.equal(rest.length, 0);
    assert.equal(push.op, 1000);
    assert.equal(text(push.body), 'hello');
    const echo = messageFrames(hex('00 00 00 10 00 10 00 01 00 00 00 04 00 00 00 05'));
    assert.deepEqual(
      echo.map((f) => [f.op, f.seq, f.body.length]),
      [[4, 5, 0]],
    );
    // An empty envelope (goim's echo of a client op 9 on WebSocket) holds no frames.
    assert.deepEqual(messageFrames(encodeFrame(9, undefined, 1, 3)), []);
  });
});

describe('client codec: framing rules', () => {
  it('round-trips any frame', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -0x80000000, max: 0x7fffffff }),
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: -0x8000, max: 0x7fff }),
        fc.integer({ min: -0x80000000, max: 0x7fffffff }),
        (op, body, ver, seq) => {
          const enc = encodeFrame(op, body, ver, seq);
          assert.equal(enc.length, HEADER_LEN + body.length);
          const dec = decodeFrame(enc, 0)!;
          assert.deepEqual([dec.op, dec.ver, dec.seq, dec.packLen], [op, ver, seq, enc.length]);
          assert.deepEqual([...dec.body], [...body]);
        },
      ),
    );
  });

  it('keeps only the low 16 bits of ver, as goim does', () => {
    assert.equal(decodeFrame(encodeFrame(2, undefined, 0x10001, 1))!.ver, 1);
  });

  it('decodes at an offset and reports incomplete frames as null', () => {
    const two = hex(V10_7_TCP);
    const second = decodeFrame(two, 26)!;
    assert.equal(text(second.body), '{"test":2}');
    assert.equal(decodeFrame(two.subarray(0, 15)), null);
    assert.equal(decodeFrame(two.subarray(0, 25)), null);
  });

  it('rejects impossible headers', () => {
    assert.throws(() => decodeFrame(hex('00 00 00 10 00 08 00 01 00 00 00 02 00 00 00 01')), CodecError); // headerLen 8
    assert.throws(() => decodeFrame(hex('00 00 00 0f 00 10 00 01 00 00 00 02 00 00 00 01')), CodecError); // packLen 15
    assert.throws(() => decodeFrame(hex('ff ff ff ff 00 10 00 01 00 00 00 02 00 00 00 01')), CodecError); // negative
    assert.throws(() => [...eachFrame(hex(V10_7_TCP).subarray(0, 40))], CodecError); // truncated inner frame
    assert.throws(() => messageFrames(hex('00 00 00 10 00 10')), CodecError);
  });

  it('honours headerLen > 16 when locating the body (as goim’s JavaScript client)', () => {
    const f = hex('00 00 00 16 00 12 00 01 00 00 03 e8 00 00 00 00 ff ff 68 69 21 21');
    assert.equal(text(decodeFrame(f)!.body), 'hi!!');
  });

  it('FrameStreamReader reassembles frames split at every possible point', () => {
    const stream = hex(V10_7_TCP + ' 00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 01 00 00 00 07');
    for (let cut1 = 0; cut1 <= stream.length; cut1++) {
      for (const cut2 of [cut1, Math.min(stream.length, cut1 + 1), Math.min(stream.length, cut1 + 17)]) {
        const reader = new FrameStreamReader();
        const got: DecodedFrame[] = [];
        for (const part of [stream.subarray(0, cut1), stream.subarray(cut1, cut2), stream.subarray(cut2)]) {
          reader.push(part, (f) => got.push(f));
        }
        assert.deepEqual(
          got.map((f) => [f.op, text(f.body)]),
          [
            [1000, '{"test":1}'],
            [1000, '{"test":2}'],
            [3, '\0\0\0\x07'],
          ],
        );
        assert.equal(reader.buffered, 0);
      }
    }
  });

  it('FrameStreamReader refuses frames above its limit', () => {
    const reader = new FrameStreamReader(1024);
    assert.throws(() => reader.push(hex('00 00 10 00 00 10 00 01 00 00 03 e8 00 00 00 00'), () => {}), CodecError);
  });
});

describe('client tokens, back-off and nodes', () => {
  it('writes bigint mids as JSON integers', () => {
    assert.equal(stringifyToken({ mid: 9007199254740993n, room_id: 'live://1' }), '{"mid":9007199254740993,"room_id":"live://1"}');
    assert.equal(stringifyToken({ mid: -5n }), '{"mid":-5}');
  });

  it('back-off grows by factor up to max, within ±jitter', () => {
    const b = { baseMs: 1000, maxMs: 10_000, factor: 2, jitter: 0.5 };
    const mid = (): number => 0.5; // jitter term 0
    assert.deepEqual(
      [0, 1, 2, 3, 4, 10].map((a) => backoffDelay(b, a, mid)),
      [1000, 2000, 4000, 8000, 10_000, 10_000],
    );
    assert.equal(
      backoffDelay(b, 1, () => 0),
      1000,
    ); // −50 %
    assert.equal(
      backoffDelay(b, 1, () => 1),
      3000,
    ); // +50 %
  });

  it('takes back-off from /goim/nodes/weighted unless given explicitly', () => {
    const nodes = { backoff: { max_delay: 300, base_delay: 3, factor: 1.8, jitter: 0.3 } };
    assert.deepEqual(resolveBackoff(undefined, nodes), { baseMs: 3000, maxMs: 300_000, factor: 1.8, jitter: 0.3 });
    assert.deepEqual(resolveBackoff({ baseMs: 10, jitter: undefined }, nodes), { baseMs: 10, maxMs: 300_000, factor: 1.8, jitter: 0.3 });
    assert.deepEqual(resolveBackoff(undefined, {}), { baseMs: 1000, maxMs: 30_000, factor: 1.8, jitter: 0.3 });
  });

  it('builds comet addresses from /goim/nodes/weighted', () => {
    const data = { domain: 'conn.goim.io', tcp_port: 3101, ws_port: 3102, wss_port: 3103, nodes: ['a.goim.io', '', '::1'] };
    assert.deepEqual(nodeUrls(data), ['ws://a.goim.io:3102/sub', 'ws://[::1]:3102/sub']);
    assert.deepEqual(nodeUrls(data, true), ['wss://a.goim.io:3103/sub', 'wss://[::1]:3103/sub']);
    assert.deepEqual(nodeTcpAddresses(data), ['a.goim.io:3101', '[::1]:3101']);
    assert.deepEqual(nodeUrls({ domain: 'conn.goim.io', ws_port: 3102 }), ['ws://conn.goim.io:3102/sub']);
  });

  it('reads an op-23 room message: the room, then its frames; a room that does not fit is an error', () => {
    const frame = encodeFrame(1000, 'hi');
    const body = new Uint8Array([0, 9, ...utf8('bytes://1'), ...frame]);
    const { room, frames } = roomMessage(body);
    assert.equal(room, 'bytes://1');
    assert.deepEqual(
      [...eachFrame(frames)].map((f) => [f.op, text(f.body)]),
      [[1000, 'hi']],
    );
    assert.throws(() => roomMessage(new Uint8Array([0])), CodecError);
    assert.throws(() => roomMessage(new Uint8Array([0, 5, 0x61])), CodecError);
  });
});
