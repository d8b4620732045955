// What a client hands to its listeners: pushed messages and connection events.

import { type ClientFrame, text } from './codec.js';
import type { InboxEvents } from './inbox.js';
import type { RoomStateEvent } from './room-history.js';

/** A frame pushed by the server (or any frame that is not a reply to this client). */
export class PushMessage implements ClientFrame {
  constructor(
    readonly op: number,
    readonly body: Uint8Array,
    readonly ver = 1,
    readonly seq = 0,
    /** The message's offset in its room's history (docs/history.md), 0 when it has none or the client did not opt in. */
    readonly offset = 0,
    /**
     * The room it was sent to, once the client joined extra rooms (docs/protocol.md#several-rooms),
     * and with history for a message with an offset (docs/client.md#several-rooms); '' otherwise.
     */
    readonly room = '',
  ) {}

  /** The body as UTF-8 text. */
  text(): string {
    return text(this.body);
  }

  /** The body parsed as JSON (throws when it is not JSON). */
  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }
}

export interface OpenEvent {
  url: string;
  /** 0 for the first connection, n for the n-th consecutive retry. */
  attempt: number;
}

export interface AuthEvent {
  url: string;
}

export interface CloseEvent {
  url: string;
  reason: string;
  /** WebSocket close code, when there was one. */
  code?: number;
  /** Whether this connection had been authenticated (op 8 received). */
  authenticated: boolean;
  willReconnect: boolean;
  /** Delay before the next attempt, when willReconnect. */
  delayMs?: number;
}

export interface ClientEvents extends InboxEvents {
  /** Op 18 (clients with `history`): the history state of one of the client's rooms (`room`) at a join, or a new epoch. */
  roomState: RoomStateEvent;
  /** In `room`, a join could not replay what was missed (gap too large, new epoch, …) or a gap did not fill: page the HTTP history API from `missedFrom`. */
  notRecovered: RoomStateEvent;
  /** The transport is open and the auth frame has been sent. */
  open: OpenEvent;
  /** The server accepted the token (op 8); heartbeats have started. */
  auth: AuthEvent;
  message: PushMessage;
  /** Room online count from a heartbeat reply (op 3). */
  online: number;
  close: CloseEvent;
  error: Error;
}
