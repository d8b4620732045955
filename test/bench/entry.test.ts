// The bench is a development tool with its own entry (dist/bench/main.js, `npm run bench --`):
// the production `tsim` command neither offers it nor imports bench/, whose libraries are
// devDependencies.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/package-root.js';

const root = packageRoot();
const run = (script: string, args: string[]) =>
  promisify(execFile)(process.execPath, [join(root, script), ...args], { timeout: 30_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
  );

async function sources(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) found.push(...(await sources(path)));
    else if (e.name.endsWith('.ts')) found.push(path);
  }
  return found;
}

describe('bench entry', () => {
  it('tsim --help lists the roles but not bench', async () => {
    const help = await run('dist/src/cli.js', ['--help']);
    assert.equal(help.code, 0, help.out);
    for (const role of ['start', 'comet', 'logic', 'job']) assert.match(help.out, new RegExp(`\\b${role}\\b`));
    assert.doesNotMatch(help.out, /\bbench\b/);
  });

  it('no module under src/ imports from bench/', async () => {
    const offenders: string[] = [];
    for (const file of await sources(join(root, 'src'))) {
      if (/from\s+'(\.\.\/)+bench\//.test(await readFile(file, 'utf8'))) offenders.push(file);
    }
    assert.deepEqual(offenders, []);
  });

  it('npm run bench -- --help lists the scenarios', async () => {
    const help = await run('dist/bench/main.js', ['--help']);
    assert.equal(help.code, 0, help.out);
    assert.match(help.out, /Usage: npm run bench -- /);
    for (const scenario of ['fanout', 'connect', 'push-api', 'history-store', 'danmaku', 'profile'])
      assert.match(help.out, new RegExp(`\\b${scenario}\\b`));
  });
});
