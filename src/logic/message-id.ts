// Ids of room messages (PushMsg.id, docs/history.md#the-queue-message): unique across any
// number of logic processes and restarts (lib/unique-id.ts), so a job recognises a redelivered
// message by its id.
import { UniqueIds } from '../lib/unique-id.js';

const ids = new UniqueIds();

export function newMessageId(): string {
  return ids.next();
}
