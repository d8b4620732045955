// MemoryHistoryStore against the HistoryStore contract (test/contracts/history-store.contract.ts).
import { MemoryHistoryStore } from '../../src/adapters/memory/history-store.js';
import { historyStoreContract } from '../contracts/history-store.contract.js';

historyStoreContract('MemoryHistoryStore', async () => {
  const store = new MemoryHistoryStore();
  return { subject: store, dispose: () => store.close() };
});
