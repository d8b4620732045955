// MemorySessionStore against the SessionStore contract (test/contracts/session-store.contract.ts).
import { MemorySessionStore } from '../../src/adapters/memory/session-store.js';
import { sessionStoreContract } from '../contracts/session-store.contract.js';

sessionStoreContract('MemorySessionStore', async () => {
  const store = new MemorySessionStore();
  return { subject: store, dispose: () => store.close() };
});
