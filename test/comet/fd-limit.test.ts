// Running out of file descriptors: the caps derived from the fd limit when limits.maxConnections
// and maxConnectionsPerIp are unset, and, when they are set too high, the log line and the
// counter once no descriptor is left (libuv then drops new connections without telling Node).
// The process under test is `tsim start` in a child whose fd limit is lowered with ulimit.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { connectionCaps, fdAvailable, fdNeeds, fdNeedsTotal, PROCESS_FDS, readFdLimit } from '../../src/file-descriptors.js';
import { packageRoot } from '../../src/package-root.js';
import { Op } from '../../src/protocol/ops.js';
import { GoimTestClient } from '../support/goim-client.js';
import { eventually } from '../support/eventually.js';

const FD_LIMIT = 128;
const cli = join(packageRoot(), 'bin', 'tsim.js');
const limitsOf = (input: Record<string, unknown>) => configSchema.parse({ limits: input }).limits;

describe('fd limit: derived caps', () => {
  it('reads the soft limit from /proc/self/limits text', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units',
      'Max processes             63340                63340                processes',
      'Max open files            1024                 524288               files',
    ].join('\n');
    assert.equal(readFdLimit(text), 1024);
    assert.equal(readFdLimit(text.replace('1024 ', 'unlimited ')), Infinity);
    assert.equal(readFdLimit('nothing here'), undefined);
    if (process.platform === 'linux') assert.ok((readFdLimit() ?? 0) > 0);
  });

  it('unset caps come from the fd limit minus limits.reservedFds (a quarter of it per IP); set ones win', () => {
    assert.deepEqual(
      { ...connectionCaps(limitsOf({}), 20_000), derived: undefined },
      { maxConnections: 20_000 - 384, maxConnectionsPerIp: Math.floor((20_000 - 384) / 4), fdLimit: 20_000, derived: undefined, reserved: 384 },
    );
    // A tiny limit keeps half for the rest of the process.
    assert.equal(connectionCaps(limitsOf({}), 64).maxConnections, 32);
    assert.equal(connectionCaps(limitsOf({ reservedFds: 100 }), 1000).maxConnections, 900);
    assert.deepEqual(connectionCaps(limitsOf({ maxConnections: 0, maxConnectionsPerIp: 0 }), 64).maxConnections, 0);
    // The per-IP default follows the fd limit, not a configured maxConnections.
    assert.equal(connectionCaps(limitsOf({ maxConnections: 0 }), 1024).maxConnectionsPerIp, 160);
    assert.equal(connectionCaps(limitsOf({ maxConnections: 2 }), 1024).maxConnectionsPerIp, 160);
    assert.equal(connectionCaps(limitsOf({ maxConnectionsPerIp: 7 }), 1024).maxConnectionsPerIp, 7);
    assert.equal(connectionCaps(limitsOf({}), Infinity).maxConnections, 0);
    assert.equal(fdAvailable(), true);
  });

  it('the derived caps leave room for the HTTP API, refused WebSocket sockets and the process, whatever the limit', () => {
    const config = (ws: number, input: Record<string, unknown> = {}) =>
      configSchema.parse({ websocket: { bind: Array.from({ length: ws }, () => '127.0.0.1:0') }, ...input });
    for (const fds of [64, 128, 256, 512, 1024, 4096, 20_000]) {
      for (const ws of [0, 1, 2, 4]) {
        for (const sharesWith of ['http api', { metricsConnections: 16 }] as const) {
          const c = config(ws);
          const needs = fdNeeds(c, sharesWith, fds);
          const caps = connectionCaps({ ...c.limits, fdNeeds: needs }, fds);
          const total = caps.maxConnections + fdNeedsTotal(needs);
          if (fdNeedsTotal(needs) < fds) assert.ok(total <= fds, `${fds} fds, ${ws} ws listeners: ${total}`);
          else assert.equal(caps.maxConnections, 1);
        }
      }
    }
    // ulimit -n 256 with two plain WebSocket listeners (embedded): 64 HTTP + 2 × 32 waiting + the process.
    const two = config(2);
    const needs = fdNeeds(two, 'http api', 256);
    assert.deepEqual(needs, { http: 64, refusedWaiting: 64, process: PROCESS_FDS });
    assert.equal(connectionCaps({ ...two.limits, fdNeeds: needs }, 256).maxConnections, 256 - 64 - 64 - PROCESS_FDS);
    // A large limit keeps limits.reservedFds, which covers them.
    assert.equal(connectionCaps({ ...two.limits, fdNeeds: fdNeeds(two, 'http api', 20_000) }, 20_000).maxConnections, 20_000 - 384);
  });
});

