// The auth token (body of op 7, docs/protocol.md#auth-token) and how an object token becomes JSON.

/** The auth token (body of op 7). An object is sent as JSON; a string or bytes verbatim. */
export type TokenValue = string | Uint8Array | Record<string, unknown> | null;
/** A token, or a function producing one for each (re)connect, e.g. to refresh a credential. */
export type Token = TokenValue | (() => TokenValue | Promise<TokenValue>);

const BIGINT_MARK = '\u0000bigint:';

/** JSON text of a token; bigint values (mids beyond 2^53) are written as plain integers. */
export function stringifyToken(token: unknown): string {
  const json = JSON.stringify(token, (_key, v: unknown) => (typeof v === 'bigint' ? BIGINT_MARK + v.toString() : v));
  return json.replace(/"\\u0000bigint:(-?\d+)"/g, '$1');
}
