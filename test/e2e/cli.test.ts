// The `tsim` command as a user runs it: start, serve, stop on SIGTERM; bad config refused.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
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

interface StartedLine {
  msg: string;
  tcp: string[];
  websocket: string[];
  http: string;
}

/** The JSON "tsim started" line the CLI logs once it listens. */
async function startedLine(child: ChildProcess): Promise<StartedLine> {
  for await (const line of createInterface({ input: child.stdout! })) {
    const rec = JSON.parse(line) as StartedLine;
    if (rec.msg.startsWith('tsim started')) return rec;
  }
  throw new Error('the CLI exited before logging its start-up line');
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
      [
        '[env]',
        'host = "cli-comet"',
        '[tcp]',
        'bind = ["127.0.0.1:0"]',
        '[websocket]',
        'bind = ["127.0.0.1:0"]',
        '[httpServer]',
        'addr = "127.0.0.1:0"',
        '[room]',
        'signal = "10ms"',
        '',
      ].join('\n'),
    );
    const { child, exited } = run(['start', '--config', conf]);
    const started = await startedLine(child);
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

  it('on SIGTERM delivers every push it accepted before closing, and exits 0', async () => {
    const conf = join(dir, 'drain.toml');
    // A long room.signal: the pushes are still held in room batches when SIGTERM arrives.
    await writeFile(
      conf,
      [
        '[tcp]',
        'bind = ["127.0.0.1:0"]',
        '[websocket]',
        'bind = ["127.0.0.1:0"]',
        '[httpServer]',
        'addr = "127.0.0.1:0"',
        '[room]',
        'signal = "10s"',
        'batch = 1000',
        '',
      ].join('\n'),
    );
    const { child, exited } = run(['start', '--config', conf]);
    const started = await startedLine(child);
    const port = (s: string) => Number(s.slice(s.lastIndexOf(':') + 1));
    const tcp = await GoimTestClient.tcp(port(started.tcp[0]), '127.0.0.1');
    const ws = await GoimTestClient.ws(port(started.websocket[0].replace('/sub', '')), { host: '127.0.0.1' });
    await tcp.auth({ mid: 1, room_id: 'live://drain' });
    await ws.auth({ mid: 2, room_id: 'live://drain' });
    const total = 300;
    for (let i = 0; i < total; i++) {
      const res = await fetch(`http://127.0.0.1:${port(started.http)}/goim/push/room?operation=1000&type=live&room=drain`, {
        method: 'POST',
        body: `m${i}`,
      });
      assert.equal(await res.text(), '{"code":0,"message":""}');
    }
    child.kill('SIGTERM');
    const expected = Array.from({ length: total }, (_, i) => `m${i}`);
    for (const c of [tcp, ws]) {
      const frames = await c.collect(total, 20_000);
      assert.deepEqual(
        frames.map((f) => f.body.toString()),
        expected,
      );
      await c.closed;
    }
    assert.equal((await exited).code, 0);
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
