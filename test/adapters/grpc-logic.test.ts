// LogicService ↔ gRPC ↔ serveLogic over real sockets on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { credentials, compressionAlgorithms, status } from '@grpc/grpc-js';
import { serveLogic } from '../../src/adapters/grpc/logic-server.js';
import { GrpcLogicClient } from '../../src/adapters/grpc/logic-client.js';
import { ConnectReply as WireConnectReply, LogicClient as LogicStub, OnlineReply, OnlineReq } from '../../src/rpc/gen/goim/logic/logic.js';
import {
  AppId,
  InboxAckRangeError,
  type ConnectReply,
  type ConnectRequest,
  type HistoryReply,
  type HistoryRequest,
  type InboxAckRequest,
  type InboxReply,
  type InboxRequest,
  type Instance,
  type LogicService,
  type NodesReply,
  type Proto,
  type ReceiveRequest,
  type ReceiveResult,
  type Registry,
  type SessionRef,
} from '../../src/ports/index.js';

const BIG_MID = 9007199254740993n; // 2^53 + 1: not representable as a double

type Call =
  | { m: 'connect'; req: ConnectRequest }
  | { m: 'disconnect'; ref: SessionRef }
  | { m: 'heartbeat'; ref: SessionRef }
  | { m: 'renewOnline'; server: string; roomCount: Record<string, number> }
  | { m: 'receive'; mid: bigint; key: string; room: string; proto: Proto }
  | { m: 'history'; req: HistoryRequest }
  | { m: 'inbox'; req: InboxRequest }
  | { m: 'inboxAck'; req: InboxAckRequest }
  | { m: 'nodes'; platform: string; clientIp: string };

/** A LogicService that records calls and answers fixed replies. */
class FakeLogic implements LogicService {
  calls: Call[] = [];
  failWith: string | undefined;
  connectReply: ConnectReply = { mid: BIG_MID, key: 'abc', roomId: 'live://1000', accepts: [1000, 1001, 1002], heartbeatMs: 480_000 };
  nodesReply: NodesReply = {
    domain: 'conn.goim.io',
    tcpPort: 3101,
    wsPort: 3102,
    wssPort: 3103,
    heartbeat: 240,
    nodes: ['10.0.0.1', '10.0.0.2'],
    backoff: { maxDelay: 300, baseDelay: 3, factor: 1.8, jitter: 0.3 },
    heartbeatMax: 2,
  };
  private check() {
    if (this.failWith !== undefined) throw new Error(this.failWith);
  }
  async connect(req: ConnectRequest) {
    this.calls.push({ m: 'connect', req });
    this.check();
    return this.connectReply;
  }
  async disconnect(ref: SessionRef) {
    this.calls.push({ m: 'disconnect', ref });
    this.check();
    return ref.key === 'present';
  }
  async heartbeat(ref: SessionRef) {
    this.calls.push({ m: 'heartbeat', ref });
    this.check();
  }
  async renewOnline(server: string, roomCount: Record<string, number>) {
    this.calls.push({ m: 'renewOnline', server, roomCount });
    this.check();
    return { 'live://1000': 42, 'live://2000': 7 };
  }
  receiveResult: ReceiveResult = { handled: false };
  async receive(req: ReceiveRequest) {
    this.calls.push({ m: 'receive', mid: req.mid, key: req.key, room: req.room, proto: req.proto });
    this.check();
    return this.receiveResult;
  }
  async history(req: HistoryRequest): Promise<HistoryReply> {
    this.calls.push({ m: 'history', req });
    this.check();
    return {
      epoch: 'e1',
      first: 3,
      last: 2 ** 40,
      records: [{ offset: 2 ** 40, op: 1000, body: Buffer.from('{"text":"hi"}') }],
      recovered: false,
      reason: 'epoch changed',
    };
  }
  async inbox(req: InboxRequest): Promise<InboxReply> {
    this.calls.push({ m: 'inbox', req });
    this.check();
    return { acked: 4, first: 2, last: 2 ** 40, records: [{ seq: 2 ** 40, op: 1000, body: Buffer.from('hi') }], cut: true };
  }
  async inboxAck(req: InboxAckRequest): Promise<number> {
    this.calls.push({ m: 'inboxAck', req });
    this.check();
    if (req.seq > 9) throw new InboxAckRangeError(req.seq, 9);
    return req.seq;
  }
  async nodes(platform: string, clientIp: string) {
    this.calls.push({ m: 'nodes', platform, clientIp });
    this.check();
    return this.nodesReply;
  }
  async close() {}
}

