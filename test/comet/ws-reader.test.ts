// The client-frame reader of the WebSocket listener (ws-reader.ts) on byte streams cut at
// every possible point; websocket.test.ts covers the same rules over real sockets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_FRAGMENTS, WsProtocolError, WsReader, type WsHandlers } from '../../src/comet/ws-reader.js';

interface Seen {
  events: string[];
  open: boolean;
  /** Frames reported through `partial` (pings, pongs, fragments). */
  partials?: number;
}

const handlers: WsHandlers<Seen> = {
  message: (s, data) => void s.events.push(`message ${data.toString('latin1')}`),
  ping: (s, data) => void s.events.push(`ping ${data.toString('latin1')}`),
  close: (s) => {
    s.events.push('close');
    s.open = false;
  },
  partial: (s) => {
    s.partials = (s.partials ?? 0) + 1;
    return s.open;
  },
  open: (s) => s.open,
};

/** One client frame, masked unless told otherwise. */
function frame(opcode: number, payload: string | Buffer, opts: { fin?: boolean; mask?: boolean; rsv?: number } = {}): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const mask = opts.mask ?? true;
  const len = body.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = ((opts.fin ?? true) ? 0x80 : 0) | (opts.rsv ?? 0) | opcode;
  head[1] = (mask ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, body]);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  key.copy(head, 2 + ext);
  const out = Buffer.from(body);
  for (let i = 0; i < len; i++) out[i] ^= key[i & 3];
  return Buffer.concat([head, out]);
}

/** Feeds `bytes` in pieces ending at `cuts`; returns what was reported. */
function read(bytes: Buffer, cuts: number[] = [], maxPayload = 8192): Seen {
  const seen: Seen = { events: [], open: true };
  const reader = new WsReader(seen, handlers, maxPayload);
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    // A copy per piece: the reader unmasks in place, as it may with a socket's chunk.
    reader.push(Buffer.from(bytes.subarray(at, cut)));
    at = cut;
  }
  return seen;
}

function readError(bytes: Buffer, maxPayload = 8192): WsProtocolError {
  try {
    read(bytes, [], maxPayload);
  } catch (err) {
    assert.ok(err instanceof WsProtocolError, String(err));
    return err;
  }
  assert.fail('no error');
}

