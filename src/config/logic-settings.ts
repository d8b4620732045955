// What the logic role and its HTTP API take from the configuration (logic/logic.ts
// LogicSettings, logic/http/http-server.ts LogicHttpSettings), picked out and resolved by the
// wiring (embedded.ts, distributed/logic-process.ts) so neither sees the whole Config. The
// wiring also decides here whether the API requires keys (docs/security.md#http-api).
import type { Logger } from '../log.js';
import { configText, isLoopbackHost } from '../logic/auth/config-values.js';
import type { LogicHttpSettings } from '../logic/http/http-server.js';
import type { LogicSettings } from '../logic/logic.js';
import { logicInboxSettings } from './inbox-settings.js';
import { parseListen } from './listen.js';
import { ConfigError } from './load.js';
import { pushMaxBytes } from './push-limits.js';
import { roomTypeSettings } from './room-type-settings.js';
import type { Config } from './schema.js';

/** Short keys can be guessed; 16 characters of a random key is ~96 bits. */
const MIN_KEY_LENGTH = 16;
/** RFC 6750 b64token: what fits in `Authorization: Bearer <key>`. */
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export function logicSettings(config: Config): LogicSettings {
  const { node, backoff, logic } = config;
  return {
    node: {
      defaultDomain: node.defaultDomain,
      hostDomain: node.hostDomain,
      tcpPort: node.tcpPort,
      wsPort: node.wsPort,
      wssPort: node.wssPort,
      heartbeat: node.heartbeat,
      heartbeatMax: node.heartbeatMax,
      regionWeight: node.regionWeight,
      backoff: { maxDelay: backoff.maxDelay, baseDelay: backoff.baseDelay, factor: backoff.factor, jitter: backoff.jitter },
    },
    onlineReload: logic.onlineReload,
    onlineStale: logic.onlineStale,
    pushMaxBytes: pushMaxBytes(config),
    roomTypes: roomTypeSettings(config),
    inbox: logicInboxSettings(config),
  };
}

/**
 * The HTTP API's settings. `embedded`: whether logic runs in the one-process wiring, which
 * alone may run without keys under `api.auth = "auto"`. Throws (start-up) when keys are
 * required and none is configured, or a key is unusable.
 */
export function logicHttpSettings(config: Config, embedded: boolean, log: Logger): LogicHttpSettings {
  const { api, httpServer: hs } = config;
  const required = apiAuthRequired(api.auth, hs.addr, embedded, api.keys.length);
  if (!required && !loopbackOnly(hs.addr)) {
    log.warn(`logic http: api.auth is off and the API listens on ${hs.addr}: whoever reaches it can push`);
  }
  if (required && api.keys.length === 0) throw noKeysError(api.auth, hs.addr, embedded);
  return {
    addr: hs.addr,
    maxBody: hs.maxBody,
    maxConnections: hs.maxConnections,
    maxConnectionsPerIp: hs.maxConnectionsPerIp,
    maxPipelined: hs.maxPipelined,
    headersTimeout: hs.headersTimeout,
    requestTimeout: hs.requestTimeout,
    keepAliveTimeout: hs.keepAliveTimeout,
    metricsRenderInterval: config.metrics.renderInterval,
    api: {
      keys: required ? apiKeyValues(api.keys) : undefined,
      protectMetrics: api.protectMetrics,
      publicHistory: api.publicHistory,
      allowedHosts: hs.allowedHosts,
      allowedOrigins: hs.allowedOrigins,
    },
    historyPageBytes: api.historyPageBytes,
  };
}

/** Whether `httpAddr` only accepts connections from this machine. */
export function loopbackOnly(httpAddr: string): boolean {
  const { host } = parseListen(httpAddr);
  return host !== undefined && isLoopbackHost(host);
}

/**
 * Whether the API needs a key. `auto`: yes when keys are configured (they are meant to be
 * used), and otherwise unless this is an embedded server bound to loopback.
 */
export function apiAuthRequired(mode: Config['api']['auth'], httpAddr: string, embedded: boolean, keyCount = 0): boolean {
  if (mode === 'on') return true;
  if (mode === 'off') return false;
  return keyCount > 0 || !embedded || !loopbackOnly(httpAddr);
}

/** The start-up error when keys are required and none is configured. */
function noKeysError(mode: Config['api']['auth'], httpAddr: string, embedded: boolean): Error {
  if (mode === 'on') return new ConfigError('api.auth is on but api.keys is empty');
  const why = embedded ? `the HTTP API listens beyond loopback (httpServer.addr "${httpAddr}")` : 'logic runs distributed';
  const fixes = embedded
    ? 'set api.keys, bind httpServer.addr to 127.0.0.1, or set api.auth = "off"'
    : 'set api.keys, or set api.auth = "off" behind a trusted network';
  return new ConfigError(`api.auth is on but api.keys is empty: api.auth = "auto" turns it on because ${why}; ${fixes}`);
}

/** api.keys with "@file" keys read; throws on an empty list or a key too short or not usable as a bearer token. */
export function apiKeyValues(keys: readonly string[]): string[] {
  if (keys.length === 0) throw new ConfigError('api.auth is on but api.keys is empty');
  return keys.map((value, i) => bearerKey(value, `api.keys[${i}]`));
}

/** One configured key (api.keys, admin.keys) named `name` in errors: "@file" read; throws when too short or not usable as a bearer token. */
export function bearerKey(value: string, name: string): string {
  // A key file usually ends with a newline that is not part of the key.
  const key = value.startsWith('@') ? configText(value, name).replace(/\r?\n$/, '') : value;
  if (key.length < MIN_KEY_LENGTH) throw new ConfigError(`${name}: must be at least ${MIN_KEY_LENGTH} characters`);
  if (!BEARER_TOKEN.test(key)) throw new ConfigError(`${name}: must be a bearer token (letters, digits and - . _ ~ + / only)`);
  return key;
}
