import { existsSync, readFileSync } from 'node:fs';
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

/** Where logic serves the operations console from (/admin/<name>): its own folders, which the demo's file route cannot reach. */
export function adminRoots(): string[] {
  const root = packageRoot();
  return [join(root, 'web', 'admin'), join(root, 'dist', 'web', 'admin')];
}

let version: string | undefined;

/** tsim's version (package.json), as node snapshots report it. */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? '';
  return version;
}
