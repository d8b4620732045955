// auth.mode = "jwt": the auth body carries a JWT signed by the business (HS256, RS256 or
// ES256); its verified claims say who the connection is. The body is either
// `{"token":"<jwt>", …}` (goim-style JSON, so existing clients only change a field) or the
// compact JWT itself.
//
// Identity comes from the claims only: mid from `auth.jwt.midClaim` (or a numeric "sub"),
// room from "room_id" (or "room"), accepts from "accepts", key from "key". With
// `auth.jwt.trustBody` the body's room_id and accepts fill claims the token lacks; mid and
// key never come from the body, since a client-chosen key could take over another user's
// connection and its key pushes.
import { errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { Logger } from '../../log.js';
import type { ConnectRequest, HistoryAsk } from '../../ports/index.js';
import { historyAsk, HistoryAskError } from '../../protocol/history-ask.js';
import { listsRoom } from '../../protocol/room-key.js';
import { allow, deny, type AuthDenial, type AuthIdentity, type AuthResult, type Authenticator } from './authenticator.js';
import { acceptsOf, ClaimError, isDecimal, midOf, roomsOf, stringOf } from './claims.js';
import { loadJwtKeys, NoKeyError, type JwtConfig, type JwtKeys } from './jwt-keys.js';

/** base64url header.payload.signature (the signature may be empty: alg none, refused later). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Extracted {
  jwt: string;
  /** The JSON auth body the JWT came in, if any. */
  body?: Record<string, unknown>;
}

/** Finds the JWT in an auth body; a string is the reason it has none. */
export function extractJwt(bytes: Uint8Array): Extracted | string {
  let text: string;
  try {
    text = utf8.decode(bytes).trim();
  } catch {
    return 'token is not UTF-8';
  }
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return 'token is not valid JSON';
    }
    const body = parsed as Record<string, unknown>;
    if (typeof body.token !== 'string') return 'JSON token has no string "token" field';
    const jwt = body.token.trim();
    if (!COMPACT_JWS.test(jwt)) return '"token" field is not a compact JWT';
    return { jwt, body };
  }
  if (COMPACT_JWS.test(text)) return { jwt: text };
  return 'token is neither a JSON object with a "token" field nor a compact JWT';
}

/**
 * The JSON body's `history` (docs/history.md#opting-in): what to replay is the client's choice
 * whatever trustBody says, since it grants nothing; an invalid one is refused like a bad claim.
 */
function historyOf(body: Record<string, unknown> | undefined): { history?: HistoryAsk } {
  const value = body?.history;
  if (value === undefined || value === null) return {};
  try {
    return { history: historyAsk(value) };
  } catch (err) {
    if (err instanceof HistoryAskError) throw new ClaimError(`body ${err.message}`);
    throw err;
  }
}

/** The JSON body's `inbox` (docs/protocol.md#durable-inbox): the client's choice, like `history`; the mid stays the token's. */
function inboxOf(body: Record<string, unknown> | undefined): { inbox?: true } {
  const value = body?.inbox;
  if (value === undefined || value === null || value === false) return {};
  if (value === true) return { inbox: true };
  throw new ClaimError('body inbox must be a boolean');
}

/** Maps a verification failure to its reason class; messages are jose's, which hold no token content. */
function denialOf(err: unknown): AuthDenial {
  if (err instanceof NoKeyError) return deny('unknown_key', err.message);
  if (err instanceof errors.JOSEError) {
    switch (err.code) {
      case 'ERR_JWT_EXPIRED':
        return deny('expired', 'token expired');
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
        if ((err as errors.JWTClaimValidationFailed).claim === 'nbf') return deny('not_yet_valid', 'token not yet valid (nbf)');
        return deny('claims', err.message);
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
      case 'ERR_JOSE_NOT_SUPPORTED':
        return deny('bad_algorithm', `algorithm not allowed: ${err.message}`);
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return deny('bad_signature', 'signature verification failed');
      case 'ERR_JWS_INVALID':
      case 'ERR_JWT_INVALID':
        return deny('malformed', `malformed JWT: ${err.message}`);
      case 'ERR_JWKS_NO_MATCHING_KEY':
      case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
        return deny('unknown_key', err.message);
      default:
        // JWKS timeout, non-200 or unparsable key set.
        return deny('key_unavailable', `JWKS: ${err.message}`);
    }
  }
  // A JWKS fetch that failed at the network level, or a key unusable for the algorithm.
  return deny('key_unavailable', `verification failed: ${err instanceof Error ? err.message : String(err)}`);
}

