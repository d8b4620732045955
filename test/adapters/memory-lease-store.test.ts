// LocalLeaseStore against the LeaseStore contract (test/contracts/lease-store.contract.ts).
import { LocalLeaseStore } from '../../src/adapters/memory/lease-store.js';
import { leaseStoreContract } from '../contracts/lease-store.contract.js';

leaseStoreContract('LocalLeaseStore', async () => ({ subject: new LocalLeaseStore(), dispose: async () => {} }));
