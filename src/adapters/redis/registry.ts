// Registry on Redis, with no discovery service to run. Per app (hash-tagged so an app's
// keys share one Cluster slot):
//   <prefix>{<appid>}:instances  hash  hostname → instance JSON (goim discovery field names)
//   <prefix>{<appid>}:expiry     zset  hostname → expiry, ms of Redis server time
//   <prefix>{<appid>}:changes    pub/sub channel, a hostname is published on every change
// An instance lives for registry.ttl after its last registration; this registry re-registers
// its own instances every registry.refresh, so a crashed process drops out after the TTL.
// Watchers hear changes through the channel and, to catch expiries and anything missed while
// disconnected, re-read every scan interval and after every reconnect.
import { Cluster } from 'ioredis';
import type { Logger } from '../../log.js';
import type { Instance, Registry } from '../../ports/index.js';
import { closeRedis, redisError, watchRedis, redisWhere, type RedisClient } from './connection.js';
import { LuaScript } from './lua-script.js';

// Millisecond server time, so instances on hosts with skewed clocks agree on expiry.
const NOW = `if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: instances, expiry. ARGV: hostname, json, ttl ms, channel. Resolves 1 when watchers were told. */
const REGISTER = new LuaScript(
  `${NOW}
local ttl = tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[1], ARGV[1])
local expiry = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < ttl * 2 then redis.call('PEXPIRE', KEYS[i], ttl * 2) end
end
if old ~= ARGV[2] or not expiry or tonumber(expiry) <= now then
  redis.call('PUBLISH', ARGV[4], ARGV[1])
  return 1
end
return 0`,
  2,
);

/** KEYS: instances, expiry. ARGV: hostname, channel. */
const DEREGISTER = new LuaScript(
  `local n = redis.call('HDEL', KEYS[1], ARGV[1]) + redis.call('ZREM', KEYS[2], ARGV[1])
if n > 0 then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return n`,
  2,
);

/** KEYS: instances, expiry. ARGV: channel. Drops expired instances, returns the live ones' JSON. */
const LIST = new LuaScript(
  `${NOW}
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #dead > 0 then
  redis.call('ZREM', KEYS[2], unpack(dead))
  redis.call('HDEL', KEYS[1], unpack(dead))
  redis.call('PUBLISH', ARGV[1], dead[1])
