// The verification keys of auth.mode = "jwt", loaded and checked once at start-up so a
// configuration mistake stops the server with a message instead of denying every client.
// Each algorithm is bound to its own key source (HS256 → the secret, RS256/ES256 → the PEM
// key of that type or the JWKS), which rules out algorithm-confusion attacks.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { ConfigError } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { configText, httpUrl } from './config-values.js';

export type JwtConfig = Config['auth']['jwt'];
export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
const MIN_SECRET_BYTES = 32;
/** jose's default JWKS request timeout; a JWKS refetch shares the client's handshake time. */
const JWKS_TIMEOUT_MS = 5000;

export interface JwtKeys {
  /** The algorithms tokens may use, each with a key source. */
  algorithms: JwtAlgorithm[];
  resolve: JWTVerifyGetKey;
}

/** A header names an algorithm this server has no key for. */
export class NoKeyError extends Error {
  override name = 'NoKeyError';
}

function loadSecret(cfg: JwtConfig): Uint8Array | undefined {
  if (cfg.secret === '') return undefined;
  // A secret file usually ends with a newline that is not part of the secret.
  const text = cfg.secret.startsWith('@') ? configText(cfg.secret, 'auth.jwt.secret').replace(/\r?\n$/, '') : cfg.secret;
  const bytes = new TextEncoder().encode(text);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new ConfigError(`auth.jwt.secret: must be at least ${MIN_SECRET_BYTES} bytes for HS256 (got ${bytes.length})`);
  }
  return bytes;
}

function loadPublicKey(cfg: JwtConfig, log: Logger): { key: KeyObject; alg: JwtAlgorithm } | undefined {
  if (cfg.publicKey === '') return undefined;
  const pem = configText(cfg.publicKey, 'auth.jwt.publicKey');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new ConfigError(`auth.jwt.publicKey: not a PEM public key (${(err as Error).message})`);
  }
  if (/PRIVATE KEY-----/.test(pem)) {
    log.warn('auth.jwt.publicKey holds a private key: only its public part is used; keep private keys off this server');
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new ConfigError(`auth.jwt.publicKey: RSA keys must have at least 2048 bits (got ${bits})`);
    return { key, alg: 'RS256' };
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, alg: 'ES256' };
  const what = key.asymmetricKeyType === 'ec' ? `ec ${key.asymmetricKeyDetails?.namedCurve}` : key.asymmetricKeyType;
  throw new ConfigError(`auth.jwt.publicKey: unsupported key type ${what} (use RSA for RS256 or EC P-256 for ES256)`);
}

export function loadJwtKeys(cfg: JwtConfig, log: Logger): JwtKeys {
  const secret = loadSecret(cfg);
  const pub = loadPublicKey(cfg, log);
  const jwks =
    cfg.jwksUrl === '' ? undefined : createRemoteJWKSet(httpUrl(cfg.jwksUrl, 'auth.jwt.jwksUrl', log), { timeoutDuration: JWKS_TIMEOUT_MS });
  if (secret === undefined && pub === undefined && jwks === undefined) {
    throw new ConfigError('auth.mode is "jwt" but none of auth.jwt.secret, auth.jwt.publicKey, auth.jwt.jwksUrl is set');
  }

  const sources: Record<JwtAlgorithm, string | undefined> = {
    HS256: secret !== undefined ? 'auth.jwt.secret' : undefined,
    RS256: pub?.alg === 'RS256' ? 'auth.jwt.publicKey' : jwks !== undefined ? 'auth.jwt.jwksUrl' : undefined,
    ES256: pub?.alg === 'ES256' ? 'auth.jwt.publicKey' : jwks !== undefined ? 'auth.jwt.jwksUrl' : undefined,
  };
  let algorithms: JwtAlgorithm[];
  if (cfg.algorithms === undefined) {
    algorithms = (Object.keys(sources) as JwtAlgorithm[]).filter((a) => sources[a] !== undefined);
  } else {
    algorithms = [...new Set(cfg.algorithms)];
    for (const alg of algorithms) {
      if (sources[alg] !== undefined) continue;
      const needs = alg === 'HS256' ? 'auth.jwt.secret' : `auth.jwt.publicKey (${alg === 'RS256' ? 'RSA' : 'EC P-256'}) or auth.jwt.jwksUrl`;
      throw new ConfigError(`auth.jwt.algorithms lists ${alg} but no key for it is configured (set ${needs})`);
    }
    if (secret !== undefined && !algorithms.includes('HS256'))
      log.warn('auth.jwt.secret is set but HS256 is not in auth.jwt.algorithms: it is unused');
    if (pub !== undefined && !algorithms.includes(pub.alg))
      log.warn(`auth.jwt.publicKey is an ${pub.alg} key but ${pub.alg} is not in auth.jwt.algorithms: it is unused`);
  }

  const resolve: JWTVerifyGetKey = (header, token) => {
    // jose has already refused any algorithm outside `algorithms`.
    if (header.alg === 'HS256' && secret !== undefined) return secret;
    if (header.alg === 'RS256' || header.alg === 'ES256') {
      if (pub !== undefined && pub.alg === header.alg) return pub.key;
      if (jwks !== undefined) return jwks(header, token);
    }
    throw new NoKeyError(`no key for ${String(header.alg)}`);
  };
  return { algorithms, resolve };
}
