// Builds the authenticator `auth.mode` names. Called by the wiring at start-up: configuration
// errors (no key for an algorithm, no webhook URL, unreadable key file) throw here.
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import type { Authenticator } from './authenticator.js';
import { GoimAuthenticator } from './goim.js';
import { JwtAuthenticator } from './jwt.js';
import { WebhookAuthenticator } from './webhook.js';

export function createAuthenticator(auth: Config['auth'], log: Logger): Authenticator {
  switch (auth.mode) {
    case 'goim':
      return new GoimAuthenticator();
    case 'jwt':
      return new JwtAuthenticator(auth.jwt, log);
    case 'webhook':
      return new WebhookAuthenticator(auth.webhook, log);
  }
}
