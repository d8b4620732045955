import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryRegistry } from '../../src/adapters/memory/registry.js';
import { AppId, type Instance } from '../../src/ports/index.js';

function instance(hostname: string, metadata: Record<string, string> = {}, appid: string = AppId.Comet): Instance {
  return { region: '', zone: '', env: '', appid, hostname, addrs: [], version: '', latestTimestamp: 0, metadata };
}

/** Lets queued microtasks (watch deliveries) run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

/** Collects every list a watcher receives. */
function recorder() {
  const calls: Instance[][] = [];
  let wake: (() => void) | undefined;
  return {
    calls,
    onChange: (list: Instance[]) => {
      calls.push(list);
      wake?.();
    },
    /** Resolves once `n` lists have arrived. */
    async received(n: number): Promise<void> {
      while (calls.length < n) await new Promise<void>((r) => (wake = r));
    },
  };
}

describe('MemoryRegistry', () => {
  test('watch delivers the current list asynchronously, then the full list on every change', async () => {
    const r = new MemoryRegistry();
    await r.register(instance('a', { weight: '1' }));
    const rec = recorder();
    r.watch(AppId.Comet, rec.onChange);
    assert.equal(rec.calls.length, 0, 'not called synchronously');
    await rec.received(1);
    assert.deepEqual(
      rec.calls[0].map((i) => i.hostname),
      ['a'],
    );

    await r.register(instance('b'));
    await rec.received(2);
    assert.deepEqual(
      rec.calls[1].map((i) => i.hostname),
      ['a', 'b'],
    );

    await r.deregister(AppId.Comet, 'a');
    await rec.received(3);
    assert.deepEqual(
      rec.calls[2].map((i) => i.hostname),
      ['b'],
    );
    await r.close();
  });

  test('registering an existing hostname updates it with a newer latestTimestamp', async () => {
    const r = new MemoryRegistry();
    await r.register(instance('a', { conn_count: '1' }));
    const [first] = await r.list(AppId.Comet);
    await r.register(instance('a', { conn_count: '2' }));
    const list = await r.list(AppId.Comet);
    assert.equal(list.length, 1);
    assert.deepEqual(list[0].metadata, { conn_count: '2' });
    assert.ok(first.latestTimestamp > 1e18, 'nanoseconds since the epoch');
    assert.ok(list[0].latestTimestamp > first.latestTimestamp);
  });

  test('watchers only hear about their app; unknown deregistrations change nothing', async () => {
    const r = new MemoryRegistry();
    const rec = recorder();
    r.watch(AppId.Logic, rec.onChange);
    await rec.received(1);
    await r.register(instance('comet1'));
    await r.deregister(AppId.Logic, 'nobody');
    await settle();
    assert.equal(rec.calls.length, 1);
    await r.register(instance('logic1', {}, AppId.Logic));
    await rec.received(2);
    assert.deepEqual(
      rec.calls[1].map((i) => i.hostname),
      ['logic1'],
    );
  });

  test('stop and close end deliveries, including ones already queued', async () => {
    const r = new MemoryRegistry();
    const rec = recorder();
    const stop = r.watch(AppId.Comet, rec.onChange);
    stop();
    await r.register(instance('a'));
    await settle();
    assert.equal(rec.calls.length, 0);

    const rec2 = recorder();
    r.watch(AppId.Comet, rec2.onChange);
    await r.close();
    await settle();
    assert.equal(rec2.calls.length, 0);
  });

  test('lists are copies', async () => {
    const r = new MemoryRegistry();
    const mine = instance('a', { weight: '1' });
    await r.register(mine);
    mine.metadata.weight = '99';
    const [got] = await r.list(AppId.Comet);
    assert.equal(got.metadata.weight, '1');
    got.metadata.weight = '5';
    assert.equal((await r.list(AppId.Comet))[0].metadata.weight, '1');
    assert.deepEqual(await r.list('nothing'), []);
  });
});
