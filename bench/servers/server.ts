// The server under test, always in a child process of its own so that its CPU and memory
// are measured alone (/proc of its pids). One interface for tsim and the baselines.
import { readFileSync } from 'node:fs';
import type { ClientKind } from '../load/messages.js';
import type { PushTally } from '../load/pusher.js';
import type { LatencySummary } from '../measure/histogram.js';

export type Transport = 'tcp' | 'ws';

/**
 * How the fan-out benchmark pushes: http through logic's push API (goim POST
 * /goim/push/room), queue straight into the NATS JetStream queue of tsim-cluster, logic
 * and HTTP left out (load/queue-pusher.ts), or comet straight into tsim-cluster's comets,
 * batched as a job does and sent with gRPC BroadcastRoom (load/comet-pusher.ts).
 */
export type PushMode = 'http' | 'queue' | 'comet';

/**
 * Servers the benchmark can start:
 * - tsim: embedded mode (`tsim start`), comet + logic + job in one process;
 * - tsim-cluster: distributed mode, `tsim logic`, `tsim job` and `tsim comet` with
 *   comet.workers processes, over a private redis-server and nats-server (tsim-cluster.ts);
 * - raw-net: node:net (or ws-upgraded sockets) writing one prebuilt buffer to every socket,
 *   the ceiling of Node on this machine;
 * - socket.io: a socket.io 4 room broadcast, what a Node user would pick instead.
 */
export type ServerKind = 'tsim' | 'tsim-cluster' | 'raw-net' | 'socket.io';

/** One process of the server under test and what it does there. */
export interface ServerProcess {
  pid: number;
  /** e.g. "tsim", "logic", "job", "comet-primary", "comet-w0", "redis", "nats", "raw-net". */
  role: string;
}

/** One "memory settled" log line of a tsim process. */
export interface MemorySettleEvent {
  /** logic, comet, or comet-w<i> for a comet worker. */
  role: string;
  pauseMs: number;
  /** CPU time of the collection (below pauseMs when other processes had the cores). */
  cpuMs: number;
  rssBeforeMb: number;
  rssAfterMb: number;
}

export interface ProcessConnections extends ServerProcess {
  connections: number;
}

export interface ServerOptions {
  transport: Transport;
  /** tsim room.batch: most messages per room batch; the baselines write this many per write at most. */
  batch: number;
  /** tsim room.signal in ms: longest a batch waits for companions. */
  signalMs: number;
  /** Run the server with --cpu-prof, profiles written into this folder when it stops. */
  cpuProfDir?: string;
  /** tsim-cluster: comet.workers of its comet (default 2). */
  cometWorkers?: number;
  /** tsim-cluster: how push() pushes (default http); the other servers take http only. */
  push?: PushMode;
  /** tsim (and tsim-cluster's logic and job): TOML appended to the configuration (extra tables, e.g. [roomTypes.live] and [history]). */
  extraConfig?: string;
  /** tsim (and tsim-cluster's comet): more keys of the [limits] table, e.g. { upstreamFramesPerSecond: 0 }. */
  limits?: Readonly<Record<string, number>>;
}

export interface ClientTarget {
  kind: ClientKind;
  host: string;
  port: number;
  path: string;
  /** goim op-7 auth needed (tsim). */
  auth: boolean;
  room: string;
}

export interface PushRunResult extends PushTally {
  /** What every client should have received if nothing was lost. */
  messagesPerClient: number;
  /** Messages per server write (per socket): a tsim room batch, or the baselines' equivalent. */
  messagesPerWrite: number;
  /** push = "comet": how long each BroadcastRoom call took to be answered, over every comet. */
  reply?: LatencySummary;
}

export interface PushRun {
  /** Messages each client should have received by now (for progress lines). */
  expectedPerClient(): number;
  done: Promise<PushRunResult>;
}

export interface RunningServer {
  kind: ServerKind;
  /** Short name for tables, e.g. "tsim tcp". */
  label: string;
  client: ClientTarget;
  /** Every process of the server (for /proc measurements). */
  pids(): number[];
  /** The same processes with their roles (per-process figures in the results). */
  processes(): ServerProcess[];
  /** Sockets / connections the server holds, when it can tell (baselines, tsim-cluster). */
  connections(): Promise<number | undefined>;
  /** Connections each process holds, for servers spreading them over processes (tsim-cluster's comet workers). */
  connectionsByProcess?(): Promise<ProcessConnections[]>;
  /** Write calls on client sockets so far, from the server's own counter (tsim's tsim_comet_socket_writes_total), when it has one. */
  socketWrites?(): Promise<number | undefined>;
  /** Runs a full garbage collection in every process of the server. */
  gc(): Promise<void>;
  /** The memory settles the server's processes logged so far (tsim-cluster; docs/operations.md#memory-after-connect-storms). */
  memorySettles?(): MemorySettleEvent[];
  /** `rate` messages per second to every client for `durationMs`, `bodySize`-byte bodies. */
  push(rate: number, durationMs: number, bodySize: number): PushRun;
  /** Stops the server (gracefully, so that a CPU profile is written) and waits for its exit. */
  stop(): Promise<void>;
}

/** `key = value` lines of ServerOptions.limits, for a [limits] table. */
export function limitLines(limits: ServerOptions['limits']): string[] {
  return Object.entries(limits ?? {}).map(([k, v]) => `${k} = ${v}`);
}

/**
 * Messages per room batch when `rate` messages/s reach tsim's job with room.batch = `batch`
 * and room.signal = `signalMs`: full batches when they fill within the signal, otherwise
 * whatever arrived during one signal period.
 */
export function batchAt(rate: number, batch: number, signalMs: number): number {
  return Math.max(1, Math.min(batch, Math.round((rate * signalMs) / 1000)));
}

/** A process and all its descendants (cluster workers), from /proc/<pid>/task/<pid>/children. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim();
      if (kids) for (const k of kids.split(/\s+/)) out.push(Number(k));
    } catch {
      // exited, or the kernel does not expose children: the pid alone
    }
  }
  return out;
}
