// Cleanup for tests on the real Redis: each test writes under a prefix of its own
// (uniqueName) and deletes everything under it when done.
import { closeRedis, createRedis, redisReady } from '../../src/adapters/redis/connection.js';
import { serviceUrl } from './services.js';

/** Deletes every key starting with `prefix`, over a connection of its own. */
export async function deleteKeysUnder(prefix: string): Promise<void> {
  const raw = createRedis(serviceUrl('redis'));
  try {
    await redisReady(raw, 5000);
    const keys = await raw.keys(`${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
  } finally {
    await closeRedis(raw);
  }
}
