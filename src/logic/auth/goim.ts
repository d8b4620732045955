// auth.mode = "goim": goim's behaviour. The JSON token is trusted as it is — any client may
// claim any mid, key and room — so this mode suits the demo, tests and migrations behind a
// trusted gateway, not a server open to the internet.
import type { ConnectRequest } from '../../ports/index.js';
import { parseToken, TokenError } from '../../protocol/token.js';
import type { AuthResult, Authenticator } from './authenticator.js';

export class GoimAuthenticator implements Authenticator {
  authenticate(req: ConnectRequest): Promise<AuthResult> {
    try {
      const t = parseToken(req.token);
      return Promise.resolve({
        ok: true,
        mid: t.mid,
        key: t.key,
        roomId: t.roomId,
        accepts: t.accepts,
        ...(t.history !== undefined ? { history: t.history } : {}),
        ...(t.inbox === true ? { inbox: true } : {}),
      });
    } catch (err) {
      if (!(err instanceof TokenError)) return Promise.reject(err);
      // connect keeps rejecting with goim's TokenError and message.
      return Promise.resolve({ ok: false, reason: 'malformed', message: err.message, error: err });
    }
  }
}