describe('WsReader', () => {
  const stream = Buffer.concat([
    frame(0x2, 'first'),
    frame(0x1, 'x'.repeat(200)), // 16-bit length; text is data like binary
    frame(0x2, 'frag', { fin: false }),
    frame(0x9, 'p'), // a control frame between fragments
    frame(0x0, 'men', { fin: false }),
    frame(0xa, 'ignored pong'),
    frame(0x0, 'ted'),
    frame(0x2, ''),
    frame(0x2, Buffer.alloc(70_000, 0x61)), // 64-bit length
  ]);
  const expected = ['message first', `message ${'x'.repeat(200)}`, 'ping p', 'message fragmented', 'message ', `message ${'a'.repeat(70_000)}`];

  it('reads a stream given whole, and cut at every single point', () => {
    assert.deepEqual(read(stream, [], 100_000).events, expected);
    for (let cut = 1; cut < stream.length; cut += cut < 400 ? 1 : 997) {
      assert.deepEqual(read(stream, [cut], 100_000).events, expected, `cut at ${cut}`);
    }
  });

  it('reads a stream given one byte at a time', () => {
    const cuts = Array.from({ length: 400 }, (_, i) => i + 1);
    assert.deepEqual(read(stream, cuts, 100_000).events, expected);
  });

  it('keeps nothing between messages', () => {
    const seen: Seen = { events: [], open: true };
    const reader = new WsReader(seen, handlers, 8192);
    const f = frame(0x2, 'hello');
    reader.push(f.subarray(0, 3));
    assert.equal(reader.buffered, 3);
    reader.push(f.subarray(3));
    assert.equal(reader.buffered, 0);
  });

  it('unmasks the masked heartbeat vector', () => {
    const bytes = Buffer.from('8290' + '37fa213d' + '37fa212d37ea213c37fa213f37fa213c', 'hex');
    const seen: Seen = { events: [], open: true };
    let got: Buffer | undefined;
    new WsReader(seen, { ...handlers, message: (_, d) => (got = Buffer.from(d)) }, 8192).push(bytes);
    assert.deepEqual(got, Buffer.from('00000010001000010000000200000001', 'hex'));
  });

  it('stops at a Close frame: what follows is not read', () => {
    assert.deepEqual(read(Buffer.concat([frame(0x2, 'a'), frame(0x8, '\x03\xe8'), frame(0x2, 'b')])).events, ['message a', 'close']);
  });

  it('stops when the owner is closed by a message', () => {
    const seen: Seen = { events: [], open: true };
    const closing: WsHandlers<Seen> = { ...handlers, message: (s, d) => (s.events.push(d.toString()), (s.open = false)) };
    new WsReader(seen, closing, 8192).push(Buffer.concat([frame(0x2, 'a'), frame(0x2, 'b')]));
    assert.deepEqual(seen.events, ['a']);
  });

  it('reports every frame that is not a whole message, and stops when one is refused', () => {
    const seen = read(
      Buffer.concat([
        frame(0x2, 'a', { fin: false }),
        frame(0x9, 'p'),
        frame(0x0, 'b', { fin: false }),
        frame(0xa, ''),
        frame(0x0, 'c'),
        frame(0x2, 'whole'),
      ]),
    );
    assert.deepEqual(seen.events, ['ping p', 'message abc', 'message whole']);
    assert.equal(seen.partials, 5);

    const refused: Seen = { events: [], open: true };
    const budget: WsHandlers<Seen> = { ...handlers, partial: (s) => (s.partials = (s.partials ?? 0) + 1) < 3 };
    new WsReader(refused, budget, 8192).push(Buffer.concat([frame(0x9, '1'), frame(0x9, '2'), frame(0x9, '3'), frame(0x9, '4')]));
    assert.deepEqual(refused.events, ['ping 1', 'ping 2']);
  });

  it(`refuses a message in more than ${MAX_FRAGMENTS} fragments, empty ones included`, () => {
    const empty = frame(0x0, '', { fin: false });
    const within = Buffer.concat([frame(0x2, 'x', { fin: false }), ...Array.from({ length: MAX_FRAGMENTS - 2 }, () => empty), frame(0x0, 'y')]);
    assert.deepEqual(read(within).events, ['message xy']);
    // Cut at every point: a frame's header seen twice is still one fragment.
    for (let cut = 1; cut < within.length; cut += 7) assert.deepEqual(read(within, [cut]).events, ['message xy']);
    const over = Buffer.concat([frame(0x2, '', { fin: false }), ...Array.from({ length: MAX_FRAGMENTS }, () => empty)]);
    assert.match(readError(over).message, new RegExp(`more than ${MAX_FRAGMENTS} fragments`));
  });

  it('copies fragments: the chunk they came in is not kept', () => {
    const seen: Seen = { events: [], open: true };
    const reader = new WsReader(seen, handlers, 8192);
    const chunk = Buffer.concat([frame(0x2, 'abc', { fin: false })]);
    reader.push(chunk);
    chunk.fill(0x21); // the socket's buffer reused
    reader.push(frame(0x0, 'def'));
    assert.deepEqual(seen.events, ['message abcdef']);
  });

  const errors: Array<[string, Buffer, RegExp]> = [
    ['an unmasked frame', frame(0x2, 'a', { mask: false }), /MASK must be set/],
    ['RSV1 set', frame(0x2, 'a', { rsv: 0x40 }), /RSV/],
    ['RSV3 set', frame(0x2, 'a', { rsv: 0x10 }), /RSV/],
    ['an unknown data opcode', frame(0x3, 'a'), /invalid opcode 3/],
    ['an unknown control opcode', frame(0xb, 'a'), /invalid opcode 11/],
    ['a continuation with no message', frame(0x0, 'a'), /invalid opcode 0/],
    ['a new message inside a fragmented one', Buffer.concat([frame(0x2, 'a', { fin: false }), frame(0x1, 'b')]), /invalid opcode 1/],
    ['a fragmented ping', frame(0x9, 'a', { fin: false }), /FIN must be set/],
    ['a ping over 125 bytes', frame(0x9, 'p'.repeat(126)), /control frame payload length 126/],
  ];
  for (const [name, bytes, message] of errors) {
    it(`refuses ${name}`, () => {
      const err = readError(bytes);
      assert.match(err.message, message);
      assert.equal(err.tooLarge, false);
    });
  }

  it('refuses a message over the limit from its header, before the payload arrives', () => {
    const head = frame(0x2, Buffer.alloc(9000)).subarray(0, 8);
    const err = readError(head);
    assert.match(err.message, /exceeds limit 8192/);
    assert.equal(err.tooLarge, true);
    const huge = Buffer.from('82ff' + '0000010000000000' + '37fa213d', 'hex'); // 2^40 bytes
    assert.equal(readError(huge).tooLarge, true);
  });

  it('counts every fragment against the limit', () => {
    const parts = Buffer.concat([frame(0x2, Buffer.alloc(5000), { fin: false }), frame(0x0, Buffer.alloc(5000))]);
    assert.equal(readError(parts).tooLarge, true);
    const fits = Buffer.concat([frame(0x2, Buffer.alloc(4096), { fin: false }), frame(0x0, Buffer.alloc(4096))]);
    assert.equal(read(fits).events.length, 1);
  });
});
