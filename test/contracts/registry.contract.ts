// What every Registry promises (src/ports/registry.ts), run against each adapter:
// test/adapters/memory-registry.test.ts and redis-registry.test.ts. Cases go through the
// port only and wait for deliveries, never for time: a watcher's list arrives when the
// adapter delivers it (a microtask in memory, a read after pub/sub on Redis).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppId, type Instance, type Registry } from '../../src/ports/index.js';
import { opener, type ContractOptions, type Factory } from './subject.js';

function instance(hostname: string, metadata: Record<string, string> = {}, appid: string = AppId.Comet): Instance {
  return {
    region: 'sh',
    zone: 'sh001',
    env: 'dev',
    appid,
    hostname,
    addrs: ['grpc://127.0.0.1:3109'],
    version: '1',
    // What registrants send: now, in nanoseconds.
    latestTimestamp: Date.now() * 1e6,
    metadata,
  };
}

/** Host names, sorted: the port promises the instances, not their order. */
const hosts = (l: Instance[]): string[] => l.map((i) => i.hostname).sort();

/** Collects every list a watcher receives and waits for one that matches. */
class WatchLog {
  readonly lists: Instance[][] = [];
  private waiters: Array<{ match: (l: Instance[]) => boolean; resolve: (l: Instance[]) => void }> = [];

  readonly onChange = (l: Instance[]): void => {
    this.lists.push(l);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(l)) return true;
      w.resolve(l);
      return false;
    });
  };

  /** The latest list if it matches, else the next one that does; fails after `ms`. */
  until(match: (l: Instance[]) => boolean, what: string, ms = 10_000): Promise<Instance[]> {
    const last = this.lists.at(-1);
    if (last && match(last)) return Promise.resolve(last);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`watch: no list with ${what} within ${ms} ms; got ${JSON.stringify(this.lists.map(hosts))}`)),
        ms,
      );
      this.waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }

  /** Waits for a list of exactly these host names. */
  hosts(expected: string[], what = expected.join() || 'an empty list'): Promise<Instance[]> {
    return this.until((l) => hosts(l).join() === [...expected].sort().join(), what);
  }
}

/** Resolves after queued microtasks, and the I/O and immediates already due, have run. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Everything but latestTimestamp, which a registry may stamp itself. */
const fields = (i: Instance): Instance => ({ ...i, latestTimestamp: 0 });

export function registryContract(name: string, factory: Factory<Registry>, options: ContractOptions = {}): void {
  describe(`Registry contract: ${name}`, { skip: options.skip }, () => {
    const open = opener(factory);

    test('watch delivers the current list asynchronously, then the full list on every change', async () => {
      const r = await open();
      await r.register(instance('a', { weight: '1' }));
      const seen = new WatchLog();
      r.watch(AppId.Comet, seen.onChange);
      assert.equal(seen.lists.length, 0, 'not called synchronously');
      await seen.hosts(['a']);
      await r.register(instance('b'));
      await seen.hosts(['a', 'b']);
      await r.deregister(AppId.Comet, 'a');
      await seen.hosts(['b']);
      await r.deregister(AppId.Comet, 'b');
      await seen.hosts([]);
    });

    test('list returns what was registered; a registration is no older than what the registrant sent', async () => {
      const r = await open();
      const sent = instance('json-host', { weight: '10', conn_count: '3' }, AppId.Logic);
      await r.register(sent);
      const [got, ...rest] = await r.list(AppId.Logic);
      assert.deepEqual(rest, []);
      assert.deepEqual(fields(got), fields(sent));
      assert.ok(got.latestTimestamp >= sent.latestTimestamp, `${got.latestTimestamp} >= ${sent.latestTimestamp}`);
      assert.deepEqual(await r.list('nothing'), []);
    });

    test('registering an existing hostname replaces it; watchers get the new metadata', async () => {
      const r = await open();
      const seen = new WatchLog();
      r.watch(AppId.Comet, seen.onChange);
      await r.register(instance('a', { conn_count: '1' }));
      const [first] = await seen.until((l) => l[0]?.metadata.conn_count === '1', 'conn_count 1');
      await r.register(instance('a', { conn_count: '2' }));
      const [second] = await seen.until((l) => l[0]?.metadata.conn_count === '2', 'conn_count 2');
      assert.ok(second.latestTimestamp >= first.latestTimestamp);
      const list = await r.list(AppId.Comet);
      assert.equal(list.length, 1);
      assert.deepEqual(list[0].metadata, { conn_count: '2' });
    });

    test('watchers only hear about their app; unknown deregistrations change nothing', async () => {
      const r = await open();
      const seen = new WatchLog();
      r.watch(AppId.Logic, seen.onChange);
      await seen.hosts([]);
      await r.register(instance('comet1'));
      await r.deregister(AppId.Logic, 'nobody');
      await r.register(instance('logic1', {}, AppId.Logic));
      await seen.hosts(['logic1']);
      assert.deepEqual(seen.lists.map(hosts), [[], ['logic1']], 'nothing in between');
    });

    test('a stopped watcher hears nothing more, not even a delivery already under way', async () => {
      const r = await open();
      const stopped = new WatchLog();
      const stop = r.watch(AppId.Comet, stopped.onChange);
      stop();
      await r.register(instance('a'));
      // Another watcher of the same app seeing 'a' means the stopped one would have by now.
      const other = new WatchLog();
      r.watch(AppId.Comet, other.onChange);
      await other.hosts(['a']);
      assert.deepEqual(stopped.lists, []);
    });

    test('close ends deliveries, including ones already under way', async () => {
      const r = await open();
      await r.register(instance('a'));
      const seen = new WatchLog();
      r.watch(AppId.Comet, seen.onChange);
      await r.close();
      await turn();
      assert.deepEqual(seen.lists, []);
    });

    test('lists are copies', async () => {
      const r = await open();
      const mine = instance('a', { weight: '1' });
      await r.register(mine);
      mine.metadata.weight = '99';
      mine.addrs.push('grpc://mutated:1');
      const [got] = await r.list(AppId.Comet);
      assert.equal(got.metadata.weight, '1');
      assert.deepEqual(got.addrs, ['grpc://127.0.0.1:3109']);
      got.metadata.weight = '5';
      got.addrs.length = 0;
      const [again] = await r.list(AppId.Comet);
      assert.equal(again.metadata.weight, '1');
      assert.deepEqual(again.addrs, ['grpc://127.0.0.1:3109']);
    });
  });
}
