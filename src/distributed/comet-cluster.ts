// `comet.workers = N > 1`: N comet worker processes under one primary (node:cluster). This
// module is the primary; comet-worker.ts is what each worker runs. The primary loads none
// of the comet itself (no gRPC, Redis, metrics or comet code): it stays a small process.
//
// Worker i is a comet of its own — server id `<env.host>-<i>`, gRPC on port base + i (base =
// rpcServer.addr's port), metrics likewise on metrics.addr's port + i — and all of them share
// the client ports: the primary accepts and
// hands connections out round-robin. A key can therefore live on any worker; logic routes
// key and mid pushes by server id and room pushes go to every comet instance, so nothing
// else needs to know. The primary holds no connections: it forks the workers, restarts a
// crashed one (with back-off), forwards SIGTERM/SIGINT as SIGTERM, waits for every worker
// to stop cleanly and exits 0.
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:net';
import { ConfigError } from '../config/load.js';
import { formatListen, parseListen } from '../config/listen.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { metricsAddr } from '../metrics/metrics-addr.js';
import { exitOnSignal } from '../shutdown.js';
import type { CometAddresses } from './comet-process.js';
import { COMET_GRPC_DEFAULT, grpcListen } from './grpc-settings.js';

/** Set in a worker's environment: its index. */
const WORKER_INDEX_ENV = 'TSIM_COMET_WORKER';
/** Set in a worker's environment: its gRPC listen address. */
export const WORKER_GRPC_ENV = 'TSIM_COMET_WORKER_GRPC';
/** Set in a worker's environment: its metrics listen address. */
export const WORKER_METRICS_ENV = 'TSIM_COMET_WORKER_METRICS';

export const STARTED = 'tsim:comet-worker-started';

export interface StartedMessage {
  type: typeof STARTED;
  index: number;
  pid: number;
  addresses: CometAddresses;
}

function isStartedMessage(m: unknown): m is StartedMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === STARTED;
}

/** First restart delay after a crash; doubles per crash in a row, up to the maximum. */
const RESTART_BASE_MS = 500;
const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before crashing starts the back-off over. */
const STABLE_AFTER_MS = 30_000;
/** How long the primary waits for the workers to stop before killing them. */
const PRIMARY_GRACE_MS = 25_000;

