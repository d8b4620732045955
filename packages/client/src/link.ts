// The seam between the protocol session and a transport (WebSocket or TCP).

import type { ClientFrame } from './codec.js';

/** One open connection, as a transport provides it. */
export interface Link {
  send(bytes: Uint8Array): void;
  /** graceful: let queued bytes go out first; otherwise drop at once. */
  close(graceful: boolean): void;
}

/** What a transport reports about its link. */
export interface LinkEvents {
  opened(): void;
  frame(frame: ClientFrame): void;
  /** The peer sent something that is not goim; the session drops the link. */
  broken(err: Error): void;
  /** A transport error; `closed` follows. */
  failed(err: Error): void;
  closed(reason: string, code?: number): void;
}
