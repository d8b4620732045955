// tsim in embedded mode as the server under test: `node dist/src/cli.js start --config
// <temp toml>` on free 127.0.0.1 ports, log level warn, the probe preloaded for GC requests.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pushAtRate } from '../load/pusher.js';
import { scrapeMetric } from '../measure/scrape.js';
import { stopChild, track } from '../run/children.js';
import { freePort, waitForPort } from '../run/ports.js';
import { BENCH_OP, BENCH_ROOM, tsimClientTarget } from './bench-room.js';
import { batchAt, limitLines, processTree, type PushRun, type RunningServer, type ServerOptions } from './server.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const PROBE = pathToFileURL(fileURLToPath(new URL('./probe.js', import.meta.url))).href;

function durationText(ms: number): string {
  return `${ms}ms`;
}

/** The TOML the benchmark runs tsim with. Everything else keeps its default. */
function tsimConfig(ports: { tcp: number; ws: number; http: number }, opts: ServerOptions): string {
  return [
    '[env]',
    'host = "bench"',
    '[log]',
    'level = "warn"',
    '[tcp]',
    `bind = ["127.0.0.1:${ports.tcp}"]`,
    '[websocket]',
    `bind = ["127.0.0.1:${ports.ws}"]`,
    '[httpServer]',
    `addr = "127.0.0.1:${ports.http}"`,
    // The push loops and the scrapes all come from loopback: no per-address share.
    'maxConnectionsPerIp = 0',
    '[room]',
    `batch = ${opts.batch}`,
    `signal = "${durationText(opts.signalMs)}"`,
    '[protocol]',
    // Thousands of clients connect at once: leave their handshake some room.
    'handshakeTimeout = "30s"',
    '[limits]',
    // The load comes from a few loopback addresses and may fill the open-file limit on purpose
    // (the bench checks its client count against it): no derived socket caps.
    'maxConnections = 0',
    'maxConnectionsPerIp = 0',
    ...limitLines(opts.limits),
    '[node]',
    // Load clients send no heartbeats; keep them connected for long runs.
    'heartbeat = "1h"',
    opts.extraConfig ?? '',
    '',
  ].join('\n');
}

export interface TsimServer extends RunningServer {
  /** logic's HTTP API port. */
  httpPort: number;
}

export async function launchTsim(opts: ServerOptions): Promise<TsimServer> {
  const ports = { tcp: await freePort(), ws: await freePort(), http: await freePort() };
  const dir = mkdtempSync(join(tmpdir(), 'tsim-bench-'));
  const conf = join(dir, 'tsim.toml');
  writeFileSync(conf, tsimConfig(ports, opts));
  const execArgv = ['--expose-gc', '--import', PROBE];
  if (opts.cpuProfDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`);
  // Server output goes to stderr, leaving stdout to the result table.
  const child = track(fork(CLI, ['start', '--config', conf], { execArgv, stdio: ['ignore', 2, 2, 'ipc'], serialization: 'json' }));
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`tsim exited during start-up (code ${code})`))));
  exited.catch(() => {});
  try {
    await Promise.race([Promise.all([waitForPort(ports.tcp, 20_000), waitForPort(ports.ws, 20_000), waitForPort(ports.http, 20_000)]), exited]);
  } catch (err) {
    await stopChild(child, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const pushPath = `/goim/push/room?operation=${BENCH_OP}&type=${BENCH_ROOM.type}&room=${BENCH_ROOM.id}`;
  return {
    kind: 'tsim',
    httpPort: ports.http,
    label: `tsim ${opts.transport}`,
    client: tsimClientTarget(opts.transport, ports),
    pids: () => (child.pid === undefined ? [] : processTree(child.pid)),
    processes: () => (child.pid === undefined ? [] : processTree(child.pid).map((pid, i) => ({ pid, role: i === 0 ? 'tsim' : 'tsim-child' }))),
    connections: async () => undefined,
    // Embedded: the comet's metrics are on logic's HTTP port.
    socketWrites: () => scrapeMetric(`http://127.0.0.1:${ports.http}/metrics`, 'tsim_comet_socket_writes_total'),
    gc: () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('tsim: no answer to gc request')), 10_000);
        const onMessage = (m: { t?: string }) => {
          if (m?.t !== 'gc') return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve();
        };
        child.on('message', onMessage);
        child.send({ t: 'gc' });
      }),
    push(rate: number, durationMs: number, bodySize: number): PushRun {
      const run = pushAtRate({ host: '127.0.0.1', port: ports.http, path: pushPath }, rate, durationMs, bodySize);
      const batch = batchAt(rate, opts.batch, opts.signalMs);
      return {
        expectedPerClient: () => run.tally.accepted,
        done: run.done.then((t) => ({ ...t, messagesPerClient: t.accepted, messagesPerWrite: batch })),
      };
    },
    async stop() {
      // Graceful, so that --cpu-prof writes its profile; comet closes every connection first.
      await stopChild(child, 'SIGTERM', 30_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
