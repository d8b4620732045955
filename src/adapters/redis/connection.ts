// One Redis client per role, tuned to fail fast: while Redis is unreachable every command
// rejects at once with a clear message (the push API answers -500 instead of hanging), and
// the client keeps reconnecting in the background so service resumes by itself.
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { Logger } from '../../log.js';

export type RedisClient = Redis | Cluster;

export interface RedisConnectOptions {
  /** Per-attempt connect timeout (goim redis.dialTimeout). */
  dialTimeoutMs?: number;
  /** A command without a reply for this long rejects (goim redis.readTimeout). */
  readTimeoutMs?: number;
  /** Shown in CLIENT LIST. */
  name?: string;
  /** Prefixed to every key (tests use it to keep runs apart). */
  keyPrefix?: string;
  log?: Logger;
}

interface ClientState {
  /** Where the client connects, for error messages (no password). */
  where: string;
  lastError: string;
}

const states = new WeakMap<object, ClientState>();

/** host:port (or the sentinel/cluster description) without credentials. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/** Reconnect quickly at first, then every 2 s, forever. */
function retryDelay(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000);
}

/**
 * A Redis client for `url` (redis:// or rediss://, password in the URL) that never queues
 * commands while disconnected: calls fail fast with a message naming the server and the
 * last connection error, and succeed again as soon as the background reconnect does.
 * Commands issued in the same tick are sent as one pipeline (auto-pipelining).
 */
export function createRedis(url: string, opts: RedisConnectOptions = {}): Redis {
  const options: RedisOptions = {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: true,
    connectTimeout: opts.dialTimeoutMs ?? 1000,
    commandTimeout: opts.readTimeoutMs ?? 1000,
    retryStrategy: retryDelay,
    // ioredis waits this long for a socket to close after disconnect(), even one already
    // closed, which kept processes alive for 2 s after closing a client that was down.
    disconnectTimeout: 300,
    connectionName: opts.name,
    keyPrefix: opts.keyPrefix,
  };
  const redis = new Redis(url, options);
  watchRedis(redis, describeUrl(url), opts.log);
  return redis;
}

/**
 * Records connection errors for messages and logs outages once (not per retry). Called by
 * createRedis; call it for clients built elsewhere (a Cluster, a Sentinel client).
 */
export function watchRedis(redis: RedisClient, where: string, log?: Logger): void {
  const state: ClientState = { where, lastError: '' };
  states.set(redis, state);
  let down = false;
  redis.on('error', (err: Error) => {
    const msg = err.message || String(err);
    if (msg !== state.lastError || !down) log?.warn({ redis: where, err: msg }, 'redis: connection error');
    state.lastError = msg;
    down = true;
  });
  redis.on('ready', () => {
    if (down) log?.info({ redis: where }, 'redis: connection restored');
    down = false;
    state.lastError = '';
  });
}

/** Where a client connects, for messages. */
export function redisWhere(redis: RedisClient): string {
  const s = states.get(redis);
  if (s) return s.where;
  const o = (redis as Redis).options;
  return o && 'host' in o ? `${o.host}:${o.port}` : 'redis';
}

/**
 * The error to surface for a failed command: names the server, and when the client is not
 * connected says so (ioredis's own message, "Stream isn't writeable…", explains nothing).
 */
export function redisError(redis: RedisClient, what: string, err: unknown): Error {
  const where = redisWhere(redis);
  const status = redis.status;
  if (status !== 'ready') {
    const last = states.get(redis)?.lastError;
    return new Error(`redis ${where}: ${what} failed: not connected (${status}${last ? `; last error: ${last}` : ''})`, { cause: err });
  }
  return new Error(`redis ${where}: ${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

const CONNECTING = new Set(['wait', 'connecting', 'connect']);

/**
 * Null when commands can go out now (connected, or known to be down: they fail fast). While
 * a connection attempt is under way — a fresh client, a reconnect in progress — a promise
 * that settles when it ends (ready or failed), bounded by the connect timeout, so the first
 * calls after start-up do not fail just because the handshake is not done yet.
 */
export function connectAttempt(redis: RedisClient): Promise<void> | null {
  if (!CONNECTING.has(redis.status)) return null;
  const bound = (redis as Redis).options?.connectTimeout ?? 1000;
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('close', done);
      redis.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, bound);
    redis.once('ready', done);
    redis.once('close', done);
    redis.once('end', done);
  });
}

/** Resolves once the client is ready; rejects after `timeoutMs` (start-up can decide to go on). */
export function redisReady(redis: RedisClient, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(redisError(redis, `connecting within ${timeoutMs} ms`, new Error('timeout')));
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/** Closes the client: QUIT when connected, else just stops reconnecting. */
export async function closeRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // fall through to disconnect
    }
  }
  redis.disconnect();
}
