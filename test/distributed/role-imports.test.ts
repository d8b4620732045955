// What each role's module loads: a process carries only the packages of its own role (the
// CLI imports a role's code when its command runs), a comet primary none of the comet's, and
// no process without history the PostgreSQL driver. Each module is imported in a fresh node
// process that records every module it resolves.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

const RECORD = `
import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.add(r.url); return r; } });
for (const m of process.argv.slice(1)) await import(m);
console.log(JSON.stringify([...seen]));
`;

/** The packages (under node_modules) the modules load, e.g. "@grpc/grpc-js", "ioredis". */
async function packagesLoaded(...modules: string[]): Promise<Set<string>> {
  const urls = modules.map((m) => pathToFileURL(fileURLToPath(new URL(`../../src/${m}`, import.meta.url))).href);
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', RECORD, ...urls]);
  const out = new Set<string>();
  for (const url of JSON.parse(stdout) as string[]) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) out.add(m[1]);
  }
  return out;
}

const HEAVY = ['@grpc/grpc-js', 'ioredis', 'prom-client', 'fastify', 'pg', '@nats-io/transport-node', '@nats-io/jetstream', 'jose'];

function none(loaded: Set<string>, packages: readonly string[]): string[] {
  return packages.filter((p) => loaded.has(p));
}

describe('role modules load only what their role uses', () => {
  it('the CLI and its role commands load no role package before a command runs', async () => {
    assert.deepEqual(none(await packagesLoaded('cli-common.js', 'distributed/commands.js'), HEAVY), []);
  });

  it('a comet primary loads none of the comet: no gRPC, Redis, metrics, HTTP API, queue or database', async () => {
    assert.deepEqual(none(await packagesLoaded('distributed/comet-cluster.js'), HEAVY), []);
  });

  it('a comet worker loads gRPC, Redis and metrics, but nothing of logic or job', async () => {
    const loaded = await packagesLoaded('distributed/comet-worker.js');
    assert.deepEqual(none(loaded, ['fastify', 'pg', '@nats-io/transport-node', '@nats-io/jetstream', 'jose']), []);
    assert.ok(loaded.has('@grpc/grpc-js') && loaded.has('ioredis'));
  });

  it('a job and a logic load the PostgreSQL driver only when history is stored there', async () => {
    assert.deepEqual(none(await packagesLoaded('distributed/job-process.js'), ['pg', 'fastify', 'jose']), []);
    assert.deepEqual(none(await packagesLoaded('distributed/logic-process.js'), ['pg']), []);
  });
});
