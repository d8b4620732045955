// Pushes from job (docs/protocol.md#pushes-on-the-wire, docs/internal-protocol.md#goimcometcomet) with the exact Proto job sends, checked
// byte for byte on both transports (docs/goim-test-vectors.md).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { GoimTestClient } from '../support/goim-client.js';
import { hex, innerFrame, rawProto, startComet, type Harness } from './harness.js';

/** Bytes received after `from` (TCP). */
function since(c: GoimTestClient, from: number): Buffer {
  return c.rawBytes().subarray(from);
}

describe('pushes on the wire', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  it('key push: TCP gets the inner frame, WebSocket the op-9 envelope (single-push vector)', async () => {
    const tcp = await h.client('tcp', { key: 'p-tcp', accepts: [1000] });
    const ws = await h.client('ws', { key: 'p-ws', accepts: [1000] });
    const at = tcp.rawBytes().length;
    h.comet.pushMsg(['p-tcp', 'p-ws'], 1000, rawProto(innerFrame(1000, 'hello')));
    const [ft, fw] = await Promise.all([tcp.next(), ws.next()]);
    assert.deepEqual([ft.op, ft.body.toString(), fw.op, fw.body.toString()], [1000, 'hello', 1000, 'hello']);
    assert.deepEqual(since(tcp, at), hex('00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f'));
    assert.deepEqual(
      ws.rawFrames.at(-1),
      hex('82 25 00 00 00 25 00 10 00 01 00 00 00 09 00 00 00 00 00 00 00 15 00 10 00 01 00 00 03 e8 00 00 00 00 68 65 6c 6c 6f'),
    );
  });

  it('room batch of two messages (vector) on both transports', async () => {
    const tcp = await h.client('tcp', { room_id: 'live://1000' });
    const ws = await h.client('ws', { room_id: 'live://1000' });
    const at = tcp.rawBytes().length;
    h.comet.broadcastRoom('live://1000', rawProto(innerFrame(1000, '{"test":1}'), innerFrame(1000, '{"test":2}')));
    await Promise.all([tcp.collect(2), ws.collect(2)]);
    assert.deepEqual(
      since(tcp, at),
      hex(
        '00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d',
      ),
    );
    assert.deepEqual(
      ws.rawFrames.at(-1),
      hex(
        '82 44 00 00 00 44 00 10 00 01 00 00 00 09 00 00 00 00 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 31 7d 00 00 00 1a 00 10 00 01 00 00 03 e8 00 00 00 00 7b 22 74 65 73 74 22 3a 32 7d',
      ),
    );
  });

  it('a non-9 proto is written as one frame on both transports', async () => {
    const tcp = await h.client('tcp', { key: 'n9-tcp', accepts: [5] });
    const ws = await h.client('ws', { key: 'n9-ws', accepts: [5] });
    const at = tcp.rawBytes().length;
    h.comet.pushMsg(['n9-tcp', 'n9-ws'], 5, { ver: 2, op: 1001, seq: 3, body: Buffer.from('hi') });
    await Promise.all([tcp.next(), ws.next()]);
    const frame = hex('00 00 00 12 00 10 00 02 00 00 03 e9 00 00 00 03 68 69');
    assert.deepEqual(since(tcp, at), frame);
    assert.deepEqual(ws.rawFrames.at(-1), Buffer.concat([hex('82 12'), frame]));
  });

  it('WebSocket length encodings: 7-bit, 16-bit and 64-bit', async () => {
    const ws = await h.client('ws', { key: 'len', accepts: [1] });
    // Envelope payload = 16 + inner frame (16 + body).
    for (const [bodyLen, head] of [
      [93, '82 7d'], // 125 bytes: the largest 7-bit length
      [94, '82 7e 00 7e'], // 126
      [168, '82 7e 00 c8'], // 200, as the payload-length vector
      [65503, '82 7e ff ff'], // 65535
      [69984, '82 7f 00 00 00 00 00 01 11 80'], // 70016, as the payload-length vector
    ] as const) {
      h.comet.pushMsg(['len'], 1, rawProto(innerFrame(1, 'x'.repeat(bodyLen))));
      const f = await ws.next();
      assert.equal(f.body.length, bodyLen);
      const raw = ws.rawFrames.at(-1)!;
      assert.deepEqual(raw.subarray(0, head.split(' ').length), hex(head), `payload ${bodyLen + 32}`);
      assert.equal(raw.length, head.split(' ').length + bodyLen + 32);
    }
  });

  it('an op-9 push with an empty body writes nothing on TCP and an empty envelope on WebSocket', async () => {
    const tcp = await h.client('tcp', { key: 'e-tcp', accepts: [1] });
    const ws = await h.client('ws', { key: 'e-ws', accepts: [1] });
    const at = tcp.rawBytes().length;
    h.comet.pushMsg(['e-tcp', 'e-ws'], 1, rawProto());
    h.comet.pushMsg(['e-tcp', 'e-ws'], 1, rawProto(innerFrame(1, 'after')));
    assert.equal((await tcp.next()).body.toString(), 'after');
    assert.deepEqual(since(tcp, at), innerFrame(1, 'after'));
    assert.equal((await ws.next()).body.toString(), 'after');
    assert.deepEqual(ws.rawMessages.at(-2), hex('00 00 00 10 00 10 00 01 00 00 00 09 00 00 00 00'));
  });
});