/** This process's worker index when it is a comet worker forked by the primary. */
export function cometWorkerIndex(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const v = process.env[WORKER_INDEX_ENV];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

interface Slot {
  index: number;
  grpc: string;
  metrics: string;
  worker: Worker | undefined;
  exited: Promise<number | null> | undefined;
  addresses: CometAddresses | undefined;
  pid: number;
  startedAt: number;
  crashes: number;
  restartTimer: NodeJS.Timeout | undefined;
}

/**
 * Listens on `port` of `host` for a moment: the port bound (a free one for 0), or null when it
 * is in use (EADDRINUSE).
 */
function tryListen(host: string | undefined, port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(null) : reject(err)));
    s.listen({ host, port, exclusive: true }, () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** A port free right now on `host` (a worker's own port when the configured one is 0). */
async function freePort(host: string | undefined): Promise<number> {
  const port = await tryListen(host, 0);
  if (port === null) throw new Error('no free port');
  return port;
}

/**
 * Listen addresses of `n` workers from a base address: base port + i, or a free port each
 * when the base port is 0 (workers asking the primary for port 0 would all share one).
 */
async function perWorker(base: string, n: number, key: string, picked: Set<number>): Promise<string[]> {
  const { host, port } = parseListen(base);
  if (port !== 0 && port + n - 1 > 65535) {
    throw new ConfigError(`comet.workers = ${n} needs ports ${port}..${port + n - 1} for ${key}, past 65535`);
  }
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(formatListen({ host, port: port === 0 ? await distinctFreePort(host, picked) : port + i }));
  return out;
}

/** A free port not picked before: the kernel may hand out a port it just freed again. */
async function distinctFreePort(host: string | undefined, picked: Set<number>): Promise<number> {
  for (;;) {
    const p = await freePort(host);
    if (!picked.has(p)) {
      picked.add(p);
      return p;
    }
  }
}

/**
 * The ports the workers take one each (gRPC, metrics), checked before any is forked: a port
 * another setting of this comet uses, or one taken on this host (logic's HTTP port 3111 is
 * the default gRPC base 3109 + 2), is named with its setting and the range the workers need,
 * instead of a worker failing to bind mid-start.
 */
export async function checkWorkerPorts(ranges: { key: string; addrs: string[] }[], shared: { key: string; addrs: string[] }[]): Promise<void> {
  const n = ranges[0]?.addrs.length ?? 0;
  const owner = new Map<number, string>();
  for (const { key, addrs } of shared) for (const a of addrs) owner.set(parseListen(a).port, key);
  for (const { key, addrs } of ranges) {
    const listens = addrs.map(parseListen);
    const range = `comet.workers = ${n} takes ports ${listens[0].port}..${listens[listens.length - 1].port} for ${key}`;
    for (const [i, { port }] of listens.entries()) {
      const other = owner.get(port);
      if (other !== undefined)
        throw new ConfigError(`${range}: worker ${i}'s port ${port} is also ${other}'s; choose a ${key} whose ${n} ports are free`);
      owner.set(port, `${key} (worker ${i})`);
    }
    for (const [i, { host, port }] of listens.entries()) {
      if ((await tryListen(host, port)) === null) {
        throw new ConfigError(`${range}: worker ${i}'s port ${port} is already in use on this host; choose a ${key} whose ${n} ports are free`);
      }
    }
  }
}

/**
 * Forks `comet.workers` workers, resolves once every one of them started (logging one
 * "tsim comet started" line with all their addresses), and keeps them running until
 * SIGTERM/SIGINT. Rejects when a worker fails before it started (a port in use, a bad
 * address): the others are stopped first.
 */
export async function runCometPrimary(config: Config, log: Logger): Promise<void> {
  const n = config.comet.workers;
  const picked = new Set<number>();
  const grpcAddrs = await perWorker(grpcListen(config, COMET_GRPC_DEFAULT), n, 'rpcServer.addr', picked);
  const metricsAddrs = config.metrics.enabled ? await perWorker(metricsAddr(config, 'comet'), n, 'metrics.addr', picked) : [];
  const clientPorts = [
    { key: 'tcp.bind', addrs: config.tcp.bind },
    { key: 'tcp.tlsBind', addrs: config.tcp.tlsBind },
    { key: 'websocket.bind', addrs: config.websocket.bind },
    { key: 'websocket.tlsBind', addrs: config.websocket.tlsOpen ? config.websocket.tlsBind : [] },
  ];
  await checkWorkerPorts(
    [{ key: 'rpcServer.addr', addrs: grpcAddrs }, ...(metricsAddrs.length > 0 ? [{ key: 'metrics.addr', addrs: metricsAddrs }] : [])],
    clientPorts,
  );
  const slots: Slot[] = grpcAddrs.map((grpc, index) => ({
    index,
    grpc,
    metrics: metricsAddrs[index] ?? '',
    worker: undefined,
    exited: undefined,
    addresses: undefined,
    pid: 0,
    startedAt: 0,
    crashes: 0,
    restartTimer: undefined,
  }));
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let startupDone!: (err?: Error) => void;
  const startup = new Promise<void>((resolve, reject) => (startupDone = (err) => (err ? reject(err) : resolve())));

  const fork = (slot: Slot): void => {
    const worker = cluster.fork({
      [WORKER_INDEX_ENV]: String(slot.index),
      [WORKER_GRPC_ENV]: slot.grpc,
      ...(slot.metrics ? { [WORKER_METRICS_ENV]: slot.metrics } : {}),
    });
    slot.worker = worker;
    slot.addresses = undefined;
    slot.pid = worker.process.pid ?? 0;
    slot.startedAt = Date.now();
    slot.exited = new Promise((resolve) => worker.once('exit', (code) => resolve(code)));
    worker.on('message', (m: unknown) => {
      if (!isStartedMessage(m) || slot.worker !== worker) return;
      slot.addresses = m.addresses;
      slot.pid = m.pid;
      if (phase === 'starting') {
        if (slots.every((s) => s.addresses)) startupDone();
      } else {
        log.info({ worker: slot.index, workerPid: m.pid, ...m.addresses }, 'comet worker restarted');
      }
    });
    worker.on('exit', (code, signal) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      const ranMs = Date.now() - slot.startedAt;
      if (phase === 'stopping') return;
      if (phase === 'starting' && !slot.addresses) {
        startupDone(new Error(`comet worker ${slot.index} exited during start-up (code ${code}, signal ${signal})`));
        return;
      }
      slot.crashes = ranMs >= STABLE_AFTER_MS ? 1 : slot.crashes + 1;
      const delay = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** (slot.crashes - 1));
      log.error({ worker: slot.index, workerPid: slot.pid, code, signal, restartInMs: delay }, 'comet worker exited; restarting it');
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = undefined;
        if (phase !== 'stopping') fork(slot);
      }, delay);
    });
  };

  /** Stops every worker (SIGTERM, and SIGKILL past the grace); resolves whether all exited 0. */
  const stopWorkers = async (): Promise<boolean> => {
    phase = 'stopping';
    for (const s of slots) clearTimeout(s.restartTimer);
    const live = slots.filter((s) => s.worker);
    for (const s of live) s.worker!.process.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const s of live) s.worker?.process.kill('SIGKILL');
    }, PRIMARY_GRACE_MS - 2_000);
    const codes = await Promise.all(live.map((s) => s.exited ?? Promise.resolve(null)));
    clearTimeout(killer);
    return codes.every((c) => c === 0);
  };

  for (const s of slots) fork(s);
  // SIGHUP (certificate reload) is meant for the workers, which handle it only with TLS
  // configured; the primary passes it on and must not die of it either way.
  const tls = config.websocket.tlsOpen || config.tcp.tlsBind.length > 0;
  process.on('SIGHUP', () => {
    if (tls) for (const s of slots) s.worker?.process.kill('SIGHUP');
  });
  // Ctrl-C or SIGTERM during start-up: stop what started and leave.
  exitOnSignal(
    log,
    async () => {
      if (!(await stopWorkers())) throw new Error('a comet worker did not stop cleanly');
    },
    PRIMARY_GRACE_MS,
  );
  try {
    await startup;
  } catch (err) {
    await stopWorkers();
    throw err;
  }
  phase = 'running';
  const first = slots[0].addresses!;
  log.info(
    {
      role: 'comet',
      tcp: first.tcp,
      websocket: first.websocket,
      workers: slots.map((s) => ({ worker: s.index, pid: s.pid, ...s.addresses })),
    },
    'tsim comet started',
  );
}
