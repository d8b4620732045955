// Configured keys held as SHA-256 digests: a presented key is digested and compared with
// timingSafeEqual against every one of them, so timing reveals neither a key nor which one
// matched. Shared by the API keys (api-keys.ts) and the console's keys (admin-auth.ts).
import { createHash, timingSafeEqual } from 'node:crypto';

/** `Authorization: Bearer <token>`. */
export const BEARER_HEADER = /^Bearer +([^\s]+) *$/i;

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class KeyDigests<T> {
  private readonly digests: { holder: T; digest: Buffer }[];

  constructor(keys: readonly { holder: T; key: string }[]) {
    this.digests = keys.map((k) => ({ holder: k.holder, digest: digest(k.key) }));
  }

  /** The holder of `key` (the first configured one if several match), or undefined. */
  holder(key: string): T | undefined {
    const presented = digest(key);
    let found: T | undefined;
    for (const d of this.digests) if (timingSafeEqual(d.digest, presented) && found === undefined) found = d.holder;
    return found;
  }
}
