import { randomBytes } from 'node:crypto';

/** A short random name for a new history epoch (docs/history.md#offsets-and-epochs). */
export function newEpochName(): string {
  return randomBytes(6).toString('base64url');
}
