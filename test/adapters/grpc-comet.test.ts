// CometService ↔ gRPC ↔ serveComet over real sockets on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { serveComet } from '../../src/adapters/grpc/comet-server.js';
import { GrpcCometClient, grpcCometDialer } from '../../src/adapters/grpc/comet-client.js';
import { CometClient as CometStub } from '../../src/rpc/gen/goim/comet/comet.js';
import { AppId, type CometOps, type Instance, type Proto, type RoomBatchParts } from '../../src/ports/index.js';

type Call =
  | { m: 'pushMsg'; keys: string[]; protoOp: number; proto: Proto }
  | { m: 'broadcast'; protoOp: number; proto: Proto; speed: number }
  | { m: 'broadcastRoom'; roomId: string; proto: Proto; parts?: RoomBatchParts | null };

/** A synchronous comet, like the Comet role: records calls, may throw. */
class FakeComet implements CometOps {
  calls: Call[] = [];
  failWith: string | undefined;
  roomList = ['live://1000', 'live://2000'];
  private check() {
    if (this.failWith !== undefined) throw new Error(this.failWith);
  }
  pushMsg(keys: string[], protoOp: number, proto: Proto) {
    this.check();
    this.calls.push({ m: 'pushMsg', keys, protoOp, proto });
  }
  broadcast(protoOp: number, proto: Proto, speed: number) {
    this.check();
    this.calls.push({ m: 'broadcast', protoOp, proto, speed });
  }
  broadcastRoom(roomId: string, proto: Proto, parts?: RoomBatchParts | null) {
    this.check();
    this.calls.push({ m: 'broadcastRoom', roomId, proto, parts });
  }
  rooms() {
    this.check();
    return this.roomList;
  }
}

function cometInstance(port: number): Instance {
  return {
    region: 'sh',
    zone: 'sh001',
    env: 'dev',
    appid: AppId.Comet,
    hostname: 'comet01',
    addrs: [`grpc://127.0.0.1:${port}`],
    version: '',
    latestTimestamp: 1,
    metadata: { weight: '10', offline: 'false', addrs: '127.0.0.1', conn_count: '0', ip_count: '0' },
  };
}

const frame = (op: number, body: string): Proto => ({ ver: 1, op, seq: 0, body: Buffer.from(body) });
const plain = (p: Proto) => ({ ...p, body: Buffer.from(p.body).toString() });

async function withComet(fn: (fake: FakeComet, client: GrpcCometClient, port: number) => Promise<void>) {
  const fake = new FakeComet();
  const server = await serveComet(fake, '127.0.0.1:0');
  const client = grpcCometDialer(cometInstance(server.port)) as GrpcCometClient;
  try {
    await fn(fake, client, server.port);
  } finally {
    await client.close();
    await server.close();
  }
}

test('pushMsg delivers keys, op filter and the proto', () =>
  withComet(async (fake, client) => {
    await client.pushMsg(['k1', 'k2'], 1000, frame(9, 'batch'));
    assert.equal(fake.calls.length, 1);
    const c = fake.calls[0];
    assert.ok(c.m === 'pushMsg');
    assert.deepEqual(c.keys, ['k1', 'k2']);
    assert.equal(c.protoOp, 1000);
    assert.deepEqual(plain(c.proto), { ver: 1, op: 9, seq: 0, body: 'batch' });
  }));

test('broadcast delivers op filter, proto and speed; broadcastRoom the room and proto', () =>
  withComet(async (fake, client) => {
    await client.broadcast(1001, frame(9, 'all'), 100);
    await client.broadcastRoom('live://1000', frame(9, 'room'));
    const [b, r] = fake.calls;
    assert.ok(b.m === 'broadcast' && r.m === 'broadcastRoom');
    assert.equal(b.protoOp, 1001);
    assert.equal(b.speed, 100);
    assert.deepEqual(plain(b.proto), { ver: 1, op: 9, seq: 0, body: 'all' });
    assert.equal(r.roomId, 'live://1000');
    assert.deepEqual(plain(r.proto), { ver: 1, op: 9, seq: 0, body: 'room' });
  }));

test("broadcastRoom's batch numbers travel in metadata; unreadable ones arrive as null, none as undefined", () =>
  withComet(async (fake, client, port) => {
    const parts = { lane: '0123456789abcdef', seqs: [7, 9, 12], lens: [3, 0, 5] };
    await client.broadcastRoom('live://1', frame(9, 'abcdefgh'), parts);
    await client.broadcastRoom('live://1', frame(9, 'x'));
    const raw = new CometStub(`127.0.0.1:${port}`, credentials.createInsecure());
    const withHeader = (value: string) =>
      new Promise<ServiceError | null>((resolve) => {
        const md = new Metadata();
        md.set('tsim-batch-parts', value);
        raw.broadcastRoom({ roomID: 'live://1', proto: { ver: 1, op: 9, seq: 0, body: Buffer.from('x') } }, md, (err) => resolve(err));
      });
    try {
      // Malformed, too many parts, numbers going down, too long: the call still goes through.
      const seventeen = Array.from({ length: 17 }, (_, i) => `${i + 1}:0`).join(',');
      for (const bad of [
        '',
        'lane',
        'lane;',
        'lane;1:x',
        'la ne;1:1',
        `l;${seventeen}`,
        'l;2:1,1:0',
        `l;1:${'9'.repeat(1100)}`,
        'l;9999999999999999:1',
      ])
        assert.equal(await withHeader(bad), null, bad);
    } finally {
      raw.close();
    }
    const got = fake.calls.map((c) => (c.m === 'broadcastRoom' ? c.parts : 'other'));
    assert.deepEqual(got, [parts, undefined, null, null, null, null, null, null, null, null, null]);
  }));

