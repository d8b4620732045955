// SendGuard on Redis (distributed mode), so slow mode and nonces hold across logic processes
// and reconnects (docs/history.md#limits):
//   <prefix>slot:<user>…<room>    string token, PX slowMode         (SET NX PX)
//   <prefix>nonce:<user>…<nonce>  "p"+token PX pending, then "a"+answer PX nonceWindow
// Giving a claim back deletes it only while it still holds the caller's token (Lua), so a
// late release never frees someone else's claim.
import { UniqueIds } from '../../lib/unique-id.js';
import type { NonceClaim, SendGuard } from '../../ports/send-guard.js';
import { closeRedis, connectAttempt, redisError, type RedisClient } from './connection.js';
import { LuaScript } from './lua-script.js';

/** KEYS: the claim. ARGV: the value it must hold. */
const RELEASE = new LuaScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  1,
);

export interface RedisSendGuardOptions {
  /** Key prefix (default `tsim:dm:`). */
  prefix?: string;
  /** Close the client on close() (true when the guard created it). */
  ownsClient?: boolean;
}

const PENDING = 'p';
const ANSWER = 'a';
const tokens = new UniqueIds();
const token = (): string => tokens.next();
const ms = (n: number): number => Math.max(1, Math.trunc(n));

export class RedisSendGuard implements SendGuard {
  private readonly prefix: string;
  private readonly ownsClient: boolean;

  constructor(
    private readonly redis: RedisClient,
    opts: RedisSendGuardOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'tsim:dm:';
    this.ownsClient = opts.ownsClient ?? false;
  }

  /** One key per (user, room or nonce), unambiguous whatever either holds. */
  private key(kind: string, user: string, what: string): string {
    return `${this.prefix}${kind}:${user.length}:${user}${what}`;
  }

  private async ready(): Promise<void> {
    const attempt = connectAttempt(this.redis);
    if (attempt) await attempt;
  }

  async claimSlot(user: string, room: string, slowMs: number): Promise<string | undefined> {
    const t = token();
    try {
      await this.ready();
      const ok = await this.redis.set(this.key('slot', user, room), t, 'PX', ms(slowMs), 'NX');
      return ok === 'OK' ? t : undefined;
    } catch (e) {
      throw redisError(this.redis, 'slow-mode claim', e);
    }
  }

  async releaseSlot(user: string, room: string, t: string): Promise<void> {
    try {
      await RELEASE.run(this.redis, [this.key('slot', user, room)], [t]);
    } catch (e) {
      throw redisError(this.redis, 'slow-mode release', e);
    }
  }

  async claimNonce(user: string, nonce: string, pendingMs: number): Promise<NonceClaim> {
    const key = this.key('nonce', user, nonce);
    const t = token();
    try {
      await this.ready();
      if ((await this.redis.set(key, PENDING + t, 'PX', ms(pendingMs), 'NX')) === 'OK') return { state: 'first', token: t };
      const v = await this.redis.getBuffer(key);
      // Gone between the two calls (expired or released): the caller asks again.
      if (v === null || v[0] !== ANSWER.charCodeAt(0)) return { state: 'pending' };
      return { state: 'answered', answer: v.subarray(1) };
    } catch (e) {
      throw redisError(this.redis, 'nonce claim', e);
    }
  }

  async settleNonce(user: string, nonce: string, answer: Uint8Array, keepMs: number): Promise<void> {
    try {
      await this.ready();
      await this.redis.set(this.key('nonce', user, nonce), Buffer.concat([Buffer.from(ANSWER), answer]), 'PX', ms(keepMs));
    } catch (e) {
      throw redisError(this.redis, 'nonce answer', e);
    }
  }

  async releaseNonce(user: string, nonce: string, t: string): Promise<void> {
    try {
      await RELEASE.run(this.redis, [this.key('nonce', user, nonce)], [PENDING + t]);
    } catch (e) {
      throw redisError(this.redis, 'nonce release', e);
    }
  }

  async close(): Promise<void> {
    if (this.ownsClient) await closeRedis(this.redis);
  }
}
