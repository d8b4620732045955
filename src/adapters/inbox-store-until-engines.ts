// The one place the wirings (embedded.ts, distributed/logic-process.ts) open the inbox store
// until the storage engines land: then adapters/open-inbox-store.ts's
// openInboxStore(settings, log), driven by the `[inbox]` storage keys, replaces this call.
// Until then inboxes live in the logic process's memory: they do not survive a restart, and
// in distributed mode one logic must serve every comet.
import type { InboxStore } from '../ports/index.js';
import { MemoryInboxStore } from './memory/inbox-store.js';

export function openInboxStoreForNow(): Promise<InboxStore> {
  return Promise.resolve(new MemoryInboxStore());
}