export class JwtAuthenticator implements Authenticator {
  private readonly keys: JwtKeys;
  private readonly options: JWTVerifyOptions;
  private readonly midClaim: string;
  private readonly trustBody: boolean;

  /** Throws (start-up) when the configuration cannot verify anything. */
  constructor(cfg: JwtConfig, log: Logger) {
    this.keys = loadJwtKeys(cfg, log);
    const audience = Array.isArray(cfg.audience) ? cfg.audience.filter((a) => a !== '') : cfg.audience === '' ? [] : [cfg.audience];
    this.options = {
      algorithms: this.keys.algorithms,
      clockTolerance: cfg.clockTolerance / 1000,
      requiredClaims: cfg.requireExp ? ['exp'] : [],
      ...(cfg.issuer !== '' ? { issuer: cfg.issuer } : {}),
      ...(audience.length > 0 ? { audience } : {}),
    };
    this.midClaim = cfg.midClaim;
    this.trustBody = cfg.trustBody;
    log.info(`logic: auth mode jwt, algorithms ${this.keys.algorithms.join(', ')}`);
  }

  async authenticate(req: ConnectRequest): Promise<AuthResult> {
    const found = extractJwt(req.token);
    if (typeof found === 'string') return deny('malformed', found);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(found.jwt, this.keys.resolve, this.options));
    } catch (err) {
      return denialOf(err);
    }
    try {
      return allow(this.identity(payload, found.body));
    } catch (err) {
      if (err instanceof ClaimError) return deny('claims', err.message);
      throw err;
    }
  }

  private identity(claims: JWTPayload, body: Record<string, unknown> | undefined): AuthIdentity {
    const midName = this.midClaim;
    let mid: bigint;
    if (claims[midName] !== undefined && claims[midName] !== null) mid = midOf(claims[midName], `claim "${midName}"`);
    else if (isDecimal(claims.sub)) mid = midOf(claims.sub, 'claim "sub"');
    else throw new ClaimError(`no "${midName}" claim (nor a numeric "sub")`);

    const fromBody = this.trustBody && body !== undefined ? body : undefined;
    const claimedRoom = stringOf(claims.room_id, 'claim "room_id"') ?? stringOf(claims.room, 'claim "room"');
    const roomId = claimedRoom ?? stringOf(fromBody?.room_id, 'body "room_id"') ?? '';
    const claimedAccepts = acceptsOf(claims.accepts, 'claim "accepts"');
    const accepts = claimedAccepts ?? acceptsOf(fromBody?.accepts, 'body "accepts"') ?? [];
    const key = stringOf(claims.key, 'claim "key"') ?? '';
    // Never from the body: a list grants rooms.
    const rooms = roomsOf(claims.rooms, 'claim "rooms"');
    // A list binds the body's room too, as it binds op 12: else the auth frame would be a way around it.
    if (claimedRoom === undefined && roomId !== '' && rooms !== undefined && !listsRoom(new Set(rooms), roomId)) {
      throw new ClaimError('body "room_id" is not among the rooms of claim "rooms"');
    }
    // What the token grants binds the connection; only with trustBody are the claims the
    // token leaves out the client's choice, after login too (docs/security.md).
    return {
      mid,
      key,
      roomId,
      accepts,
      roomFixed: claimedRoom !== undefined || !this.trustBody,
      acceptsFixed: claimedAccepts !== undefined || !this.trustBody,
      ...(rooms !== undefined ? { rooms } : {}),
      ...historyOf(body),
      ...inboxOf(body),
    };
  }
}
