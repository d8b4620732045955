// `npm run fuzz`: throws random and mutated frames (TCP and WebSocket) at a live tsim while
// normal clients in one room receive numbered pushes. Passes when the server process
// survives, stops cleanly afterwards, logged no internal error, leaked no socket, and every
// normal client received every push in order.
//
//   npm run fuzz -- --frames 1000000 --duration 120 --concurrency 128 --seed 42
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { attack, type Outcome, type Target } from './attacks.js';
import { NormalClient, Pusher } from './normal-clients.js';
import { Rng } from './rng.js';

const HOST = '127.0.0.1';

interface Options {
  frames: number;
  durationS: number;
  concurrency: number;
  seed: number;
  normal: number;
  pushIntervalMs: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      frames: { type: 'string', default: '1000000' },
      duration: { type: 'string', default: '120' },
      concurrency: { type: 'string', default: '128' },
      seed: { type: 'string' },
      normal: { type: 'string', default: '4' },
      'push-interval': { type: 'string', default: '20' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      [
        'usage: npm run fuzz -- [options]',
        '  --frames N          frames to throw in all (default 1000000)',
        '  --duration S        stop throwing after S seconds even if frames remain (default 120)',
        '  --concurrency C     fuzz connections open at once (default 128)',
        '  --seed X            PRNG seed; connection i replays from (seed, i) (default random)',
        '  --normal K          normal clients per transport (default 4)',
        '  --push-interval MS  one numbered push to the normal room every MS ms (default 20)',
      ].join('\n'),
    );
    process.exit(0);
  }
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      console.error(`fuzz: --${name} must be an integer >= ${min}`);
      process.exit(2);
    }
    return n;
  };
  return {
    frames: num('frames', values.frames, 1),
    durationS: num('duration', values.duration, 1),
    concurrency: num('concurrency', values.concurrency, 1),
    seed: values.seed === undefined ? (Math.random() * 0x1_0000_0000) >>> 0 : num('seed', values.seed, 0) >>> 0,
    normal: num('normal', values.normal, 1),
    pushIntervalMs: num('push-interval', values['push-interval'], 1),
  };
}

// ---- the server process -----------------------------------------------------------------

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}

class ServerProcess {
  readonly ready: Promise<{ tcp: number; ws: number; http: number }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly exited: Promise<void>;
  private replies: Array<(m: Memory) => void> = [];

  constructor(
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        for (const r of this.replies) r({ rss: NaN, heapUsed: NaN, external: NaN });
        this.replies = [];
        resolve();
      }),
    );
    this.ready = new Promise((resolve, reject) => {
      child.once('message', (m) => resolve(m as { tcp: number; ws: number; http: number }));
      void this.exited.then(() => reject(new Error(`server exited during start-up; see ${logFile}`)));
    });
    child.on('message', (m) => {
      if (typeof m === 'object' && m !== null && 'rss' in m) this.replies.shift()?.(m as Memory);
    });
  }

  static start(): ServerProcess {
    const script = fileURLToPath(new URL('./server.js', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'tsim-fuzz-'));
    const logFile = join(dir, 'server.log');
    const fd = openSync(logFile, 'w');
    const config = {
      env: { host: 'fuzz' },
      log: { level: 'warn' },
      tcp: { bind: [`${HOST}:0`] },
      websocket: { bind: [`${HOST}:0`] },
      httpServer: { addr: `${HOST}:0` },
      room: { signal: '10ms' },
    };
    const child = fork(script, [JSON.stringify(config)], { execArgv: ['--expose-gc'], stdio: ['ignore', fd, fd, 'ipc'] });
    closeSync(fd);
    return new ServerProcess(child, logFile);
  }

  get alive(): boolean {
    return this.exit === null;
  }

  measure(): Promise<Memory> {
    if (!this.alive) return Promise.resolve({ rss: NaN, heapUsed: NaN, external: NaN });
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child.send('measure');
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it exited. */
  async stop(graceMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    if (!this.alive) return { ...this.exit!, killed: false };
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([this.exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    return { ...this.exit!, killed: timedOut };
  }

  /** Kills it at once (fuzzer exiting abnormally). */
  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }
}

// ---- reporting ------------------------------------------------------------------------------

const mib = (n: number): string => (Number.isFinite(n) ? `${(n / 1048576).toFixed(1)} MiB` : 'n/a');
const int = (n: number): string => Math.round(n).toLocaleString('en-US');

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')).join('\n');
}