describe('push targeting', () => {
  let h: Harness;
  before(async () => {
    h = await startComet();
  });
  after(() => h.stop());

  it('pushMsg honours accepts, skips missing keys and keeps going', async () => {
    const a = await h.client('tcp', { key: 't-a', accepts: [1000] });
    const b = await h.client('ws', { key: 't-b', accepts: [1001] });
    const c = await h.client('tcp', { key: 't-c', accepts: [1000, 1001] });
    h.comet.pushMsg(['missing', 't-a', 't-b', 'gone', 't-c'], 1000, rawProto(innerFrame(1000, 'm1')));
    h.comet.pushMsg(['t-b'], 1001, rawProto(innerFrame(1001, 'm2')));
    assert.equal((await a.next()).body.toString(), 'm1');
    assert.equal((await c.next()).body.toString(), 'm1');
    assert.equal((await b.next()).body.toString(), 'm2', 'b does not watch 1000');
  });

  it('sub and unsub change what key pushes and broadcasts deliver; bad lists change nothing', async () => {
    const c = await h.client('tcp', { key: 's-1', accepts: [1000] });
    const pushAll = (op: number, body: string) => h.comet.pushMsg(['s-1'], op, rawProto(innerFrame(op, body)));

    c.send(14, '1001,+1002', 1, 4);
    let r = await c.next();
    assert.deepEqual([r.op, r.ver, r.seq, r.body.toString()], [15, 1, 4, '1001,+1002']);
    c.send(16, '1000', 1, 5);
    r = await c.next();
    assert.deepEqual([r.op, r.seq, r.body.toString()], [17, 5, '1000']);
    c.send(14, '1003,x', 1, 6); // one bad element: the whole request is ignored
    r = await c.next();
    assert.deepEqual([r.op, r.body.toString()], [15, '1003,x']);
    c.send(14, '2147483648', 1, 7); // out of int32
    await c.next();

    pushAll(1000, 'unsubscribed');
    pushAll(1003, 'bad list');
    h.comet.broadcast(2147483647, rawProto(innerFrame(1, 'never')), 0);
    pushAll(1002, 'second');
    pushAll(1001, 'first');
    h.comet.broadcast(1001, rawProto(innerFrame(1001, 'broadcast')), 0);
    const frames = await c.collect(3);
    assert.deepEqual(
      frames.map((f) => f.body.toString()),
      ['second', 'first', 'broadcast'],
    );
  });

  it('room pushes ignore accepts, broadcasts filter by them', async () => {
    const none = await h.client('ws', { room_id: 'acc://1', accepts: [] });
    const some = await h.client('tcp', { room_id: 'acc://1', accepts: [7] });
    h.comet.broadcast(7, rawProto(innerFrame(7, 'b7')), 0);
    h.comet.broadcastRoom('acc://1', rawProto(innerFrame(8, 'room')));
    assert.deepEqual(
      (await some.collect(2)).map((f) => f.body.toString()),
      ['b7', 'room'],
    );
    assert.equal((await none.next()).body.toString(), 'room');
  });

  it('broadcast with a speed spreads over time yet reaches everybody watching', async () => {
    const clients: GoimTestClient[] = [];
    for (let i = 0; i < 12; i++) clients.push(await h.client(i % 2 ? 'ws' : 'tcp', { accepts: [4242] }));
    const other = await h.client('tcp', { accepts: [1] });
    h.comet.broadcast(4242, rawProto(innerFrame(4242, 'slow')), 40);
    for (const c of clients) assert.equal((await c.nextWhere((f) => f.op === 4242)).body.toString(), 'slow');
    h.comet.broadcast(1, rawProto(innerFrame(1, 'marker')), 0);
    assert.equal((await other.next()).body.toString(), 'marker');
  });

  it('rejects goim argument errors', () => {
    const proto = rawProto(innerFrame(1, 'x'));
    assert.throws(() => h.comet.pushMsg([], 1, proto), { message: 'rpc pushmsg arg error' });
    assert.throws(() => h.comet.pushMsg(['k'], 1, undefined as never), { message: 'rpc pushmsg arg error' });
    assert.throws(() => h.comet.broadcast(1, undefined as never, 0), { message: 'rpc broadcast arg error' });
    assert.throws(() => h.comet.broadcastRoom('', proto), { message: 'rpc broadcast  room arg error' });
    assert.throws(() => h.comet.broadcastRoom('r://1', undefined as never), { message: 'rpc broadcast  room arg error' });
  });
});
