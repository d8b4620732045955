// Ids of room messages (PushMsg.id, docs/history.md#the-queue-message): 16 random bytes,
// base64url, so ids from any number of logic processes never collide and a job recognises a
// redelivered message by its id.
import { randomBytes } from 'node:crypto';

export function newMessageId(): string {
  return randomBytes(16).toString('base64url');
}