async function scrapeMetric(api: string, name: string, labels = ''): Promise<number> {
  try {
    const text = await (await fetch(`${api}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
      if (labels && !rest.includes(labels)) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  } catch {
    return NaN;
  }
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- the run --------------------------------------------------------------------------------

async function main(): Promise<number> {
  const o = options();
  const server = ServerProcess.start();
  const hardStop = setTimeout(
    () => {
      console.error('fuzz: overran its time limit; killing the server');
      server.kill();
      process.exit(1);
    },
    (o.durationS + 120) * 1000,
  );
  hardStop.unref();
  process.on('exit', () => server.kill());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      server.kill();
      process.exit(130);
    });
  }

  const ports = await server.ready;
  const api = `http://${HOST}:${ports.http}`;
  const target: Target = { host: HOST, tcpPort: ports.tcp, wsPort: ports.ws };
  console.error(`fuzz: server up on tcp ${ports.tcp}, ws ${ports.ws}, http ${ports.http}; seed ${o.seed}; log ${server.logFile}`);

  // Normal clients, in the room the pusher numbers pushes for.
  const normal: NormalClient[] = [];
  for (let i = 0; i < o.normal; i++) {
    normal.push(NormalClient.start('tcp', HOST, ports.tcp, i));
    normal.push(NormalClient.start('ws', HOST, ports.ws, i));
  }
  await Promise.all(normal.map((c) => c.ready));
  const pusher = new Pusher(api, o.pushIntervalMs);
  const memBefore = await server.measure();
  let rssPeak = memBefore.rss;
  const sampler = setInterval(() => {
    void server.measure().then((m) => {
      if (m.rss > rssPeak) rssPeak = m.rss;
    });
  }, 1000);
  pusher.start();

  // The fuzz connections.
  const started = Date.now();
  const deadline = started + o.durationS * 1000;
  let reserved = 0;
  let sent = 0;
  let bytes = 0;
  let nextId = 0;
  let connections = 0;
  let connectFailures = 0;
  const byScenario = new Map<string, { connections: number; frames: number; bytes: number }>();
  const record = (r: Outcome): void => {
    connections++;
    if (r.failedToConnect) connectFailures++;
    sent += r.frames;
    bytes += r.bytes;
    const s = byScenario.get(r.scenario) ?? { connections: 0, frames: 0, bytes: 0 };
    s.connections++;
    s.frames += r.frames;
    s.bytes += r.bytes;
    byScenario.set(r.scenario, s);
  };
  const progress = setInterval(() => {
    const s = (Date.now() - started) / 1000;
    console.error(
      `fuzz: ${int(sent)} frames, ${int(connections)} connections, ${int(sent / s)} frames/s, pushes ${pusher.sent}, server rss peak ${mib(rssPeak)}`,
    );
  }, 5000);
  const worker = async (): Promise<void> => {
    while (reserved < o.frames && Date.now() < deadline && server.alive) {
      const budget = Math.min(80, o.frames - reserved);
      reserved += budget;
      const id = nextId++;
      const r = await attack(new Rng(o.seed, id), target, budget, id);
      reserved -= budget - r.frames;
      record(r);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const fuzzSeconds = (Date.now() - started) / 1000;
  clearInterval(progress);

  // Let the last pushes arrive, then check the server and the normal clients.
  const lastSeq = await pusher.stop();
  await waitUntil(() => normal.every((c) => c.closed || c.check.next > lastSeq), 20_000);
  const socketsSettled = await waitUntil(async () => (await scrapeMetric(api, 'tsim_comet_sockets')) === normal.length, 15_000);
  clearInterval(sampler);
  const memAfter = await server.measure();
  const aliveAtEnd = server.alive;
  const rejected = await scrapeMetric(api, 'tsim_comet_frames_rejected_total');
  const accepted = await scrapeMetric(api, 'tsim_comet_connections_accepted_total');
  const authOk = await scrapeMetric(api, 'tsim_comet_auth_total', 'result="ok"');
  const authFailed = await scrapeMetric(api, 'tsim_comet_auth_total', 'result="failed"');
  const sockets = await scrapeMetric(api, 'tsim_comet_sockets');
  const disconnected = normal.filter((c) => c.closed);
  for (const c of normal) c.close();
  const stopped = await server.stop(20_000);

  const log = readFileSync(server.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const internalErrors = log.filter((l) => /"level":(50|60)/.test(l) || !l.startsWith('{'));

  // ---- summary
  const failures: string[] = [];
  if (!aliveAtEnd) failures.push(`server process died (code ${server.exit?.code}, signal ${server.exit?.signal})`);
  if (stopped.killed || stopped.code !== 0)
    failures.push(`server did not stop cleanly on SIGTERM (code ${stopped.code}, signal ${stopped.signal}${stopped.killed ? ', killed' : ''})`);
  if (internalErrors.length > 0) failures.push(`${internalErrors.length} error lines in the server log (${server.logFile})`);
  if (!socketsSettled) failures.push(`fuzz sockets left open on the server: ${sockets - normal.length}`);
  if (pusher.failed > 0) failures.push(`${pusher.failed} pushes failed (last: ${pusher.lastError})`);
  for (const c of disconnected) failures.push(`normal client ${c.name} was disconnected: ${c.closeReason}`);
  for (const c of normal) {
    const k = c.check;
    if (k.next <= lastSeq) failures.push(`normal client ${c.name} got pushes up to ${k.next - 1} of ${lastSeq}`);
    if (k.missing || k.duplicates || k.outOfOrder)
      failures.push(`normal client ${c.name}: ${k.missing} missing, ${k.duplicates} duplicated, ${k.outOfOrder} out of order`);
  }

  const lossTotal = normal.reduce((n, c) => n + c.check.missing + Math.max(0, lastSeq - (c.check.next - 1)), 0);
  console.log('\ntsim fuzz run');
  console.log(
    table([
      ['', 'value'],
      ['seed', String(o.seed)],
      ['frames thrown', int(sent)],
      ['bytes thrown', mib(bytes)],
      ['fuzz connections opened', int(connections)],
      ['  of which could not connect', int(connectFailures)],
      ['fuzz time', `${fuzzSeconds.toFixed(1)} s`],
      ['frames/s', int(sent / fuzzSeconds)],
      ['connections/s', int(connections / fuzzSeconds)],
      ['concurrency', String(o.concurrency)],
      ['server: connections accepted', int(accepted)],
      ['server: frames rejected (connections closed)', int(rejected)],
      ['server: auth ok / failed', `${int(authOk)} / ${int(authFailed)}`],
      ['server: sockets open after the run', `${int(sockets)} (normal clients: ${normal.length})`],
      ['server RSS before / peak / after', `${mib(memBefore.rss)} / ${mib(rssPeak)} / ${mib(memAfter.rss)}`],
      ['server heap after GC before / after', `${mib(memBefore.heapUsed)} / ${mib(memAfter.heapUsed)}`],
      ['server alive at the end', aliveAtEnd ? 'yes' : 'NO'],
      ['server exit on SIGTERM', `code ${stopped.code}${stopped.signal ? `, ${stopped.signal}` : ''}`],
      ['server log error lines', String(internalErrors.length)],
      ['normal clients (tcp + ws)', `${o.normal} + ${o.normal}`],
      ['numbered pushes sent', int(lastSeq)],
      ['normal clients: pushes lost', int(lossTotal)],
      ['normal clients: disconnected', String(disconnected.length)],
    ]),
  );
  console.log('\nby scenario');
  console.log(
    table([
      ['scenario', 'connections', 'frames', 'bytes'],
      ...[...byScenario.entries()]
        .sort((a, b) => b[1].frames - a[1].frames)
        .map(([name, s]) => [name, int(s.connections), int(s.frames), mib(s.bytes)]),
    ]),
  );
  if (internalErrors.length > 0) console.log(`\nfirst server error lines:\n${internalErrors.slice(0, 5).join('\n')}`);
  if (failures.length > 0) {
    console.log(`\nFAILED:\n- ${failures.join('\n- ')}`);
    return 1;
  }
  console.log('\nOK: the server survived, stopped cleanly, and every normal client received every push in order.');
  // A clean run's server log holds nothing worth keeping.
  rmSync(dirname(server.logFile), { recursive: true, force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('fuzz: failed:', err);
    process.exit(1);
  },
);
