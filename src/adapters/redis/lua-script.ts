// A Lua script run by SHA (EVALSHA), loaded with EVAL the first time a server does not
// know it (after a restart or failover). Each script touches only the keys it declares, so
// it also works on Redis Cluster.
import { createHash } from 'node:crypto';
import { connectAttempt, type RedisClient } from './connection.js';

type Arg = string | number | Buffer;

export class LuaScript {
  readonly sha: string;

  constructor(
    readonly lua: string,
    readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: RedisClient, keys: Arg[], args: Arg[]): Promise<unknown> {
    if (keys.length !== this.numberOfKeys) throw new Error(`lua script wants ${this.numberOfKeys} keys, got ${keys.length}`);
    const attempt = connectAttempt(redis);
    if (attempt) await attempt;
    try {
      return await redis.evalsha(this.sha, this.numberOfKeys, ...keys, ...args);
    } catch (e) {
      if (!String((e as Error)?.message).startsWith('NOSCRIPT')) throw e;
      return redis.eval(this.lua, this.numberOfKeys, ...keys, ...args);
    }
  }
}