async function withLogic(fn: (fake: FakeLogic, client: GrpcLogicClient, port: number) => Promise<void>) {
  const fake = new FakeLogic();
  const server = await serveLogic(fake, '127.0.0.1:0');
  const client = new GrpcLogicClient({ addrs: [`127.0.0.1:${server.port}`] });
  try {
    await fn(fake, client, server.port);
  } finally {
    await client.close();
    await server.close();
  }
}

test('connect round-trips token, client ip, big mid and heartbeat (ms ↔ ns)', () =>
  withLogic(async (fake, client) => {
    const reply = await client.connect({ server: 'comet01', cookie: 'c', token: Buffer.from('{"mid":1}'), clientIp: '1.2.3.4' });
    assert.deepEqual(reply, { ...fake.connectReply, roomFixed: false, acceptsFixed: false });
    assert.equal(fake.calls.length, 1);
    const call = fake.calls[0];
    assert.equal(call.m, 'connect');
    if (call.m !== 'connect') return;
    assert.equal(call.req.server, 'comet01');
    assert.equal(call.req.cookie, 'c');
    assert.equal(Buffer.from(call.req.token).toString(), '{"mid":1}');
    assert.equal(call.req.clientIp, '1.2.3.4');
    // What an auth mode granted reaches the comet.
    fake.connectReply = { ...fake.connectReply, roomFixed: true, acceptsFixed: true };
    assert.deepEqual(await client.connect({ server: 'comet01', cookie: '', token: new Uint8Array(0) }), fake.connectReply);
  }));

test('connect without client ip leaves it undefined on the logic side', () =>
  withLogic(async (fake, client) => {
    await client.connect({ server: 's', cookie: '', token: new Uint8Array(0) });
    const call = fake.calls[0];
    assert.ok(call.m === 'connect' && !('clientIp' in call.req));
  }));

test('disconnect, heartbeat and receive carry bigint mids exactly', () =>
  withLogic(async (fake, client) => {
    assert.equal(await client.disconnect({ mid: BIG_MID, key: 'present', server: 'comet01' }), true);
    assert.equal(await client.disconnect({ mid: -5n, key: 'gone', server: 'comet01' }), false);
    await client.heartbeat({ mid: BIG_MID, key: 'k', server: 'comet01' });
    assert.deepEqual(await client.receive({ mid: BIG_MID, key: 'k', room: 'live://1', proto: { ver: 1, op: 4, seq: 7, body: Buffer.from('up') } }), {
      handled: false,
    });
    assert.deepEqual(fake.calls.slice(0, 3), [
      { m: 'disconnect', ref: { mid: BIG_MID, key: 'present', server: 'comet01' } },
      { m: 'disconnect', ref: { mid: -5n, key: 'gone', server: 'comet01' } },
      { m: 'heartbeat', ref: { mid: BIG_MID, key: 'k', server: 'comet01' } },
    ]);
    const r = fake.calls[3];
    assert.ok(r.m === 'receive');
    assert.equal(r.mid, BIG_MID);
    assert.deepEqual([r.key, r.room], ['k', 'live://1']);
    assert.deepEqual({ ...r.proto, body: Buffer.from(r.proto.body).toString() }, { ver: 1, op: 4, seq: 7, body: 'up' });
  }));

test('receive carries a handled reply; history round-trips offsets past 2^32', () =>
  withLogic(async (fake, client) => {
    fake.receiveResult = { handled: true, reply: Buffer.from('{"code":0}') };
    const r = await client.receive({ mid: 1n, key: 'k', room: '', proto: { ver: 1, op: 4, seq: 1, body: Buffer.from('{}') } });
    assert.equal(r.handled, true);
    assert.equal(Buffer.from(r.reply!).toString(), '{"code":0}');
    const h = await client.history({ room: 'live://1', last: 0, since: 2 ** 33, epoch: 'e0', limit: 20 });
    assert.deepEqual(fake.calls[1], { m: 'history', req: { room: 'live://1', last: 0, since: 2 ** 33, epoch: 'e0', limit: 20 } });
    assert.deepEqual(
      { ...h, records: h.records.map((x) => ({ ...x, body: Buffer.from(x.body).toString() })) },
      {
        epoch: 'e1',
        first: 3,
        last: 2 ** 40,
        records: [{ offset: 2 ** 40, op: 1000, body: '{"text":"hi"}' }],
        recovered: false,
        reason: 'epoch changed',
      },
    );
  }));

