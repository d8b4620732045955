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
