import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding tsim's package.json (works from src/ run as TypeScript and from dist/src/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'web'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot locate the tsim package folder');
    dir = up;
  }
}

/** Where logic serves the demo page from: the sources, then the bundled scripts. */
export function webRoots(): string[] {
  const root = packageRoot();
  return [join(root, 'web'), join(root, 'dist', 'web')];
}
