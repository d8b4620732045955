// The `[inbox]` delivery keys for the roles (docs/configuration.md#inbox--durable-inbox-logic-comet):
// logic decides which pushes are durable and where new devices start, comet pages backlogs
// and holds live messages.
import type { CometInboxSettings } from '../comet/comet.js';
import type { InboxSettings } from '../logic/inbox.js';
import type { Config } from './schema.js';

export function logicInboxSettings(config: Config): InboxSettings {
  const { inbox } = config;
  return { durableOps: [...inbox.durableOps], newDeviceRecent: inbox.newDeviceRecent };
}

export function cometInboxSettings(config: Config): CometInboxSettings {
  const { inbox } = config;
  return { pageMessages: inbox.pageMessages, pageBytes: inbox.pageBytes, holdMessages: inbox.holdMessages, holdBytes: inbox.holdBytes };
}
