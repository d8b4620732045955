// Pure pieces of the comet: reply/push encodings, WebSocket headers, the sub/unsub parser,
// and the outbound cap and per-turn flushing.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseOpList } from '../../src/comet/client-protocol.js';
import { batchAfter, frameBytes, goimBatch, heartbeatReplyBytes, PushBytes, scanBatch } from '../../src/comet/frame-bytes.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import { Outbound, type Writable } from '../../src/comet/outbound.js';
import { wsFrame, wsHeaderLen, writeWsHeader } from '../../src/comet/ws-frame.js';
import { hex } from './harness.js';

describe('frame bytes', () => {
  it('auth and heartbeat replies (docs/goim-test-vectors.md)', () => {
    assert.deepEqual(frameBytes(false, 8, 1, 1), hex('00 00 00 10 00 10 00 01 00 00 00 08 00 00 00 01'));
    assert.deepEqual(frameBytes(true, 8, 1, 1), hex('82 10 00 00 00 10 00 10 00 01 00 00 00 08 00 00 00 01'));
    assert.deepEqual(heartbeatReplyBytes(false, 1, 1, 3), hex('00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 01 00 00 00 03'));
    assert.deepEqual(heartbeatReplyBytes(true, 1, 1, 3), hex('82 14 00 00 00 14 00 10 00 01 00 00 00 03 00 00 00 01 00 00 00 03'));
  });

  it('encodes a push once per transport and reuses the bytes', () => {
    const inner = hex('00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f');
    const p = new PushBytes({ ver: 1, op: 9, seq: 0, body: new Uint8Array(inner) });
    assert.deepEqual(p.tcp(), inner);
    assert.equal(p.tcp(), p.tcp(), 'same Buffer every time');
    assert.deepEqual(p.ws(), Buffer.concat([hex('82 25 00 00 00 25 00 10 00 01 00 00 00 09 00 00 00 00'), inner]));
    assert.equal(p.ws(), p.ws());
  });

  it('WebSocket header lengths at every boundary (docs/goim-test-vectors.md#websocket-payload-lengths)', () => {
    for (const [len, head] of [
      [0, '82 00'],
      [125, '82 7d'],
      [126, '82 7e 00 7e'],
      [200, '82 7e 00 c8'],
      [65535, '82 7e ff ff'],
      [65536, '82 7f 00 00 00 00 00 01 00 00'],
      [70016, '82 7f 00 00 00 00 00 01 11 80'],
      [2 ** 32 + 5, '82 7f 00 00 00 01 00 00 00 05'],
    ] as const) {
      const h = hex(head);
      const buf = Buffer.alloc(h.length);
      assert.equal(wsHeaderLen(len), h.length);
      assert.equal(writeWsHeader(buf, 2, len), h.length);
      assert.deepEqual(buf, h, `length ${len}`);
    }
    assert.deepEqual(wsFrame(0xa, Buffer.from('hi')), hex('8a 02 68 69'));
  });
});

describe('sub/unsub op lists', () => {
  it('parses goim SplitInt32s input', () => {
    assert.deepEqual(parseOpList(Buffer.from('')), []);
    assert.deepEqual(parseOpList(Buffer.from('1000')), [1000]);
    assert.deepEqual(parseOpList(Buffer.from('1000,-5,+7')), [1000, -5, 7]);
    assert.deepEqual(parseOpList(Buffer.from('2147483647,-2147483648')), [2147483647, -2147483648]);
    for (const bad of ['1,', ',1', '1,,2', ' 1', '1 ', '0x10', '1.5', '2147483648', '-2147483649', 'a', '+', '1e3']) {
      assert.equal(parseOpList(Buffer.from(bad)), null, JSON.stringify(bad));
    }
  });

  it('round-trips any int32 list', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -2147483648, max: 2147483647 }), { minLength: 1 }), (ops) => {
        assert.deepEqual(parseOpList(Buffer.from(ops.join(','))), ops);
      }),
    );
  });
});

/** A socket stand-in whose writableLength grows with writes while corked. */
class CorkSocket {
  writableLength = 0;
  corks = 0;
  readonly writes: Buffer[] = [];
  readonly flushes: number[] = [];
  cork(): void {
    this.corks++;
  }
  uncork(): void {
    this.corks--;
    this.flushes.push(this.writes.length);
  }
  write(b: Buffer): boolean {
    this.writes.push(b);
    this.writableLength += b.length;
    return true;
  }
}

function writable(): Writable & { socket: CorkSocket; reasons: string[] } {
  const socket = new CorkSocket();
  const w = {
    socket: socket as unknown as Socket & CorkSocket,
    pending: null as Buffer | null,
    corked: false,
    open: true,
    reasons: [] as string[],
    close(reason: string) {
      w.open = false;
      w.reasons.push(reason);
    },
  };
  return w;
}

