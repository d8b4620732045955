// What every LeaseStore promises (src/ports/lease-store.ts), run against each adapter:
// test/adapters/memory-lease-store.test.ts and redis-lease-store.test.ts. Lapses are waited
// for by polling the store (no event announces them), bounded by eventually().
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LeaseStore } from '../../src/ports/index.js';
import { eventually } from '../support/eventually.js';
import { opener, type ContractOptions, type Factory } from './subject.js';

export function leaseStoreContract(name: string, factory: Factory<LeaseStore>, options: ContractOptions = {}): void {
  describe(`LeaseStore contract: ${name}`, { skip: options.skip }, () => {
    const open = opener(factory);

    test('one owner at a time; the owner renews; release frees it', async () => {
      const store = await open();
      assert.equal(await store.acquire('p0', 'job-a', 10_000), true);
      assert.equal(await store.acquire('p0', 'job-b', 10_000), false);
      assert.equal(await store.acquire('p0', 'job-a', 10_000), true, 'renewal');
      await store.release('p0', 'job-b'); // not the owner: no effect
      assert.equal(await store.acquire('p0', 'job-b', 10_000), false);
      await store.release('p0', 'job-a');
      assert.equal(await store.acquire('p0', 'job-b', 10_000), true);
    });

    test('a lease not renewed lapses and can be taken', async () => {
      const store = await open();
      assert.equal(await store.acquire('p1', 'job-a', 150), true);
      await eventually(async () => store.acquire('p1', 'job-b', 10_000), 'the lease to lapse');
      assert.equal(await store.acquire('p1', 'job-a', 10_000), false);
    });

    test('leases and groups of different names are independent', async () => {
      const store = await open();
      assert.equal(await store.acquire('p0', 'job-a', 10_000), true);
      assert.equal(await store.acquire('p1', 'job-b', 10_000), true);
      await store.release('p1', 'job-b');
      assert.equal(await store.acquire('p0', 'job-b', 10_000), false, "p0 is still job-a's");
      assert.deepEqual(await store.heartbeat('g1', 'job-a', 10_000), ['job-a']);
      assert.deepEqual(await store.heartbeat('g2', 'job-b', 10_000), ['job-b']);
      await store.leave('g2', 'job-a'); // not a member of g2: no effect
      assert.deepEqual(await store.heartbeat('g2', 'job-c', 10_000), ['job-b', 'job-c']);
    });

    test('members: sorted, expire without heartbeats, leave at once', async () => {
      const store = await open();
      assert.deepEqual(await store.heartbeat('g', 'job-b', 10_000), ['job-b']);
      assert.deepEqual(await store.heartbeat('g', 'job-a', 10_000), ['job-a', 'job-b']);
      assert.deepEqual(await store.heartbeat('g', 'job-c', 150), ['job-a', 'job-b', 'job-c']);
      await eventually(async () => (await store.heartbeat('g', 'job-a', 10_000)).join() === 'job-a,job-b', 'job-c to expire');
      await store.leave('g', 'job-b');
      assert.deepEqual(await store.heartbeat('g', 'job-a', 10_000), ['job-a']);
    });
  });
}
