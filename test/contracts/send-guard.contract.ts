// What every SendGuard promises (src/ports/send-guard.ts), run against each adapter:
// test/adapters/memory-send-guard.test.ts and redis-send-guard.test.ts. Expiry is waited for by
// polling the guard (no event announces it), bounded by eventually().
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SendGuard } from '../../src/ports/index.js';
import { eventually } from '../support/eventually.js';
import { opener, type ContractOptions, type Factory } from './subject.js';

const LONG = 60_000;
const bytes = (s: string) => Buffer.from(s);

export function sendGuardContract(name: string, factory: Factory<SendGuard>, options: ContractOptions = {}): void {
  describe(`SendGuard contract: ${name}`, { skip: options.skip }, () => {
    const open = opener(factory);

    test('a slot is held once per user and room; only its token gives it back', async () => {
      const g = await open();
      const t = await g.claimSlot('m1', 'live://1', LONG);
      assert.equal(typeof t, 'string');
      assert.equal(await g.claimSlot('m1', 'live://1', LONG), undefined);
      assert.equal(typeof (await g.claimSlot('m1', 'live://2', LONG)), 'string', 'another room');
      assert.equal(typeof (await g.claimSlot('m2', 'live://1', LONG)), 'string', 'another user');
      await g.releaseSlot('m1', 'live://1', 'not-the-token');
      assert.equal(await g.claimSlot('m1', 'live://1', LONG), undefined);
      await g.releaseSlot('m1', 'live://1', t!);
      assert.equal(typeof (await g.claimSlot('m1', 'live://1', LONG)), 'string');
    });

    test('a slot lapses after its time', async () => {
      const g = await open();
      assert.notEqual(await g.claimSlot('m1', 'r', 100), undefined);
      await eventually(async () => (await g.claimSlot('m1', 'r', LONG)) !== undefined, 'the slot to lapse');
    });

    test('a nonce: first, then pending, then the stored answer, byte for byte', async () => {
      const g = await open();
      const c = await g.claimNonce('m1', 'n1', LONG);
      assert.equal(c.state, 'first');
      assert.deepEqual(await g.claimNonce('m1', 'n1', LONG), { state: 'pending' });
      assert.equal((await g.claimNonce('m2', 'n1', LONG)).state, 'first', 'another user');
      const answer = bytes('{"code":0,"id":"é"}');
      await g.settleNonce('m1', 'n1', answer, LONG);
      const again = await g.claimNonce('m1', 'n1', LONG);
      assert.equal(again.state, 'answered');
      assert.deepEqual(again.state === 'answered' ? Buffer.from(again.answer) : null, answer);
    });

    test('concurrent claims of one nonce: exactly one is first', async () => {
      const g = await open();
      const claims = await Promise.all(Array.from({ length: 20 }, () => g.claimNonce('m1', 'race', LONG)));
      assert.equal(claims.filter((c) => c.state === 'first').length, 1);
      assert.equal(claims.filter((c) => c.state === 'pending').length, 19);
    });

    test('a released nonce is claimed afresh; a wrong token releases nothing', async () => {
      const g = await open();
      const c = await g.claimNonce('m1', 'n', LONG);
      assert.equal(c.state, 'first');
      await g.releaseNonce('m1', 'n', 'not-the-token');
      assert.deepEqual(await g.claimNonce('m1', 'n', LONG), { state: 'pending' });
      await g.releaseNonce('m1', 'n', c.state === 'first' ? c.token : '');
      assert.equal((await g.claimNonce('m1', 'n', LONG)).state, 'first');
    });

    test('a pending claim lapses after pendingMs, an answer after its window', async () => {
      const g = await open();
      assert.equal((await g.claimNonce('m1', 'p', 100)).state, 'first');
      await eventually(async () => (await g.claimNonce('m1', 'p', LONG)).state === 'first', 'the pending claim to lapse');
      await g.settleNonce('m1', 'a', bytes('x'), 100);
      assert.equal((await g.claimNonce('m1', 'a', LONG)).state, 'answered');
      await eventually(async () => (await g.claimNonce('m1', 'a', LONG)).state === 'first', 'the answer to lapse');
    });

    test('user and nonce (or room) never run into each other', async () => {
      const g = await open();
      assert.equal((await g.claimNonce('a', 'bc', LONG)).state, 'first');
      assert.equal((await g.claimNonce('ab', 'c', LONG)).state, 'first');
      assert.notEqual(await g.claimSlot('a', 'bc', LONG), undefined);
      assert.notEqual(await g.claimSlot('ab', 'c', LONG), undefined);
      assert.equal((await g.claimNonce('a', 'b\nc', LONG)).state, 'first');
    });
  });
}
