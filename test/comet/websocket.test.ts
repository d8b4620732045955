// The WebSocket listener's own frame reading and handshake over real sockets (docs/protocol.md#websocket):
// frames cut anywhere by TCP, fragments with control frames between them, the size limit,
// protocol errors, half-close, and the upgrade's answers. malformed.test.ts has the rest.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LimitHits } from '../../src/metrics/limit-hits.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { Op } from '../../src/protocol/ops.js';
import { hex, innerFrame, rawProto, startComet, type Harness } from './harness.js';
import { eventually } from '../support/eventually.js';

/** One masked client frame. */
function wsFrame(opcode: number, payload: Buffer, opts: { fin?: boolean; rsv?: number } = {}): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(6 + ext);
  head[0] = ((opts.fin ?? true) ? 0x80 : 0) | (opts.rsv ?? 0) | opcode;
  head[1] = 0x80 | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  const key = randomBytes(4);
  key.copy(head, 2 + ext);
  const body = Buffer.from(payload);
  for (let i = 0; i < len; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, body]);
}

const heartbeat = (seq: number): Buffer => encodeFrame(Op.Heartbeat, Buffer.alloc(0), 1, seq);

function upgradeRequest(headers: Record<string, string> = {}, method = 'GET'): { text: string; key: string } {
  const key = randomBytes(16).toString('base64');
  const all: Record<string, string> = {
    Host: 'x',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`);
  return { text: `${method} /sub HTTP/1.1\r\n${lines.join('')}\r\n`, key };
}

/** A raw socket on the WebSocket port that records every byte it receives. */
class RawWs {
  received = Buffer.alloc(0);
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => (this.received = Buffer.concat([this.received, d])));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(port: number): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.setNoDelay(true);
      s.once('connect', () => resolve(new RawWs(s)));
      s.once('error', reject);
    });
  }

  /** Upgrades (optionally sending `after` in the same write as the request); resolves with the response head. */
  static async upgraded(port: number, after: Buffer = Buffer.alloc(0)): Promise<RawWs> {
    const c = await RawWs.open(port);
    const { text, key } = upgradeRequest();
    c.socket.write(Buffer.concat([Buffer.from(text), after]));
    const head = await c.head();
    assert.match(head, /^HTTP\/1\.1 101 /);
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    assert.ok(head.includes(`\r\nSec-WebSocket-Accept: ${accept}\r\n`), head);
    assert.doesNotMatch(head, /Sec-WebSocket-Protocol/i, 'no subprotocol was offered');
    c.received = c.received.subarray(c.received.indexOf('\r\n\r\n') + 4);
    return c;
  }

  /** The HTTP response head, once it has arrived. */
  async head(): Promise<string> {
    await this.until(() => this.received.includes('\r\n\r\n'));
    return this.received.subarray(0, this.received.indexOf('\r\n\r\n') + 4).toString('latin1');
  }

  /** Server frames received so far, as [opcode, payload]. */
  frames(): Array<[number, Buffer]> {
    const out: Array<[number, Buffer]> = [];
    let off = 0;
    while (this.received.length - off >= 2) {
      let len = this.received[off + 1] & 0x7f;
      let at = off + 2;
      if (len === 126) {
        len = this.received.readUInt16BE(at);
        at += 2;
      }
      if (this.received.length < at + len) break;
      out.push([this.received[off] & 0x0f, this.received.subarray(at, at + len)]);
      off = at + len;
    }
    return out;
  }

  /** The goim ops of the binary messages received so far. */
  ops(): number[] {
    return this.frames()
      .filter(([opcode]) => opcode === 0x2)
      .map(([, p]) => p.readInt32BE(8));
  }

  /** Waits for `check` to hold; a timeout names what was received. */
  async until(check: () => boolean, timeoutMs = 5000): Promise<void> {
    await eventually(check, 'the frames', timeoutMs).catch((e: Error) => {
      throw new Error(`${e.message}; received ${JSON.stringify(this.received.toString('latin1'))}`);
    });
  }
}

describe('WebSocket frames and handshake', () => {
  let h: Harness;
  let hits: LimitHits;
  before(async () => {
    hits = new LimitHits();
    h = await startComet({}, undefined, { limits: hits });
  });
  after(() => h.stop());

  it('reads frames whose bytes arrive one by one, and several frames in one chunk', async () => {
    const c = await RawWs.upgraded(h.wsPort);
    const auth = wsFrame(0x2, encodeFrame(Op.Auth, Buffer.from('{}'), 1, 1));
    for (const byte of auth) {
      c.socket.write(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 1));
    }
    await c.until(() => c.ops().length === 1);
    c.socket.write(Buffer.concat([wsFrame(0x2, heartbeat(2)), wsFrame(0x2, heartbeat(3)), wsFrame(0x2, heartbeat(4))]));
    await c.until(() => c.ops().length === 4);
    assert.deepEqual(c.ops(), [Op.AuthReply, Op.HeartbeatReply, Op.HeartbeatReply, Op.HeartbeatReply]);
    c.socket.destroy();
  });

  it('reads frames that came in the same packet as the upgrade request', async () => {
    const c = await RawWs.upgraded(h.wsPort, wsFrame(0x2, encodeFrame(Op.Auth, Buffer.from('{}'), 1, 1)));
    await c.until(() => c.ops().length === 1);
    assert.deepEqual(c.ops(), [Op.AuthReply]);
    c.socket.destroy();
  });

  it('joins fragments, answers a ping sent between them first, and ignores pongs', async () => {
    const c = await RawWs.upgraded(h.wsPort);
    const auth = encodeFrame(Op.Auth, Buffer.from('{"room_id":"frag://1"}'), 1, 1);
    c.socket.write(
      Buffer.concat([
        wsFrame(0x2, auth.subarray(0, 3), { fin: false }),
        wsFrame(0x9, Buffer.from('between')),
        wsFrame(0x0, auth.subarray(3, 20), { fin: false }),
        wsFrame(0xa, Buffer.from('unsolicited')),
        wsFrame(0x0, auth.subarray(20)),
      ]),
    );
    await c.until(() => c.frames().length === 2);
    const [[pong, data], [binary]] = c.frames();
    assert.deepEqual([pong, data.toString(), binary], [0xa, 'between', 0x2]);
    assert.deepEqual(c.ops(), [Op.AuthReply]);
    h.comet.broadcastRoom('frag://1', rawProto(innerFrame(5, 'still open')));
    await c.until(() => c.ops().length === 2);
    c.socket.destroy();
  });

  it('closes on a message over the limit, counted, as soon as its header arrives', async () => {
    const rejected = h.comet.counters().wsFramesRejected;
    const before = hits.snapshot().client_frame_size ?? 0;
    const c = await RawWs.upgraded(h.wsPort);
    c.socket.write(hex('82 ff 00 00 01 00 00 00 00 00 37 fa 21 3d')); // 2^40 bytes announced, none sent
    await c.closed;
    assert.equal(c.received.length, 0);
    assert.equal(h.comet.counters().wsFramesRejected, rejected + 1);
    assert.equal(hits.snapshot().client_frame_size, before + 1);
  });

  it('closes on fragments that add up to more than the limit', async () => {
    const c = await RawWs.upgraded(h.wsPort);
    c.socket.write(wsFrame(0x2, Buffer.alloc(5000), { fin: false }));
    c.socket.write(wsFrame(0x0, Buffer.alloc(5000)));
    await c.closed;
    assert.equal(c.received.length, 0);
  });

  it('closes a message of endless empty fragments, before auth, at the fragment limit', async () => {
    const rejected = h.comet.counters().wsFramesRejected;
    const c = await RawWs.upgraded(h.wsPort);
    const empty = wsFrame(0x0, Buffer.alloc(0), { fin: false });
    c.socket.write(Buffer.concat([wsFrame(0x2, Buffer.alloc(0), { fin: false }), ...Array.from({ length: 70 }, () => empty)]));
    await c.closed;
    assert.equal(c.received.length, 0);
    assert.equal(h.comet.counters().wsFramesRejected, rejected + 1);
  });

  it('counts pings and fragments against the upstream frame rate', async () => {
    const before = hits.snapshot().upstream_frame_rate ?? 0;
    // 150 pings: past the default burst of 100, each answered until then.
    const pinger = await RawWs.upgraded(h.wsPort);
    pinger.socket.write(Buffer.concat(Array.from({ length: 150 }, () => wsFrame(0x9, Buffer.from('p')))));
    await pinger.closed;
    assert.ok(pinger.frames().length <= 100, `${pinger.frames().length} pongs`);
    // Fragments of 1 byte, each its own frame: within the fragment limit, past the rate.
    const fragmenter = await RawWs.upgraded(h.wsPort);
    const auth = encodeFrame(Op.Auth, Buffer.from('{"key":"fragments-rate"}'), 1, 1); // 40 bytes
    for (let round = 0; round < 3; round++) {
      const pieces = [...auth].map((b, i) => wsFrame(i === 0 ? 0x2 : 0x0, Buffer.from([b]), { fin: i === auth.length - 1 }));
      fragmenter.socket.write(Buffer.concat(pieces));
    }
    await fragmenter.closed;
    assert.equal((hits.snapshot().upstream_frame_rate ?? 0) - before, 2);
  });

  const violations: Array<[string, Buffer]> = [
    ['RSV1 set (no extension was agreed)', wsFrame(0x2, heartbeat(1), { rsv: 0x40 })],
    ['an unknown opcode', wsFrame(0x3, heartbeat(1))],
    ['a continuation frame outside a message', wsFrame(0x0, heartbeat(1))],
    [
      'a data frame inside a fragmented message',
      Buffer.concat([wsFrame(0x2, heartbeat(1).subarray(0, 4), { fin: false }), wsFrame(0x2, heartbeat(2))]),
    ],
    ['a fragmented ping', wsFrame(0x9, Buffer.from('x'), { fin: false })],
    ['a ping of 126 bytes', wsFrame(0x9, Buffer.alloc(126))],
  ];
  for (const [name, bytes] of violations) {
    it(`closes on ${name}, writing nothing`, async () => {
      const c = await RawWs.upgraded(h.wsPort);
      c.socket.write(bytes);
      await c.closed;
      assert.equal(c.received.length, 0);
    });
  }

  it('reads nothing after a Close frame sent in the same chunk', async () => {
    const c = await RawWs.upgraded(h.wsPort);
    c.socket.write(Buffer.concat([wsFrame(0x8, hex('03 e8')), wsFrame(0x2, heartbeat(1))]));
    await c.closed;
    assert.equal(c.received.length, 0);
  });

  it('closes when the client half-closes, and tells logic', async () => {
    const c = await RawWs.upgraded(h.wsPort);
    c.socket.write(wsFrame(0x2, encodeFrame(Op.Auth, Buffer.from('{"key":"half-closer"}'), 1, 1)));
    await c.until(() => c.ops().length === 1);
    c.socket.end();
    await c.closed;
    await h.logic.waitFor('disconnect', (r) => r.key === 'half-closer');
  });

  it('answers a bad upgrade with an HTTP error, as ws did', async () => {
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{ 'Sec-WebSocket-Version': '12' }, 'GET', /^HTTP\/1\.1 400 [^]*\r\nSec-WebSocket-Version: 13, 8\r\n/],
      [{ 'Sec-WebSocket-Key': 'short' }, 'GET', /^HTTP\/1\.1 400 /],
      [{ Upgrade: 'h2c' }, 'GET', /^HTTP\/1\.1 400 /],
      [{ 'Sec-WebSocket-Protocol': 'a, a' }, 'GET', /^HTTP\/1\.1 400 /],
      [{}, 'POST', /^HTTP\/1\.1 405 /],
    ];
    for (const [headers, method, answer] of cases) {
      const c = await RawWs.open(h.wsPort);
      c.socket.write(upgradeRequest(headers, method).text);
      await c.closed;
      assert.match(c.received.toString('latin1'), answer, JSON.stringify(headers));
    }
  });

  it('answers the first subprotocol offered, as ws did (none when none is: see upgraded())', async () => {
    const c = await RawWs.open(h.wsPort);
    c.socket.write(upgradeRequest({ 'Sec-WebSocket-Protocol': 'goim, other' }).text);
    const head = await c.head();
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /\r\nSec-WebSocket-Protocol: goim\r\n/);
    c.socket.destroy();
  });
});
