// Removes dist/ before a build, so that the compiled tree holds only what the sources produce:
// a deleted test or module must not keep running from a stale copy (npm test runs
// dist/test/**). Cross-platform stand-in for `rm -rf dist`.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

rmSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'dist'), { recursive: true, force: true });
