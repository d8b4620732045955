// MemoryInboxStore against the InboxStore contract (test/contracts/inbox-store.contract.ts).
import { MemoryInboxStore } from '../../src/adapters/memory/inbox-store.js';
import { inboxStoreContract } from '../contracts/inbox-store.contract.js';

inboxStoreContract('MemoryInboxStore', async () => {
  const store = new MemoryInboxStore();
  return { subject: store, dispose: () => store.close() };
});