test('connect carries the history request of an opted-in client', () =>
  withLogic(async (fake, client) => {
    fake.connectReply = { ...fake.connectReply, history: { last: 0, since: 41, epoch: 'ab' } };
    const r = await client.connect({ server: 's', cookie: '', token: new Uint8Array(0) });
    assert.deepEqual(r.history, { last: 0, since: 41, epoch: 'ab' });
    fake.connectReply = { ...fake.connectReply, history: { last: 20 } };
    assert.deepEqual((await client.connect({ server: 's', cookie: '', token: new Uint8Array(0) })).history, { last: 20 });
  }));

test('inbox pages and acks round-trip: seqs past 2^32, an absent after, the opt-in, an ack above the last', () =>
  withLogic(async (fake, client) => {
    const page = await client.inbox({ mid: BIG_MID, key: 'd1', limit: 10, maxBytes: 4096 });
    assert.deepEqual(fake.calls[0], { m: 'inbox', req: { mid: BIG_MID, key: 'd1', limit: 10, maxBytes: 4096 } });
    assert.deepEqual(
      { ...page, records: page.records.map((x) => ({ ...x, body: Buffer.from(x.body).toString() })) },
      { acked: 4, first: 2, last: 2 ** 40, records: [{ seq: 2 ** 40, op: 1000, body: 'hi' }], cut: true },
    );
    await client.inbox({ mid: 1n, key: 'd1', after: 2 ** 33, limit: 1, maxBytes: 1 });
    assert.deepEqual(fake.calls[1], { m: 'inbox', req: { mid: 1n, key: 'd1', after: 2 ** 33, limit: 1, maxBytes: 1 } });
    assert.equal(await client.inboxAck({ mid: BIG_MID, key: 'd1', seq: 7 }), 7);
    await assert.rejects(client.inboxAck({ mid: BIG_MID, key: 'd1', seq: 12 }), (e) => e instanceof InboxAckRangeError && e.last === 9);
    fake.connectReply = { ...fake.connectReply, inbox: true };
    assert.equal((await client.connect({ server: 's', cookie: '', token: new Uint8Array(0) })).inbox, true);
  }));

test('renewOnline (gzip) sends room counts and returns the global map', () =>
  withLogic(async (fake, client) => {
    const all = await client.renewOnline('comet01', { 'live://1000': 3, 'live://3000': 1 });
    assert.deepEqual(all, { 'live://1000': 42, 'live://2000': 7 });
    assert.deepEqual(fake.calls, [{ m: 'renewOnline', server: 'comet01', roomCount: { 'live://1000': 3, 'live://3000': 1 } }]);
  }));

test('nodes returns the reply with float32 backoff read back as written', () =>
  withLogic(async (fake, client) => {
    assert.deepEqual(await client.nodes('web', '8.8.8.8'), fake.nodesReply);
    assert.deepEqual(fake.calls, [{ m: 'nodes', platform: 'web', clientIp: '8.8.8.8' }]);
  }));

test('a thrown error reaches the caller with its message and status UNKNOWN', () =>
  withLogic(async (fake, client) => {
    fake.failWith = 'invalid token: unexpected end of JSON input';
    await assert.rejects(client.connect({ server: 's', cookie: '', token: new Uint8Array(0) }), (err: Error & { code?: number }) => {
      assert.match(err.message, /logic Connect \(127\.0\.0\.1:\d+\): invalid token: unexpected end of JSON input$/);
      assert.equal(err.code, status.UNKNOWN);
      return true;
    });
    await assert.rejects(client.renewOnline('s', {}), /invalid token/);
  }));

test('a call past rpcClient.timeout fails with DEADLINE_EXCEEDED', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const fake = new FakeLogic();
  let entered!: () => void;
  const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
  fake.heartbeat = async (ref) => {
    fake.calls.push({ m: 'heartbeat', ref });
    entered();
    await released;
  };
  const server = await serveLogic(fake, '127.0.0.1:0');
  const client = new GrpcLogicClient({ addrs: [`127.0.0.1:${server.port}`], timeoutMs: 200 });
  try {
    await assert.rejects(client.heartbeat({ mid: 1n, key: 'slow', server: 's' }), (err: Error & { code?: number }) => {
      assert.equal(err.code, status.DEADLINE_EXCEEDED);
      assert.match(err.message, /^logic Heartbeat \(127\.0\.0\.1:\d+\): /);
      return true;
    });
    await handlerEntered;
  } finally {
    release();
    await client.close();
    await server.close();
  }
});

