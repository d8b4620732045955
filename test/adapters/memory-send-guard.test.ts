// MemorySendGuard against the SendGuard contract (test/contracts/send-guard.contract.ts), then
// its bound: a flood of users or nonces holds memory at maxEntries.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemorySendGuard } from '../../src/adapters/memory/send-guard.js';
import { sendGuardContract } from '../contracts/send-guard.contract.js';
import { ManualClock } from '../support/manual-clock.js';

sendGuardContract('MemorySendGuard', async () => ({ subject: new MemorySendGuard(), dispose: async () => {} }));

describe('MemorySendGuard: bounds', () => {
  test('past maxEntries the expired entries go first, then the oldest live one', async () => {
    const clock = new ManualClock();
    const g = new MemorySendGuard({ maxEntries: 100, clock });
    for (let i = 0; i < 50; i++) await g.claimSlot(`m${i}`, 'r', 1000);
    clock.advance(2000);
    for (let i = 0; i < 10_000; i++) await g.claimSlot(`x${i}`, 'r', 60_000);
    for (let i = 0; i < 10_000; i++) await g.claimNonce(`x${i}`, 'n', 60_000);
    assert.equal(g.size, 200);
    // The newest are still remembered; the oldest were dropped for them.
    assert.equal(await g.claimSlot('x9999', 'r', 60_000), undefined);
    assert.deepEqual(await g.claimNonce('x9999', 'n', 60_000), { state: 'pending' });
    assert.notEqual(await g.claimSlot('x0', 'r', 60_000), undefined);
  });

  test('an entry set again is evicted by its newest time; released and re-set entries leave no bookkeeping behind', async () => {
    const clock = new ManualClock();
    const g = new MemorySendGuard({ maxEntries: 10, clock });
    for (let i = 0; i < 10; i++) await g.claimNonce('m', `n${i}`, 60_000);
    // n0 answered now: it is the newest set, so the next nine newcomers push out n1…n9 first.
    await g.settleNonce('m', 'n0', Buffer.from('first'), 60_000);
    for (let i = 0; i < 9; i++) await g.claimNonce('m', `new${i}`, 60_000);
    assert.deepEqual(await g.claimNonce('m', 'n0', 60_000), { state: 'answered', answer: Uint8Array.from(Buffer.from('first')) });
    assert.equal((await g.claimNonce('m', 'n1', 60_000)).state, 'first');
    // A million claims given back at once hold nothing: the guard's memory stays at its bound.
    const guard = new MemorySendGuard({ maxEntries: 100, clock });
    for (let i = 0; i < 1_000_000; i++) {
      const c = await guard.claimNonce('m', `r${i}`, 60_000);
      if (c.state === 'first') await guard.releaseNonce('m', `r${i}`, c.token);
    }
    assert.equal(guard.size, 0);
    const held = (guard as unknown as { nonces: { keys: string[] } }).nonces.keys.length;
    assert.ok(held <= 2 * 100 + 1024, `bookkeeping of ${held} references for 100 entries`);
  });

  test('expiry follows the clock it is given', async () => {
    const clock = new ManualClock();
    const g = new MemorySendGuard({ clock });
    await g.settleNonce('m1', 'n', Buffer.from('a'), 1000);
    clock.advance(999);
    assert.equal((await g.claimNonce('m1', 'n', 5000)).state, 'answered');
    clock.advance(1);
    assert.equal((await g.claimNonce('m1', 'n', 5000)).state, 'first');
  });
});