interface Child {
  proc: ChildProcess;
  tcp: number;
  /** The plain WebSocket listeners' ports. */
  ws: number[];
  http: number;
  /** Resolves with the first JSON log line whose msg matches. */
  line(msg: RegExp): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** `tsim start` with `toml` (after [httpServer]) under `ulimit -n fdLimit`, with `ws` plain WebSocket listeners. */
async function startChild(dir: string, toml: string[], { fdLimit = FD_LIMIT, ws = 1 } = {}): Promise<Child> {
  const conf = join(dir, `tsim-${Math.random().toString(36).slice(2)}.toml`);
  const wsBind = `bind = [${Array.from({ length: ws }, () => '"127.0.0.1:0"').join(', ')}]`;
  await writeFile(
    conf,
    ['[env]', 'host = "fd-test"', '[tcp]', 'bind = ["127.0.0.1:0"]', '[websocket]', wsBind, '[httpServer]', 'addr = "127.0.0.1:0"', ...toml, ''].join(
      '\n',
    ),
  );
  const proc = spawn('bash', ['-c', `ulimit -n ${fdLimit}; exec "$0" "$@"`, process.execPath, cli, 'start', '--config', conf], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const waiting: Array<{ msg: RegExp; resolve: (r: Record<string, unknown>) => void }> = [];
  const seen: Array<Record<string, unknown>> = [];
  createInterface({ input: proc.stdout }).on('line', (text) => {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    seen.push(rec);
    for (let i = waiting.length - 1; i >= 0; i--) {
      if (waiting[i].msg.test(String(rec.msg))) waiting.splice(i, 1)[0].resolve(rec);
    }
  });
  const line = (msg: RegExp): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const found = seen.find((r) => msg.test(String(r.msg)));
      if (found) return resolve(found);
      const t = setTimeout(() => reject(new Error(`no log line matching ${msg} within 20 s`)), 20_000);
      waiting.push({ msg, resolve: (r) => (clearTimeout(t), resolve(r)) });
    });
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  };
  try {
    const started = await line(/^tsim started/);
    const port = (s: string) => Number(s.slice(s.lastIndexOf(':') + 1));
    return {
      proc,
      tcp: port((started.tcp as string[])[0]),
      ws: (started.websocket as string[]).map((a) => port(a.replace(/\/sub$/, ''))),
      http: port(started.http as string),
      line,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Opens `n` sockets (from `sources` in turn); resolves once each connected or failed. */
async function openMany(port: number, n: number, sources: string[]): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const settled: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect({ port, host: '127.0.0.1', localAddress: sources[i % sources.length] });
    s.on('error', () => {});
    sockets.push(s);
    settled.push(new Promise((r) => (s.once('connect', () => r()), s.once('close', () => r()))));
  }
  await Promise.all(settled);
  return sockets;
}

/** metric(), once the API answers again (its connections may still be closing). */
async function eventuallyMetric(httpPort: number, limit: string): Promise<number> {
  let value = -1;
  await eventually(async () => (value = await metric(httpPort, limit).catch(() => -1)) >= 0, `/metrics answering (${limit})`, 20_000);
  return value;
}

