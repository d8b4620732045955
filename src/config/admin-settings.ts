// What the operations console takes from the configuration ([admin], docs/configuration.md):
// its credential, decided as the API's (config/logic-settings.ts) but from keys of its own,
// and the node snapshot interval every role uses.
import type { Logger } from '../log.js';
import { ConfigError } from './load.js';
import { apiAuthRequired, bearerKey, loopbackOnly } from './logic-settings.js';
import type { Config } from './schema.js';

/** A holder name in "name:key": short, plain, so it can go into log lines as is. */
const HOLDER_NAME = /^[A-Za-z0-9._-]{1,32}$/;
const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 60_000;

/** One accepted admin key and who holds it (logged with each console action). */
export interface AdminKey {
  who: string;
  key: string;
}

/** Who may use the console, as the wiring decided it. */
export type AdminAccess =
  /** Keys required: these. */
  | { mode: 'keys'; keys: readonly AdminKey[] }
  /** No key: Host and Origin checks only (embedded on loopback, or admin.auth = "off"). */
  | { mode: 'open' }
  /** Keys required and none configured: the console is not served. */
  | { mode: 'disabled'; why: string };

/** admin.statsInterval, checked (ms). */
export function adminStatsInterval(config: Config): number {
  const ms = config.admin.statsInterval;
  if (ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) throw new ConfigError(`admin.statsInterval: must be between 100ms and 1m (got ${ms} ms)`);
  return ms;
}

/** admin.keys resolved ("name:key", "@file"); throws on a bad entry. */
function adminKeys(keys: readonly string[]): AdminKey[] {
  return keys.map((entry, i) => {
    const name = `admin.keys[${i}]`;
    const colon = entry.indexOf(':');
    // A key never holds ':' (bearer token syntax), so the first one ends a holder name.
    const who = colon > 0 ? entry.slice(0, colon) : `key#${i}`;
    if (colon > 0 && !HOLDER_NAME.test(who)) throw new ConfigError(`${name}: the name before ":" must be 1 to 32 of A-Z a-z 0-9 . _ -`);
    return { who, key: bearerKey(colon > 0 ? entry.slice(colon + 1) : entry, name) };
  });
}

/**
 * The console's access. `embedded`: the one-process wiring, which alone may run it keyless
 * under admin.auth = "auto" (and only on a loopback httpServer.addr).
 */
export function adminAccess(config: Config, embedded: boolean, log: Logger): AdminAccess {
  const { admin, httpServer, api } = config;
  const loopback = loopbackOnly(httpServer.addr);
  // Keyless under "auto" only where the push API is keyless too: the console pushes and disconnects,
  // so it must never be the open door beside an API that takes keys.
  const apiOpen = !apiAuthRequired(api.auth, httpServer.addr, embedded, api.keys.length);
  if (admin.auth === 'off' || (admin.auth === 'auto' && admin.keys.length === 0 && embedded && loopback && apiOpen)) {
    if (!loopback)
      log.warn(`logic http: admin.auth is off and logic listens on ${httpServer.addr}: whoever reaches it can use the operations console`);
    return { mode: 'open' };
  }
  if (admin.keys.length > 0) return { mode: 'keys', keys: adminKeys(admin.keys) };
  if (admin.auth === 'on') throw new ConfigError('admin.auth is on but admin.keys is empty');
  const why = !embedded ? 'logic runs distributed' : !loopback ? `httpServer.addr "${httpServer.addr}" is not loopback` : 'the push API takes keys';
  return { mode: 'disabled', why: `no admin.keys while ${why}` };
}
