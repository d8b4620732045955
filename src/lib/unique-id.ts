// Ids that must not repeat across processes and restarts, without a CSPRNG call each:
// crypto.randomBytes() costs 5–6 µs per call on a small VM (docs/benchmarks.md), drawn for every
// danmaku and room push. A prefix of 96 random bits drawn once, then a counter: two processes
// collide only if their prefixes do (p ≈ n²/2⁹⁷).
import { randomBytes } from 'node:crypto';

/** Past this count a new prefix is drawn, so the counter's text stays short. */
const ROLL = 2 ** 40;

export class UniqueIds {
  private prefix = '';
  private n = ROLL;

  next(): string {
    if (this.n >= ROLL) {
      this.prefix = randomBytes(12).toString('base64url');
      this.n = 0;
    }
    return this.prefix + (this.n++).toString(36);
  }
}
