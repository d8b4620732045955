// Ids that must not repeat across processes and restarts, without a CSPRNG call each:
// crypto.randomBytes() costs 5–6 µs per call on a small VM (docs/benchmarks.md), drawn for every
// danmaku and room push. 96 random bits drawn once per 2^36 ids, then a counter: 22 url-safe
// characters, the length of 16 random bytes in base64url. Two processes collide only if their
// prefixes do (p ≈ n²/2⁹⁷).
import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Six base64url characters of counter. */
const ROLL = 2 ** 36;

export class UniqueIds {
  private prefix = '';
  private n = ROLL;

  next(): string {
    if (this.n >= ROLL) {
      this.prefix = randomBytes(12).toString('base64url');
      this.n = 0;
    }
    let x = this.n++;
    let tail = '';
    for (let i = 0; i < 6; i++) {
      tail = ALPHABET[x % 64] + tail;
      x = Math.floor(x / 64);
    }
    return this.prefix + tail;
  }
}