test('without any logic address calls reject clearly', async () => {
  const client = new GrpcLogicClient();
  await assert.rejects(client.heartbeat({ mid: 1n, key: 'k', server: 's' }), /no logic instance available/);
  await client.close();
});

test('a goim-style raw client with gzip compression reaches serveLogic (RenewOnline, Connect)', async () => {
  const fake = new FakeLogic();
  const server = await serveLogic(fake, '127.0.0.1:0');
  const raw = new LogicStub(`127.0.0.1:${server.port}`, credentials.createInsecure(), {
    'grpc.default_compression_algorithm': compressionAlgorithms.gzip,
  });
  try {
    const call = <Res>(start: (cb: (err: Error | null, res: Res) => void) => void) =>
      new Promise<Res>((resolve, reject) => start((err, res) => (err ? reject(err) : resolve(res))));
    // A compressible payload, so gzip is really exercised.
    const roomCount: Record<string, number> = {};
    for (let i = 0; i < 200; i++) roomCount[`live://${i}`] = i + 1;
    const online = await call<{ allRoomCount: Record<string, number> }>((cb) => raw.renewOnline({ server: 'goim-comet', roomCount }, cb));
    assert.deepEqual(online.allRoomCount, { 'live://1000': 42, 'live://2000': 7 });
    assert.deepEqual(fake.calls[0], { m: 'renewOnline', server: 'goim-comet', roomCount });

    const reply = await call<{ mid: bigint; heartbeat: bigint; roomID: string; accepts: number[]; key: string }>((cb) =>
      raw.connect({ server: 'goim-comet', cookie: '', token: Buffer.from('{"mid":1}'), clientIp: '' }, cb),
    );
    // goim transports the heartbeat timeout in nanoseconds.
    assert.equal(reply.heartbeat, 480_000_000_000n);
    assert.equal(reply.mid, BIG_MID);
    assert.deepEqual(reply.accepts, [1000, 1001, 1002]);
  } finally {
    raw.close();
    await server.close();
  }
});

test('the client really sends RenewOnline gzip-compressed, other calls uncompressed', async () => {
  // A bare HTTP/2 endpoint, so the request headers and message framing are seen as sent.
  const seen: { path: string; encoding: string; compressedFlag: number; message: Buffer }[] = [];
  const replies: Record<string, Buffer> = {
    '/goim.logic.Logic/RenewOnline': Buffer.from(OnlineReply.encode({ allRoomCount: { 'live://1': 9 } }).finish()),
    '/goim.logic.Logic/Connect': Buffer.from(
      WireConnectReply.encode(WireConnectReply.fromPartial({ mid: 1n, key: 'k', heartbeat: 1_000_000n })).finish(),
    ),
    '/goim.logic.Logic/Heartbeat': Buffer.alloc(0),
  };
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const flag = body[0];
      const payload = body.subarray(5, 5 + body.readUInt32BE(1));
      const path = String(headers[':path']);
      seen.push({
        path,
        encoding: String(headers['grpc-encoding'] ?? 'identity'),
        compressedFlag: flag,
        message: flag === 1 ? zlib.gunzipSync(payload) : payload,
      });
      const reply = replies[path] ?? Buffer.alloc(0);
      const frame = Buffer.alloc(5 + reply.length);
      frame.writeUInt32BE(reply.length, 1);
      reply.copy(frame, 5);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame);
    });
  });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  const port = (h2.address() as AddressInfo).port;
  const client = new GrpcLogicClient({ addrs: [`grpc://127.0.0.1:${port}`] });
  try {
    assert.deepEqual(await client.renewOnline('s', { 'live://1': 1 }), { 'live://1': 9 });
    await client.renewOnline('s', { 'live://1': 2 });
    const r = await client.connect({ server: 's', cookie: '', token: new Uint8Array(0) });
    assert.equal(r.heartbeatMs, 1);
    await client.heartbeat({ mid: 1n, key: 'k', server: 's' });
    assert.deepEqual(
      seen.map((x) => [x.path.split('/').pop(), x.encoding, x.compressedFlag]),
      [
        ['RenewOnline', 'gzip', 1],
        ['RenewOnline', 'gzip', 1],
        ['Connect', 'identity', 0],
        ['Heartbeat', 'identity', 0],
      ],
    );
    assert.deepEqual(OnlineReq.decode(seen[1].message), { server: 's', roomCount: { 'live://1': 2 } });
  } finally {
    await client.close();
    await new Promise<void>((resolve) => h2.close(() => resolve()));
  }
});

