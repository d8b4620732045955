// The `tsim` command as a user runs it: start, serve, stop on SIGTERM; bad config refused.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { packageRoot } from '../../src/package-root.js';
import { GoimTestClient } from '../support/goim-client.js';

const cli = join(packageRoot(), 'bin', 'tsim.js');

function run(args: string[]) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  return { child, exited };
}

describe('tsim CLI', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts embedded mode from a TOML file, serves a push, and exits 0 on SIGTERM', async () => {
    const conf = join(dir, 'tsim.toml');
    await writeFile(
      conf,
      ['[env]', 'host = "cli-comet"', '[tcp]', 'bind = ["127.0.0.1:0"]', '[websocket]', 'bind = ["127.0.0.1:0"]', '[httpServer]', 'addr = "127.0.0.1:0"', '[room]', 'signal = "10ms"', ''].join('\n'),
    );
    const { child, exited } = run(['start', '--config', conf]);
    const lines = createInterface({ input: child.stdout });
    let started: { tcp: string[]; http: string } | undefined;
    for await (const line of lines) {
      const rec = JSON.parse(line) as { msg: string; tcp: string[]; http: string };
      if (rec.msg.startsWith('tsim started')) {
        started = rec;
        break;
      }
    }
    assert.ok(started, 'start-up line logged');
    const port = (s: string) => Number(s.slice(s.lastIndexOf(':') + 1));
    const client = await GoimTestClient.tcp(port(started.tcp[0]), '127.0.0.1');
    await client.auth({ mid: 1, room_id: 'live://1' });
    const res = await fetch(`http://127.0.0.1:${port(started.http)}/goim/push/room?operation=1000&type=live&room=1`, { method: 'POST', body: 'hi' });
    assert.equal(await res.text(), '{"code":0,"message":""}');
    assert.equal((await client.next()).body.toString(), 'hi');

    child.kill('SIGTERM');
    const { code } = await exited;
    assert.equal(code, 0);
    await client.closed;
  });

  it('refuses an unknown key and a bad value, naming them', async () => {
    const conf = join(dir, 'bad.toml');
    await writeFile(conf, '[tcp]\nbindd = [":1"]\n[room]\nsignal = "soon"\n');
    const { code, stderr } = await run(['start', '--config', conf]).exited;
    assert.equal(code, 1);
    assert.match(stderr, /tcp\.bindd: unknown key/);
    assert.match(stderr, /room\.signal: invalid duration "soon"/);
  });

  it('prints help', async () => {
    const { child, exited } = run(['--help']);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    assert.equal((await exited).code, 0);
    assert.match(out, /start/);
  });
});