async function metric(httpPort: number, limit: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const m = new RegExp(`^tsim_limit_hits_total\\{limit="${limit}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe(`fd limit: a tsim process under ulimit -n ${FD_LIMIT}`, { skip: process.platform === 'linux' ? false : 'needs /proc and bash' }, () => {
  let dir: string;
  const sockets: Socket[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsim-fd-'));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('default caps leave descriptors for the HTTP API while clients flood the comet', async () => {
    const child = await startChild(dir, []);
    try {
      const listening = await child.line(/^comet: listening/);
      assert.equal(listening.fdLimit, FD_LIMIT);
      // What the HTTP API (a quarter of the limit), refused WebSocket sockets and the process may hold is left free.
      assert.equal(listening.maxConnections, FD_LIMIT - fdNeedsTotal(fdNeeds(configSchema.parse({}), 'http api', FD_LIMIT)));
      // Far more sockets than descriptors, from eight addresses.
      const sources = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
      sockets.push(...(await openMany(child.tcp, FD_LIMIT * 2, sources)));
      await child.line(/^comet: limit connections reached/);
      // The API still answers while the clients hold their sockets, and nothing ran out.
      assert.ok((await metric(child.http, 'connections')) > 0);
      assert.equal(await metric(child.http, 'file_descriptors'), 0);
    } finally {
      for (const s of sockets.splice(0)) s.destroy();
      await child.stop();
    }
  });

  it('an HTTP API flood leaves descriptors for comet clients (embedded: one fd table)', async () => {
    const child = await startChild(dir, []);
    try {
      // From eight addresses: one alone gets a quarter of the slots (httpServer.maxConnectionsPerIp).
      const flood = await openMany(
        child.http,
        FD_LIMIT * 2,
        Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`),
      );
      sockets.push(...flood);
      // Each holds its connection with a request that never ends its headers.
      for (const s of flood) if (!s.destroyed) s.write('GET /goim/online/total HTTP/1.1\r\n');
      await child.line(/^logic http: limit http_connections reached/);
      const c = await GoimTestClient.tcp(child.tcp);
      try {
        await c.auth({ mid: 1, key: 'during-flood', room_id: 'live://1' });
        c.send(Op.Heartbeat);
        await c.nextWhere((f) => f.op === Op.HeartbeatReply);
      } finally {
        c.close();
      }
      for (const s of sockets.splice(0)) s.destroy();
      await eventually(async () => (await metric(child.http, 'http_connections').catch(() => 0)) > 0, 'http_connections counted on /metrics', 20_000);
    } finally {
      for (const s of sockets.splice(0)) s.destroy();
      await child.stop();
    }
  });

  it('with the caps off, running out of descriptors is logged and counted', async () => {
    const child = await startChild(dir, ['[limits]', 'maxConnections = 0', 'maxConnectionsPerIp = 0']);
    try {
      sockets.push(...(await openMany(child.tcp, FD_LIMIT * 2, ['127.0.0.1'])));
      const rec = await child.line(/limit file_descriptors reached/);
      assert.equal(rec.limit, 'file_descriptors');
      for (const s of sockets.splice(0)) s.destroy();
      // Once the clients are gone the API answers again, and shows the count.
      let hits = 0;
      await eventually(
        async () => (hits = await metric(child.http, 'file_descriptors').catch(() => 0)) > 0,
        'file_descriptors counted on /metrics',
        20_000,
      );
      assert.ok(hits >= 1);
    } finally {
      for (const s of sockets.splice(0)) s.destroy();
      await child.stop();
    }
  });

  it('ulimit -n 256, two WebSocket listeners: with every default cap full, descriptors are still free', async () => {
    const fdLimit = 256;
    const child = await startChild(dir, ['headersTimeout = "60s"', 'requestTimeout = "60s"', '[protocol]', 'handshakeTimeout = "60s"'], {
      fdLimit,
      ws: 2,
    });
    const sources = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
    try {
      await child.line(/^comet: listening/);
      // Comet clients past limits.maxConnections.
      sockets.push(...(await openMany(child.tcp, fdLimit * 2, sources)));
      await child.line(/^comet: limit connections reached/);
      // Refused plain WebSocket sockets that send nothing: limits.maxRefusedWaiting (32) wait on each listener, the rest are closed.
      for (const port of child.ws) {
        const refused = await openMany(port, 40, sources);
        sockets.push(...refused);
        await eventually(() => refused.filter((s) => s.destroyed).length >= 8, 'refused WebSocket sockets past maxRefusedWaiting closed');
      }
      // HTTP connections that never end their headers, past httpServer.maxConnections.
      const http = await openMany(child.http, fdLimit, sources);
      sockets.push(...http);
      for (const s of http) if (!s.destroyed) s.write('GET /goim/online/total HTTP/1.1\r\n');
      await child.line(/^logic http: limit http_connections reached/);
      const open = readdirSync(`/proc/${child.proc.pid}/fd`).length;
      assert.ok(open <= fdLimit - 8, `${open} of ${fdLimit} descriptors open with every cap full`);
      for (const s of sockets.splice(0)) s.destroy();
      assert.equal(await eventuallyMetric(child.http, 'file_descriptors'), 0);
    } finally {
      for (const s of sockets.splice(0)) s.destroy();
      await child.stop();
    }
  });

  it('caps set past the fd limit are named in a warning at start', async () => {
    const child = await startChild(dir, ['[limits]', 'maxConnections = 200']);
    try {
      const rec = await child.line(/^comet: the connection caps add up to more than the open-file limit/);
      assert.equal(rec.fdLimit, FD_LIMIT);
      assert.equal(rec.maxConnections, 200);
      assert.equal(rec.httpConnections, FD_LIMIT / 4);
      assert.equal(rec.refusedWaiting, 32);
      assert.equal(rec.total, 200 + FD_LIMIT / 4 + 32 + PROCESS_FDS);
    } finally {
      await child.stop();
    }
  });
});
