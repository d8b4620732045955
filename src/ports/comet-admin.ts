// logic → comet for the operations console: where a user's connections are and how they are
// connected, and closing one. Embedded: a direct call to the comet (embedded.ts); distributed:
// tsim.comet.Admin over gRPC (adapters/grpc/comet-admin-client.ts).

/** Bounds of a lookup (docs/security.md#operations-console). */
export const CONNECTION_INFO_MAX = 100;
export const CONNECTION_ROOMS_MAX = 32;

/** One connection as its comet sees it. */
export interface ConnectionInfo {
  key: string;
  /** The user id, as a decimal string (an int64). */
  mid: string;
  /** The comet's server id. */
  comet: string;
  /** Client address and port. */
  remote: string;
  /** The room it joined and, with op 19, the others. */
  rooms: string[];
  /** When the socket was accepted, ms since the epoch. */
  since: number;
  transport: 'tcp' | 'websocket';
  tls: boolean;
}

export interface CometAdmin {
  connectionInfo(keys: readonly string[]): Promise<ConnectionInfo[]>;
  /** Closes the connection with `key`; false when the comet has none. */
  disconnect(key: string): Promise<boolean>;
  /** Up to `limit` (at most CONNECTION_INFO_MAX) of a room's members on the comet, and how many it has there. */
  roomMembers(room: string, limit: number): Promise<{ connections: ConnectionInfo[]; total: number }>;
}

/** The console's line to the comet with this server id; undefined when there is none. */
export type CometAdminDialer = (server: string) => CometAdmin | undefined;