describe('outbound', () => {
  it('holds the first write of a turn, corks only for a second, and flushes every socket once', async () => {
    const out = new Outbound({ capBytes: 1 << 20, replyReserve: 0, slowPolicy: 'drop' });
    const a = writable();
    const b = writable();
    const p1 = Buffer.alloc(10, 1);
    const r1 = Buffer.alloc(5, 2);
    const p2 = Buffer.alloc(7, 3);
    out.push(a, p1);
    assert.equal(a.socket.writes.length, 0, 'the first write waits for the end of the turn');
    out.reply(a, r1);
    out.push(b, p2);
    assert.deepEqual([a.socket.corks, b.socket.corks], [1, 0], 'only the socket written twice is corked');
    assert.deepEqual(a.socket.writes, [p1, r1], 'in order, behind the cork');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(b.socket.writes, [], 'still held while the immediates of the turn run');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([a.socket.corks, b.socket.corks], [0, 0]);
    assert.deepEqual(a.socket.flushes, [2], 'both writes left in one flush');
    assert.deepEqual(b.socket.writes, [p2], 'a single write goes out as it is');
    assert.deepEqual(b.socket.flushes, [], 'without cork/uncork');
    assert.equal(a.corked, false);
    assert.equal(b.pending, null);
    assert.equal(out.socketWrites, 2, 'one write call per socket for the turn');
  });

  it('writes nothing held for a connection closed before the end of the turn', async () => {
    const out = new Outbound({ capBytes: 1 << 20, replyReserve: 0, slowPolicy: 'drop' });
    const a = writable();
    out.push(a, Buffer.alloc(10));
    a.close('gone');
    await new Promise((r) => setImmediate(() => setImmediate(r)));
    assert.deepEqual(a.socket.writes, []);
  });

  it('drops pushes beyond the cap minus the reply reserve; replies may use the reserve', () => {
    const out = new Outbound({ capBytes: 100, replyReserve: 30, slowPolicy: 'drop' });
    const w = writable();
    out.push(w, Buffer.alloc(70));
    out.push(w, Buffer.alloc(1));
    assert.equal(out.pushesDropped, 1);
    out.reply(w, Buffer.alloc(30));
    assert.equal(w.socket.writableLength, 100);
    assert.equal(w.open, true);
    out.reply(w, Buffer.alloc(1));
    assert.equal(w.open, false, 'replies past the full cap close the connection');
    assert.equal(out.slowDisconnects, 1);
  });

  it('disconnect policy closes instead of dropping; closed connections get nothing', () => {
    const out = new Outbound({ capBytes: 100, replyReserve: 0, slowPolicy: 'disconnect' });
    const w = writable();
    out.push(w, Buffer.alloc(101));
    assert.equal(w.open, false);
    assert.match(w.reasons[0], /slow reader/);
    assert.deepEqual([out.pushesDropped, out.slowDisconnects], [0, 1]);
    out.push(w, Buffer.alloc(1));
    assert.equal(w.socket.writes.length, 0);
  });
});

describe('room batches with offsets (docs/history.md#opting-in)', () => {
  const frame = (op: number, seq: number, body: string): Buffer => {
    const f = encodeFrame(op, Buffer.from(body), 1, 0);
    f.writeUInt32BE(seq, 12);
    return f;
  };

  it('scanBatch: highest and lowest offset (32-bit unsigned), op 18 tags without an offset, a malformed tail ends the walk', () => {
    const body = Buffer.concat([frame(18, 0, '{}'), frame(1000, 7, 'a'), frame(1000, 0xfffffffe, 'b'), Buffer.from([0, 0, 0, 99, 0])]);
    assert.deepEqual(scanBatch(body), { offset: 0xfffffffe, first: 7, tagged: true });
    assert.deepEqual(scanBatch(Buffer.concat([frame(18, 0, '{}')])), { offset: 0, first: 0, tagged: true });
    assert.deepEqual(scanBatch(Buffer.concat([frame(1000, 0, 'x'), frame(1001, 0, 'y')])), { offset: 0, first: 0, tagged: false });
  });

  it('goimBatch: op 18 dropped, seq 0 everywhere, the original untouched; null when nothing changes', () => {
    const body = Buffer.concat([frame(18, 0, '{}'), frame(1000, 7, 'a'), frame(1000, 8, 'b')]);
    const copy = Buffer.from(body);
    assert.deepEqual(goimBatch(body), Buffer.concat([frame(1000, 0, 'a'), frame(1000, 0, 'b')]));
    assert.deepEqual(body, copy);
    assert.equal(goimBatch(Buffer.concat([frame(1000, 0, 'a')])), null);
  });

  it('batchAfter: drops the messages at or below the last replayed offset, keeps op 18 and seq-0 frames', () => {
    const body = Buffer.concat([frame(1000, 4, 'a'), frame(18, 0, '{}'), frame(1000, 0, 'n'), frame(1000, 5, 'b')]);
    assert.deepEqual(batchAfter(body, 4), Buffer.concat([frame(18, 0, '{}'), frame(1000, 0, 'n'), frame(1000, 5, 'b')]));
    assert.equal(batchAfter(body, 3), null);
  });
});