end
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')
if #live == 0 then return {} end
return redis.call('HMGET', KEYS[1], unpack(live))`,
  2,
);

/** Delay before a failed re-registration is tried again. */
const RETRY_MS = 1000;

export interface RedisRegistryOptions {
  /** An instance not re-registered for this long is gone (registry.ttl). */
  ttlMs: number;
  /** How often this registry re-registers its own instances (registry.refresh). */
  refreshMs: number;
  /** How often watchers re-read the list (default: the smaller of refresh and ttl / 2). */
  scanMs?: number;
  /** Key and channel prefix (default `tsim:registry:`). */
  prefix?: string;
  /** Connection for pub/sub (default: a duplicate of the main client). */
  subscriber?: RedisClient;
  /** Close the main client on close() (true when the registry created it). */
  ownsClient?: boolean;
  log: Logger;
}

interface Watcher {
  onChange: (instances: Instance[]) => void;
  /** Signature of the last list this watcher got; null before the first. */
  seen: string | null;
}

interface WatchedApp {
  watchers: Set<Watcher>;
  /** A read in progress, and whether another must follow it (a change arrived meanwhile). */
  reading: Promise<void> | null;
  again: boolean;
}

/** goim discovery's instance JSON (docs/internal-protocol.md, "Registry entries"). */
function encodeInstance(i: Instance): string {
  return JSON.stringify({
    region: i.region,
    zone: i.zone,
    env: i.env,
    appid: i.appid,
    hostname: i.hostname,
    addrs: i.addrs,
    version: i.version,
    latest_timestamp: i.latestTimestamp,
    metadata: i.metadata,
  });
}

function decodeInstance(text: string): Instance | null {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (typeof v.hostname !== 'string' || typeof v.appid !== 'string') return null;
    const str = (x: unknown): string => (typeof x === 'string' ? x : '');
    const metadata: Record<string, string> =
      v.metadata && typeof v.metadata === 'object'
        ? Object.fromEntries(Object.entries(v.metadata as Record<string, unknown>).map(([k, m]) => [k, String(m)]))
        : {};
    return {
      region: str(v.region),
      zone: str(v.zone),
      env: str(v.env),
      appid: v.appid,
      hostname: v.hostname,
      addrs: Array.isArray(v.addrs) ? v.addrs.map(String) : [],
      version: str(v.version),
      latestTimestamp: typeof v.latest_timestamp === 'number' ? v.latest_timestamp : 0,
      metadata,
    };
  } catch {
    return null;
  }
}

/** Order-independent identity of a list: any field change in any instance changes it. */
function signature(list: Instance[]): string {
  return JSON.stringify(
    list.map((i) => [i.hostname, i.latestTimestamp, Object.entries(i.metadata).sort(), i.addrs, i.zone, i.region, i.env, i.version]),
  );
}

export class RedisRegistry implements Registry {
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly refreshMs: number;
  private readonly scanMs: number;
  private readonly log: Logger;
  private readonly ownsClient: boolean;
  private readonly subscriber: RedisClient;
  private readonly ownsSubscriber: boolean;
  /** Instances this process registered and keeps alive: "appid\nhostname" → instance. */
  private readonly mine = new Map<string, Instance>();
  private readonly apps = new Map<string, WatchedApp>();
  private readonly subscribed = new Set<string>();
  private readonly refreshTimer: NodeJS.Timeout;
  private scanTimer: NodeJS.Timeout | null = null;
  private readonly onReady = (): void => this.afterReconnect();
  private failing = false;
  /** A failed re-registration is tried again this soon rather than a whole refresh later. */
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly redis: RedisClient,
    opts: RedisRegistryOptions,
  ) {
    this.prefix = opts.prefix ?? 'tsim:registry:';
    this.ttlMs = Math.max(1, Math.trunc(opts.ttlMs));
    this.refreshMs = Math.max(1, Math.trunc(opts.refreshMs));
    this.scanMs = Math.max(1, Math.trunc(opts.scanMs ?? Math.min(this.refreshMs, this.ttlMs / 2)));
    this.log = opts.log;
    this.ownsClient = opts.ownsClient ?? false;
    if (opts.subscriber) {
      this.subscriber = opts.subscriber;
      this.ownsSubscriber = false;
    } else {
      // Subscriptions may queue while disconnected; ioredis re-subscribes after a reconnect.
      this.subscriber =
        redis instanceof Cluster
          ? redis.duplicate()
          : redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, connectionName: 'tsim-registry-sub' });
      watchRedis(this.subscriber, redisWhere(redis), undefined);
      this.ownsSubscriber = true;
    }
    this.subscriber.on('message', (channel: string) => this.onMessage(channel));
    this.subscriber.on('ready', this.onReady);
    this.redis.on('ready', this.onReady);
    this.refreshTimer = setInterval(() => this.refreshMine(), this.refreshMs);
    this.refreshTimer.unref();
  }

  private keys(appid: string): [string, string] {
    return [`${this.prefix}{${appid}}:instances`, `${this.prefix}{${appid}}:expiry`];
  }

  private channel(appid: string): string {
    return `${this.prefix}{${appid}}:changes`;
  }

  /**
   * Stores the instance and keeps it alive (re-registered every refresh) until deregister().
   * Rejects when Redis cannot be reached; the instance is still kept alive from then on, so
   * it appears as soon as Redis is back.
   */
  async register(instance: Instance): Promise<void> {
    if (this.closed) throw new Error('registry: closed');
    this.mine.set(`${instance.appid}\n${instance.hostname}`, { ...instance, metadata: { ...instance.metadata }, addrs: [...instance.addrs] });
    await this.write(instance);
    this.readSoon(instance.appid);
  }

  async deregister(appid: string, hostname: string): Promise<void> {
    this.mine.delete(`${appid}\n${hostname}`);
    try {
      await DEREGISTER.run(this.redis, this.keys(appid), [hostname, this.channel(appid)]);
    } catch (e) {
      throw redisError(this.redis, `deregister ${appid} ${hostname}`, e);
    }
    this.readSoon(appid);
  }

  async list(appid: string): Promise<Instance[]> {
    let res: unknown;
    try {
      res = await LIST.run(this.redis, this.keys(appid), [this.channel(appid)]);
    } catch (e) {
      throw redisError(this.redis, `list ${appid}`, e);
    }
    const out: Instance[] = [];
    for (const text of (res as Array<string | null>) ?? []) {
      if (typeof text !== 'string') continue;
      const inst = decodeInstance(text);
      if (inst) out.push(inst);
    }
    return out.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  }

  watch(appid: string, onChange: (instances: Instance[]) => void): () => void {
    if (this.closed) throw new Error('registry: closed');
    let app = this.apps.get(appid);
    if (!app) {
      app = { watchers: new Set(), reading: null, again: false };
      this.apps.set(appid, app);
      this.subscribe(appid);
    }
    const watcher: Watcher = { onChange, seen: null };
    app.watchers.add(watcher);
    this.scanTimer ??= setInterval(() => {
      for (const id of this.apps.keys()) this.readSoon(id);
    }, this.scanMs);
    this.readSoon(appid);
    return () => {
      const a = this.apps.get(appid);
      if (!a) return;
      a.watchers.delete(watcher);
      if (a.watchers.size === 0) {
        this.apps.delete(appid);
        this.unsubscribe(appid);
      }
      if (this.apps.size === 0 && this.scanTimer) {
        clearInterval(this.scanTimer);
        this.scanTimer = null;
      }
    };
  }

  /** Stops refreshing and watching; registered instances expire after the TTL unless deregistered. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.refreshTimer);
    clearTimeout(this.retryTimer);
    if (this.scanTimer) clearInterval(this.scanTimer);
    this.scanTimer = null;
    this.redis.off('ready', this.onReady);
    this.subscriber.off('ready', this.onReady);
    const reads = [...this.apps.values()].map((a) => a.reading).filter((p): p is Promise<void> => p !== null);
    this.apps.clear();
    await Promise.allSettled(reads);
    if (this.ownsSubscriber) await closeRedis(this.subscriber);
    else for (const appid of this.subscribed) this.unsubscribe(appid);
    if (this.ownsClient) await closeRedis(this.redis);
  }

  private async write(instance: Instance): Promise<void> {
    try {
      await REGISTER.run(this.redis, this.keys(instance.appid), [
        instance.hostname,
        encodeInstance(instance),
        this.ttlMs,
        this.channel(instance.appid),
      ]);
    } catch (e) {
      throw redisError(this.redis, `register ${instance.appid} ${instance.hostname}`, e);
    }
  }

  /** Keeps this process's instances alive; logs an outage once, and its end. */
  private refreshMine(): void {
    if (this.closed || this.mine.size === 0) return;
    const writes = [...this.mine.values()].map((i) => this.write(i));
    Promise.all(writes).then(
      () => {
        if (this.failing) this.log.info('registry: re-registration works again');
        this.failing = false;
      },
      (e: Error) => {
        if (!this.failing) this.log.warn({ err: e.message }, 'registry: re-registration failed; instances expire unless Redis returns');
        this.failing = true;
        // A busy process reads Redis's reply late and times the command out (it may well have
        // run): three such refreshes in a row would let the instance expire, so try again soon.
        if (!this.closed && this.retryTimer === undefined) {
          this.retryTimer = setTimeout(
            () => {
              this.retryTimer = undefined;
              this.refreshMine();
            },
            Math.min(RETRY_MS, this.refreshMs),
          );
          this.retryTimer.unref();
        }
      },
    );
  }

  private afterReconnect(): void {
    if (this.closed) return;
    this.refreshMine();
    for (const appid of this.apps.keys()) this.readSoon(appid);
  }

  private subscribe(appid: string): void {
    const ch = this.channel(appid);
    this.subscribed.add(appid);
    this.subscriber.subscribe(ch).catch((e: Error) => {
      // The scan keeps watchers current meanwhile; ioredis re-subscribes on reconnect only
      // for subscriptions it holds, so retry on the next ready.
      this.log.warn({ channel: ch, err: e.message }, 'registry: subscribe failed; relying on periodic reads');
      this.subscribed.delete(appid);
    });
  }

  private unsubscribe(appid: string): void {
    this.subscribed.delete(appid);
    if (this.subscriber.status === 'ready') this.subscriber.unsubscribe(this.channel(appid)).catch(() => {});
  }

  private onMessage(channel: string): void {
    if (!channel.startsWith(this.prefix)) return;
    const m = /^\{(.*)\}:changes$/.exec(channel.slice(this.prefix.length));
    if (m && this.apps.has(m[1])) this.readSoon(m[1]);
  }

  /** Reads the app's list now, or once more after the read in progress (coalesced). */
  private readSoon(appid: string): void {
    const app = this.apps.get(appid);
    if (!app || this.closed) return;
    if (!this.subscribed.has(appid)) this.subscribe(appid);
    if (app.reading) {
      app.again = true;
      return;
    }
    app.reading = this.read(appid, app).finally(() => {
      app.reading = null;
      if (app.again) {
        app.again = false;
        this.readSoon(appid);
      }
    });
  }

  private async read(appid: string, app: WatchedApp): Promise<void> {
    let list: Instance[];
    try {
      list = await this.list(appid);
    } catch (e) {
      // Keep the last list: an outage is not "every instance left".
      this.log.debug({ appid, err: (e as Error).message }, 'registry: read failed');
      return;
    }
    if (this.closed || this.apps.get(appid) !== app) return;
    const sig = signature(list);
    for (const w of [...app.watchers]) {
      if (w.seen === sig || !app.watchers.has(w)) continue;
      w.seen = sig;
      try {
        w.onChange(list.map((i) => ({ ...i, addrs: [...i.addrs], metadata: { ...i.metadata } })));
      } catch (err) {
        this.log.error({ appid, err: (err as Error).message }, 'registry: watcher threw');
      }
    }
  }
}
