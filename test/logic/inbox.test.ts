// Logic's side of the durable inbox (docs/protocol.md#durable-inbox, docs/http-api.md#inbox):
// a durable push is stored before it is queued and carries each user's seq; a storage failure
// queues nothing; the pages comets read; the inbox API behind the push API's keys.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MemoryInboxStore } from '../../src/adapters/memory/inbox-store.js';
import { InboxUnavailableError } from '../../src/logic/inbox.js';
import { PushType, type InboxPage, type PageBound } from '../../src/ports/index.js';
import { request, startLogic, type Running } from './fixtures.js';

const KEY = 'inbox-api-key-0123456789abcdef';

describe('logic: durable pushes', () => {
  const running: Running[] = [];
  const start = async (inbox: MemoryInboxStore, input: Parameters<typeof startLogic>[0] = {}) => {
    const r = await startLogic(input, { inbox });
    running.push(r);
    return r;
  };
  after(async () => {
    for (const r of running) await r.stop();
  });

  it('stores in each user inbox (users above 0, once each) before queueing, with their seqs per comet', async () => {
    const inbox = new MemoryInboxStore();
    const { logic, store, queue } = await start(inbox);
    await inbox.append([2n], { id: 'earlier', op: 1, body: new Uint8Array(0), time: 0 });
    await store.addMapping({ mid: 1n, key: 'a', server: 'c1' });
    await store.addMapping({ mid: 2n, key: 'b', server: 'c2' });
    await logic.pushMids(1000, [1n, 2n, 1n, 0n, -4n, 3n], Buffer.from('hi'), true);
    assert.deepEqual(await inbox.state(1n), { first: 1, last: 1 });
    assert.deepEqual(await inbox.state(2n), { first: 1, last: 2 });
    assert.deepEqual(await inbox.state(3n), { first: 1, last: 1 }, 'an offline user keeps it too');
    assert.deepEqual(await inbox.state(0n), { first: 1, last: 0 });
    const sent = queue.published
      .map((m) => ({ type: m.type, server: m.server, keys: m.keys, inbox: m.inbox }))
      .sort((x, y) => x.server.localeCompare(y.server));
    const seqs = { mids: [1n, 2n, 3n], seqs: [1, 2, 1] };
    assert.deepEqual(sent, [
      { type: PushType.PUSH, server: 'c1', keys: ['a'], inbox: seqs },
      { type: PushType.PUSH, server: 'c2', keys: ['b'], inbox: seqs },
    ]);
    const [entry] = (await inbox.read(1n, 0, { limit: 10, maxBytes: 1000 })).entries;
    assert.equal(Buffer.from(entry.body).toString(), 'hi');
    assert.equal(entry.op, 1000);
    assert.ok(entry.id.length > 0 && entry.time > 0);
  });

  it('refuses with InboxUnavailableError and queues nothing when the store fails; non-durable pushes are not stored', async () => {
    const inbox = new MemoryInboxStore();
    const { logic, store, queue } = await start(inbox, { inbox: { durableOps: [1001] } });
    await store.addMapping({ mid: 5n, key: 'k', server: 'c1' });
    inbox.failing = new Error('down');
    await assert.rejects(
      logic.pushMids(1000, [5n], Buffer.from('x'), true),
      (e) => e instanceof InboxUnavailableError && e.message === 'inbox unavailable: down',
    );
    await assert.rejects(logic.pushMids(1001, [5n], Buffer.from('x')), InboxUnavailableError);
    assert.equal(queue.published.length, 0);
    await logic.pushMids(1000, [5n], Buffer.from('plain'));
    await logic.pushMids(1001, [5n], Buffer.from('opted out'), false);
    assert.equal(queue.published.length, 2);
    assert.ok(queue.published.every((m) => m.inbox === undefined));
    inbox.failing = null;
    assert.deepEqual(await inbox.state(5n), { first: 1, last: 0 });
    assert.deepEqual(logic.inboxCounts(), { stored: 0, unavailable: 2 });
  });

  it('gives comets the range read before the page: a message stored meanwhile is never below `last`', async () => {
    // A store that takes a new message while the page is being read.
    class Busy extends MemoryInboxStore {
      override async read(mid: bigint, after: number, bound: PageBound): Promise<InboxPage> {
        const page = await super.read(mid, after, bound);
        await this.append([mid], { id: 'racing', op: 1, body: Buffer.from('r'), time: 1 });
        return page;
      }
    }
    const inbox = new Busy();
    const { logic } = await start(inbox);
    await MemoryInboxStore.prototype.append.call(inbox, [9n], { id: 'one', op: 1, body: Buffer.from('1'), time: 1 });
    const r = await logic.inbox({ mid: 9n, key: 'd', after: 0, limit: 10, maxBytes: 1000 });
    assert.deepEqual(
      r.records.map((x) => x.seq),
      [1],
    );
    assert.equal(r.last, 1, 'seq 2 was stored after the range was read');
    // A new device starts at the newest message (inbox.newDeviceRecent 0) and is registered.
    const d = await logic.inbox({ mid: 9n, key: 'new', limit: 10, maxBytes: 1000 });
    assert.equal(d.acked, 2);
    assert.deepEqual(
      (await inbox.devices(9n)).map((x) => [x.key, x.acked]),
      [['new', 2]],
    );
  });

  it('keeps the inbox API behind the API keys', async () => {
    const inbox = new MemoryInboxStore();
    const { base } = await start(inbox, { api: { auth: 'on', keys: [KEY] } });
    for (const [method, path] of [
      ['GET', '/tsim/inbox/1'],
      ['GET', '/tsim/inbox/1/devices'],
      ['DELETE', '/tsim/inbox/1'],
      ['GET', '/tsim/inbox/%31'],
    ]) {
      const r = await request(base, path, { method });
      assert.equal(r.status, 401, `${method} ${path}`);
    }
    const ok = await request(base, '/tsim/inbox/1', { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, '{"code":0,"message":"","data":{"mid":"1","first":1,"last":0,"entries":[]}}');
  });
});
