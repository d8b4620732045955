// MemoryInboxStore against the InboxStore contract (test/contracts/inbox-store.contract.ts), then
// what only it has: a refused call leaves no trace in its map.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryInboxStore } from '../../src/adapters/memory/inbox-store.js';
import { InboxAckRangeError } from '../../src/ports/index.js';
import { inboxStoreContract } from '../contracts/inbox-store.contract.js';

inboxStoreContract('MemoryInboxStore', async (limits) => {
  const store = new MemoryInboxStore(limits);
  return { subject: store, dispose: () => store.close() };
});

test('a refused ack of a user never stored for makes no entry for it', async () => {
  const store = new MemoryInboxStore();
  const users = (store as unknown as { users: Map<bigint, unknown> }).users;
  await assert.rejects(store.ack(9n, 'd', 1, 0), InboxAckRangeError);
  assert.equal(users.size, 0);
});

test('limits that are not positive integers are refused at construction', () => {
  assert.throws(() => new MemoryInboxStore({ maxDevices: 0 }), /maxDevices 0 is not a positive integer/);
  assert.throws(() => new MemoryInboxStore({ maxBodyBytes: 1.5 }), /maxBodyBytes/);
});