/** A Registry fake whose watchers are driven by the test. */
class FakeRegistry implements Registry {
  private watchers = new Map<string, Set<(i: Instance[]) => void>>();
  current: Instance[] = [];
  async register() {}
  async deregister() {}
  async list() {
    return this.current;
  }
  watch(appid: string, onChange: (i: Instance[]) => void) {
    let set = this.watchers.get(appid);
    if (!set) this.watchers.set(appid, (set = new Set()));
    set.add(onChange);
    return () => set.delete(onChange);
  }
  emit(appid: string, instances: Instance[]) {
    this.current = instances;
    for (const w of this.watchers.get(appid) ?? []) w(instances);
  }
  get watcherCount() {
    return [...this.watchers.values()].reduce((n, s) => n + s.size, 0);
  }
  async close() {}
}

function logicInstance(hostname: string, port: number, zone = 'sh001'): Instance {
  return {
    region: 'sh',
    zone,
    env: 'dev',
    appid: AppId.Logic,
    hostname,
    addrs: [`grpc://127.0.0.1:${port}`],
    version: '',
    latestTimestamp: 1,
    metadata: { weight: '10' },
  };
}

test('registry-discovered logics are used round-robin and follow changes', async () => {
  const a = new FakeLogic();
  const b = new FakeLogic();
  const sa = await serveLogic(a, '127.0.0.1:0');
  const sb = await serveLogic(b, '127.0.0.1:0');
  const registry = new FakeRegistry();
  const client = new GrpcLogicClient({ registry, timeoutMs: 5_000 });
  try {
    // A call made before the registry's first answer waits for it.
    const early = client.heartbeat({ mid: 1n, key: 'early', server: 's' });
    registry.emit(AppId.Logic, [logicInstance('logic-a', sa.port), logicInstance('logic-b', sb.port)]);
    await early;
    for (let i = 0; i < 5; i++) await client.heartbeat({ mid: 1n, key: `k${i}`, server: 's' });
    assert.equal(a.calls.length, 3);
    assert.equal(b.calls.length, 3);

    registry.emit(AppId.Logic, [logicInstance('logic-b', sb.port)]);
    for (let i = 0; i < 4; i++) await client.heartbeat({ mid: 1n, key: `later${i}`, server: 's' });
    assert.equal(a.calls.length, 3);
    assert.equal(b.calls.length, 7);

    registry.emit(AppId.Logic, []);
    await assert.rejects(client.heartbeat({ mid: 1n, key: 'none', server: 's' }), /no logic instance available/);
  } finally {
    await client.close();
    assert.equal(registry.watcherCount, 0);
    await sa.close();
    await sb.close();
  }
});

test('logics of the client zone are preferred; other zones serve when the zone has none', async () => {
  const near = new FakeLogic();
  const far = new FakeLogic();
  const sNear = await serveLogic(near, '127.0.0.1:0');
  const sFar = await serveLogic(far, '127.0.0.1:0');
  const registry = new FakeRegistry();
  const client = new GrpcLogicClient({ registry, zone: 'sh001' });
  try {
    registry.emit(AppId.Logic, [logicInstance('near', sNear.port, 'sh001'), logicInstance('far', sFar.port, 'bj001')]);
    for (let i = 0; i < 4; i++) await client.heartbeat({ mid: 1n, key: 'k', server: 's' });
    assert.equal(near.calls.length, 4);
    assert.equal(far.calls.length, 0);
    registry.emit(AppId.Logic, [logicInstance('far', sFar.port, 'bj001')]);
    await client.heartbeat({ mid: 1n, key: 'k', server: 's' });
    assert.equal(far.calls.length, 1);
  } finally {
    await client.close();
    await sNear.close();
    await sFar.close();
  }
});
