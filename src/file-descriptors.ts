// The process's file-descriptor budget (docs/operations.md#file-descriptors): its limit
// (RLIMIT_NOFILE; Node raises the soft limit to the hard one at start) and the client
// connection caps derived from it. fd-probe.ts notices when no descriptor is left.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { devNull } from 'node:os';
import type { Config } from './config/schema.js';

/** Assumed where the limit cannot be read (no /proc): the usual default soft limit. */
export const FALLBACK_FD_LIMIT = 1024;

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
}

/**
 * limits.maxConnections and maxConnectionsPerIp, unset ones derived from the fd limit:
 * maxConnections = limit − reservedFds (at most half the limit reserved, for tiny limits),
 * maxConnectionsPerIp = a quarter of that, so one address cannot fill a comet. A set value
 * wins, 0 included (unlimited).
 */
export function connectionCaps(
  limits: Pick<Config['limits'], 'maxConnections' | 'maxConnectionsPerIp' | 'reservedFds'>,
  limit: number | undefined = fdLimit(),
): ConnectionCaps {
  const fds = limit ?? FALLBACK_FD_LIMIT;
  const fromFds = Number.isFinite(fds) ? Math.max(1, fds - Math.min(limits.reservedFds, Math.floor(fds / 2))) : 0;
  const maxConnections = limits.maxConnections ?? fromFds;
  const maxConnectionsPerIp = limits.maxConnectionsPerIp ?? (fromFds > 0 ? Math.max(1, Math.floor(fromFds / 4)) : 0);
  return {
    maxConnections,
    maxConnectionsPerIp,
    fdLimit: fds,
    derived: { maxConnections: limits.maxConnections === undefined, maxConnectionsPerIp: limits.maxConnectionsPerIp === undefined },
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
