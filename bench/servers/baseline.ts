// Starts a baseline server (raw-net or socket.io) in its own process and drives it over IPC.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopChild, track } from '../run/children.js';
import type { BaselineCommand, BaselineReply } from './baseline-child.js';
import { BENCH_ROOM } from './bench-room.js';
import { batchAt, type PushRun, type RunningServer, type ServerOptions } from './server.js';

const ENTRY = {
  'raw-net': fileURLToPath(new URL('./raw-net-main.js', import.meta.url)),
  'socket.io': fileURLToPath(new URL('./socket-io-main.js', import.meta.url)),
};

export async function launchBaseline(kind: 'raw-net' | 'socket.io', opts: ServerOptions): Promise<RunningServer> {
  const execArgv = ['--expose-gc'];
  if (opts.cpuProfDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`);
  const child = track(fork(ENTRY[kind], [opts.transport], { execArgv, stdio: ['ignore', 2, 2, 'ipc'], serialization: 'json' }));

  const waiters: Array<(m: BaselineReply) => boolean> = [];
  child.on('message', (m: BaselineReply) => {
    const i = waiters.findIndex((w) => w(m));
    if (i >= 0) waiters.splice(i, 1);
  });
  const next = <T extends BaselineReply['t']>(t: T, timeoutMs: number): Promise<Extract<BaselineReply, { t: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind}: no "${t}" reply in ${timeoutMs} ms`)), timeoutMs);
      waiters.push((m) => {
        if (m.t !== t) return false;
        clearTimeout(timer);
        resolve(m as Extract<BaselineReply, { t: T }>);
        return true;
      });
    });
  const call = <T extends BaselineReply['t']>(cmd: BaselineCommand, t: T, timeoutMs = 10_000) => {
    const reply = next(t, timeoutMs);
    child.send(cmd);
    return reply;
  };

  let port: number;
  try {
    port = (await next('ready', 20_000)).port;
  } catch (err) {
    await stopChild(child, 'SIGKILL');
    throw err;
  }
  const sio = kind === 'socket.io';
  return {
    kind,
    label: sio ? 'socket.io' : `raw-net ${opts.transport}`,
    client: {
      kind: sio ? 'socket.io' : opts.transport,
      host: '127.0.0.1',
      port,
      path: sio ? '/socket.io/' : '/sub',
      auth: false,
      room: BENCH_ROOM.key,
    },
    pids: () => (child.pid === undefined ? [] : [child.pid]),
    processes: () => (child.pid === undefined ? [] : [{ pid: child.pid, role: kind }]),
    connections: async () => (await call({ t: 'count' }, 'count')).n,
    gc: async () => {
      await call({ t: 'gc' }, 'gc');
    },
    push(rate: number, durationMs: number, bodySize: number): PushRun {
      // raw-net writes tsim's batch as one buffer; socket.io emits every message on its own.
      const batch = sio ? 1 : batchAt(rate, opts.batch, opts.signalMs);
      const ticksPerSec = rate / batch;
      const total = Math.floor((ticksPerSec * durationMs) / 1000);
      const start = performance.now();
      const done = call({ t: 'run', ticksPerSec, durationMs, batch, bodySize }, 'ran', durationMs + 60_000).then((r) => ({
        sent: r.ticks,
        accepted: r.ticks,
        failed: 0,
        errors: [],
        messagesPerClient: r.ticks * batch,
        messagesPerWrite: batch,
      }));
      return {
        expectedPerClient: () => Math.min(total, Math.floor(((performance.now() - start) * ticksPerSec) / 1000)) * batch,
        done,
      };
    },
    async stop() {
      await stopChild(child, 'SIGTERM', 10_000);
    },
  };
}
