// A short run of the `npm run fuzz` program (bench/fuzz/main.ts) against a live server in
// a child process: it must pass, i.e. the server survives and normal clients lose nothing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const MAIN = fileURLToPath(new URL('../../bench/fuzz/main.js', import.meta.url));

it('fuzz run: 20,000 frames, the server survives and normal clients get every push', async () => {
  const child = spawn(process.execPath, [MAIN, '--frames', '20000', '--duration', '60', '--seed', '7', '--concurrency', '32', '--normal', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, `fuzz run failed:\n${out}\n${err}`);
  assert.match(out, /frames thrown\s+20,000/);
  assert.match(out, /normal clients: pushes lost\s+0/);
  assert.match(out, /^OK: /m);
});
