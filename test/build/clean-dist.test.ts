// `npm test` runs every dist/test/**/*.test.js, so the build it runs first (npm run build)
// starts from an empty dist/ (scripts/clean.mjs): a deleted or moved module must not keep
// running from a stale compiled copy. This checks the tree it produced.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { it } from 'node:test';
import { packageRoot } from '../../src/package-root.js';

async function compiled(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) found.push(...(await compiled(path)));
    else if (e.name.endsWith('.js')) found.push(path);
  }
  return found;
}

it('every compiled module in dist/ has its source', async () => {
  const root = packageRoot();
  const stale: string[] = [];
  for (const folder of ['src', 'test', 'bench']) {
    for (const js of await compiled(join(root, 'dist', folder))) {
      const source = join(root, relative(join(root, 'dist'), js)).replace(/\.js$/, '.ts');
      if (!existsSync(source)) stale.push(relative(root, js));
    }
  }
  assert.deepEqual(stale, [], 'compiled files whose source is gone (build without scripts/clean.mjs?)');
});
