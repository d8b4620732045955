// `tsim comet | logic | job` as commands: listed in the help, refusing a bad configuration,
// a comet booting while Redis is unreachable, and a comet group failing start-up as a whole.
// None of these needs a running Redis or NATS.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'smol-toml';
import { packageRoot } from '../../src/package-root.js';
import { cometConfig, freePort, TsimProcess, type CometStarted } from '../support/cluster.js';

const cli = process.env.TSIM_CLI ?? join(packageRoot(), 'bin', 'tsim.js');

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
}

describe('tsim comet | logic | job commands', () => {
  let dir: string;
  const procs: TsimProcess[] = [];
  let blocker: Server | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-role-cli-'));
  });

  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    blocker?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the role commands in the help', async () => {
    const { code, stdout } = await run(['--help']);
    assert.equal(code, 0);
    for (const role of ['comet', 'logic', 'job']) assert.match(stdout, new RegExp(`^\\s+${role} \\[options\\]`, 'm'));
    const comet = await run(['comet', '--help']);
    assert.match(comet.stdout, /--config <file>/);
  });

  for (const role of ['comet', 'logic', 'job']) {
    it(`${role}: refuses a bad configuration, naming the key (exit 1)`, async () => {
      const conf = join(dir, `bad-${role}.toml`);
      await writeFile(conf, '[rpcServer]\naddr = "nowhere"\n[registry]\nttl = "soon"\n');
      const { code, stderr } = await run([role, '--config', conf]);
      assert.equal(code, 1);
      assert.match(stderr, /rpcServer\.addr: invalid listen address "nowhere"/);
      assert.match(stderr, /registry\.ttl: invalid duration "soon"/);
    });
  }

  it('comet: refuses calls to logic without a deadline while they are bounded (exit 1)', async () => {
    const conf = join(dir, 'no-deadline.toml');
    await writeFile(conf, '[rpcClient]\ntimeout = "0"\n');
    const { code, stderr } = await run(['comet', '--config', conf]);
    assert.equal(code, 1);
    assert.match(stderr, /rpcClient\.timeout: "0" \(no deadline\) cannot be combined with limits\.logicCalls > 0/);
  });

  it('comet: starts while Redis is unreachable (registering later), and exits 0 on SIGTERM', async () => {
    const conf = join(dir, 'lonely-comet.toml');
    await writeFile(conf, stringify(cometConfig('lonely')));
    const p = new TsimProcess('comet', 'lonely', conf, { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    procs.push(p);
    const started = (await p.started) as CometStarted;
    assert.equal(started.serverId, 'lonely');
    await p.waitForLog((r) => r.msg === 'comet: registry update failed', 'the failed registration to be logged');
    assert.equal((await p.stop()).code, 0, p.diagnostics());
  });

  it('comet with workers: a worker failing at start-up stops the group (exit 1)', async () => {
    blocker = createServer();
    const port = await new Promise<number>((resolve) =>
      blocker!.listen(0, '127.0.0.1', () => resolve((blocker!.address() as { port: number }).port)),
    );
    const conf = join(dir, 'busy-comet.toml');
    await writeFile(conf, stringify(cometConfig('busy', { comet: { workers: 2 }, tcp: { bind: [`127.0.0.1:${port}`] } })));
    const { code, stderr } = await run(['comet', '--config', conf], { REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    assert.equal(code, 1);
    assert.match(stderr, /comet worker \d exited during start-up/);
  });
});
