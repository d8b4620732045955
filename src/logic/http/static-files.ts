// The demo page's files, served by logic's HTTP server: `/` is index.html, `/<name>` a
// file of that name from the first web root that has it. Plain names only — no
// folders, no dot files — so a request can never leave the roots.
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
};

const PLAIN_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export interface StaticFile {
  body: Buffer;
  contentType: string;
}

export class StaticFiles {
  constructor(private readonly roots: readonly string[]) {}

  /** The file for a request name ('' = index.html), or undefined when none may be served. */
  async find(name: string): Promise<StaticFile | undefined> {
    const file = name === '' ? 'index.html' : name;
    if (!PLAIN_NAME.test(file) || file.includes('..')) return undefined;
    for (const root of this.roots) {
      try {
        const body = await readFile(join(root, file));
        return { body, contentType: CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream' };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') continue;
        throw err;
      }
    }
    return undefined;
  }
}