test('a negative op and an empty body survive', () =>
  withComet(async (fake, client) => {
    await client.broadcast(-1, { ver: 0, op: -7, seq: -2, body: new Uint8Array(0) }, 0);
    const b = fake.calls[0];
    assert.ok(b.m === 'broadcast');
    assert.equal(b.protoOp, -1);
    assert.deepEqual(plain(b.proto), { ver: 0, op: -7, seq: -2, body: '' });
  }));

test('rooms lists the comet rooms', () =>
  withComet(async (fake, client) => {
    assert.deepEqual((await client.rooms()).sort(), ['live://1000', 'live://2000']);
    fake.roomList = [];
    assert.deepEqual(await client.rooms(), []);
  }));

test('goim argument errors come back as UNKNOWN with goim texts', () =>
  withComet(async (fake, client, port) => {
    await assert.rejects(client.pushMsg([], 1000, frame(9, 'x')), (err: Error & { code?: number }) => {
      assert.match(err.message, /: rpc pushmsg arg error$/);
      assert.equal(err.code, status.UNKNOWN);
      return true;
    });
    await assert.rejects(client.broadcastRoom('', frame(9, 'x')), /: rpc broadcast {2}room arg error$/);

    // An absent proto can only come from a raw client.
    const raw = new CometStub(`127.0.0.1:${port}`, credentials.createInsecure());
    const rawCall = (start: (cb: (err: ServiceError | null) => void) => void) =>
      new Promise<ServiceError | null>((resolve) => start((err) => resolve(err)));
    try {
      const e1 = await rawCall((cb) => raw.pushMsg({ keys: ['k'], protoOp: 1, proto: undefined, inboxMids: [], inboxSeqs: [] }, cb));
      assert.equal(e1?.code, status.UNKNOWN);
      assert.equal(e1?.details, 'rpc pushmsg arg error');
      const e2 = await rawCall((cb) => raw.broadcast({ protoOp: 1, proto: undefined, speed: 0 }, cb));
      assert.equal(e2?.details, 'rpc broadcast arg error');
      const e3 = await rawCall((cb) => raw.broadcastRoom({ roomID: 'live://1', proto: undefined }, cb));
      assert.equal(e3?.details, 'rpc broadcast  room arg error');
      // A present but empty proto is valid (proto3 encodes it as an empty message).
      const ok = await rawCall((cb) => raw.broadcastRoom({ roomID: 'live://1', proto: { ver: 0, op: 0, seq: 0, body: Buffer.alloc(0) } }, cb));
      assert.equal(ok, null);
    } finally {
      raw.close();
    }
    assert.deepEqual(
      fake.calls.map((c) => c.m),
      ['broadcastRoom'],
    );
  }));

test("the comet's own errors reach job with their message", () =>
  withComet(async (fake, client) => {
    fake.failWith = 'signal channel full, msg dropped';
    await assert.rejects(client.pushMsg(['k'], 1, frame(9, 'x')), /comet PushMsg \(127\.0\.0\.1:\d+\): signal channel full, msg dropped$/);
    await assert.rejects(client.rooms(), /signal channel full/);
  }));

test('an async target works the same', async () => {
  const got: string[] = [];
  const server = await serveComet(
    {
      async pushMsg(keys) {
        got.push(...keys);
      },
      async broadcast() {},
      async broadcastRoom() {},
      async rooms() {
        return ['r'];
      },
    },
    '127.0.0.1:0',
  );
  const client = new GrpcCometClient(`127.0.0.1:${server.port}`);
  try {
    await client.pushMsg(['a', 'b'], 1, frame(9, 'x'));
    assert.deepEqual(got, ['a', 'b']);
    assert.deepEqual(await client.rooms(), ['r']);
  } finally {
    await client.close();
    await server.close();
  }
});

test('the dialer refuses an instance without a grpc:// address', () => {
  assert.throws(() => grpcCometDialer({ ...cometInstance(1), addrs: [] }), /comet comet01: no grpc:\/\/ address/);
});

test('serveComet listens on every interface when the address has no host', async () => {
  const fake = new FakeComet();
  const server = await serveComet(fake, ':0');
  const client = new GrpcCometClient(`127.0.0.1:${server.port}`);
  try {
    await client.broadcastRoom('live://1', frame(9, 'x'));
    assert.equal(fake.calls.length, 1);
  } finally {
    await client.close();
    await server.close();
  }
});
