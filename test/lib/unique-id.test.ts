// Message ids and claim tokens: never repeated within a process, distinct between processes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UniqueIds } from '../../src/lib/unique-id.js';

describe('UniqueIds', () => {
  it('hands out distinct url-safe ids, and two generators share none', () => {
    const a = new UniqueIds();
    const b = new UniqueIds();
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      for (const id of [a.next(), b.next()]) {
        assert.match(id, /^[A-Za-z0-9_-]{22}$/);
        assert.equal(seen.has(id), false, `repeated ${id}`);
        seen.add(id);
      }
    }
    assert.equal(seen.size, 200_000);
  });

  it('draws a new prefix once the counter rolls over', () => {
    const ids = new UniqueIds();
    const first = ids.next();
    (ids as unknown as { n: number }).n = 2 ** 36 - 1;
    assert.equal(ids.next().slice(16), '______');
    const rolled = ids.next();
    assert.notEqual(rolled.slice(0, 16), first.slice(0, 16));
    assert.equal(rolled.slice(16), 'AAAAAA');
  });
});
