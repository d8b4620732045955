// The process's file-descriptor budget (docs/operations.md#file-descriptors): its limit
// (RLIMIT_NOFILE; Node raises the soft limit to the hard one at start) and the client
// connection caps derived from it. fd-probe.ts notices when no descriptor is left.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { devNull } from 'node:os';
import type { Config } from './config/schema.js';

/** Assumed where the limit cannot be read (no /proc): the usual default soft limit. */
const FALLBACK_FD_LIMIT = 1024;

/**
 * This process's open-file limit: a number, Infinity when unlimited, undefined when it
 * cannot be read (not Linux).
 */
export function readFdLimit(text?: string): number | undefined {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(text ?? readFileSync('/proc/self/limits', 'utf8'));
    if (m === null) return undefined;
    if (m[1] === 'unlimited') return Infinity;
    const n = Number(m[1]);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

let cachedLimit: number | undefined | null = null;

/** readFdLimit(), read once (reading needs a descriptor, which may be missing later). */
export function fdLimit(): number | undefined {
  if (cachedLimit === null) cachedLimit = readFdLimit();
  return cachedLimit;
}

export interface ConnectionCaps {
  /** Client sockets one comet admits at once; 0 = unlimited. */
  maxConnections: number;
  /** Client sockets one IP may hold; 0 = unlimited. */
  maxConnectionsPerIp: number;
  /** The open-file limit they were derived from (FALLBACK_FD_LIMIT when unknown). */
  fdLimit: number;
  /** Which of the two came from the fd limit rather than the configuration. */
  derived: { maxConnections: boolean; maxConnectionsPerIp: boolean };
  /** Descriptors left for the rest of the process: the larger of the reserve and `needs`. */
  reserved: number;
}

/**
 * Descriptors a comet's process may hold besides its client sockets, each at most: the HTTP
 * API (embedded) or the metrics listener (distributed comet), refused plain WebSocket
 * sockets waiting for their 503, and the process's own.
 */
export interface FdNeeds {
  /** httpServer's connection cap (embedded), or metrics.maxConnections (distributed comet). */
  http: number;
  /** limits.maxRefusedWaiting × the plain WebSocket listeners. */
  refusedWaiting: number;
  /** PROCESS_FDS. */
  process: number;
}

/**
 * What the process holds without counting it (docs/operations.md#file-descriptors): Node and
 * libuv (about 20 idle), listening sockets, log files, Redis and NATS connections, gRPC
 * connections of the few jobs and logics, and files read on demand.
 */
export const PROCESS_FDS = 48;

/** The HTTP API's connection cap: httpServer.maxConnections, at most a quarter of the fd limit. */
export function httpConnectionCap(maxConnections: number, limit: number | undefined = fdLimit()): number {
  return limit !== undefined && Number.isFinite(limit) ? Math.max(1, Math.min(maxConnections, Math.floor(limit / 4))) : maxConnections;
}

/**
 * FdNeeds of a comet sharing its process with logic's HTTP API (embedded) or with a
 * metrics listener of `metricsConnections` connections (distributed comet).
 */
export function fdNeeds(
  config: { httpServer: { maxConnections: number }; limits: { maxRefusedWaiting: number }; websocket: { bind: readonly string[] } },
  sharesWith: 'http api' | { metricsConnections: number },
  limit: number | undefined = fdLimit(),
): FdNeeds {
  return {
    http: sharesWith === 'http api' ? httpConnectionCap(config.httpServer.maxConnections, limit ?? FALLBACK_FD_LIMIT) : sharesWith.metricsConnections,
    refusedWaiting: config.limits.maxRefusedWaiting * config.websocket.bind.length,
    process: PROCESS_FDS,
  };
}

/** The sum of `needs`. */
export function fdNeedsTotal(needs: FdNeeds): number {
  return needs.http + needs.refusedWaiting + needs.process;
}

/**
 * limits.maxConnections and maxConnectionsPerIp, unset ones derived from the fd limit:
 * maxConnections = limit − reservedFds (at most half the limit reserved, for tiny limits, but
 * never less than `needs`, so the derived caps and everything else fit in the limit),
 * maxConnectionsPerIp = a quarter of that, so one address cannot fill a comet. A set value
 * wins, 0 included (unlimited).
 */
export function connectionCaps(
  limits: Pick<Config['limits'], 'maxConnections' | 'maxConnectionsPerIp' | 'reservedFds'> & { fdNeeds?: FdNeeds },
  limit: number | undefined = fdLimit(),
): ConnectionCaps {
  const fds = limit ?? FALLBACK_FD_LIMIT;
  const reserved = Math.max(Math.min(limits.reservedFds, Math.floor(fds / 2)), limits.fdNeeds === undefined ? 0 : fdNeedsTotal(limits.fdNeeds));
  const fromFds = Number.isFinite(fds) ? Math.max(1, fds - reserved) : 0;
  const maxConnections = limits.maxConnections ?? fromFds;
  const maxConnectionsPerIp = limits.maxConnectionsPerIp ?? (fromFds > 0 ? Math.max(1, Math.floor(fromFds / 4)) : 0);
  return {
    maxConnections,
    maxConnectionsPerIp,
    fdLimit: fds,
    derived: { maxConnections: limits.maxConnections === undefined, maxConnectionsPerIp: limits.maxConnectionsPerIp === undefined },
    reserved,
  };
}

/**
 * When `caps.maxConnections` and `needs` together exceed the fd limit (set too high, or a
 * limit too small for the defaults): the numbers for the start-up warning; else undefined.
 */
export function fdOvercommit(caps: ConnectionCaps, needs: FdNeeds): Record<string, number> | undefined {
  if (caps.maxConnections === 0 || !Number.isFinite(caps.fdLimit)) return undefined;
  const total = caps.maxConnections + fdNeedsTotal(needs);
  if (total <= caps.fdLimit) return undefined;
  return {
    fdLimit: caps.fdLimit,
    total,
    maxConnections: caps.maxConnections,
    httpConnections: needs.http,
    refusedWaiting: needs.refusedWaiting,
    processFds: needs.process,
  };
}

/** Whether the process can open one more descriptor now. */
export function fdAvailable(): boolean {
  try {
    closeSync(openSync(devNull, 'r'));
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== 'EMFILE' && code !== 'ENFILE';
  }
}
