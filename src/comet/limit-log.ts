// Limit names and the rate-limited log of refusals: every hit of a limit is counted by name
// (tsim_limit_hits_total), and logged at most once per limit every 10 s with the hits since
// the last line, so a flood of refused sockets or requests does not become a flood of log
// lines (docs/operations.md). Comet, logic's HTTP API and the descriptor probe report here.
import type { Logger } from '../log.js';
import type { LimitHits } from '../metrics/limit-hits.js';
import { systemClock, type Clock } from '../lib/clock.js';

/** Names under which refusals are counted. */
export const Limit = {
  Connections: 'connections',
  ConnectionsPerIp: 'connections_per_ip',
  NewConnectionsRate: 'new_connections_rate',
  UpstreamFrameRate: 'upstream_frame_rate',
  /** A client frame over protocol.maxBody. */
  ClientFrameSize: 'client_frame_size',
  /** A connection that would watch more than limits.maxAccepts ops (closed). */
  Accepts: 'accepts',
  /** Op 12 to a room other than the one the auth mode granted (refused, connection kept). */
  RoomNotGranted: 'room_not_granted',
  /** Op 19 past limits.maxRooms (refused, connection kept). */
  Rooms: 'rooms',
  /** Op 19 (or a multi-room op 12) seating a room past limits.maxCometRooms on this comet (refused, connection kept). */
  CometRooms: 'comet_rooms',
  /** An op-19 or op-21 body that is no valid room request, or a join asking for history without having opted in (refused, connection kept). */
  RoomRequest: 'room_request',
  /** Op 14 naming ops the auth mode did not grant (those ops ignored, connection kept). */
  AcceptsNotGranted: 'accepts_not_granted',
  /** A TLS handshake not finished within protocol.handshakeTimeout of accept (socket closed). */
  TlsHandshakeTimeout: 'tls_handshake_timeout',
  /** No free file descriptor: an accept failed with EMFILE/ENFILE, or the periodic probe found none. */
  FileDescriptors: 'file_descriptors',
  /** HTTP API connections over httpServer.maxConnections (closed at accept). */
  HttpConnections: 'http_connections',
  /** HTTP connections of one IP over httpServer.maxConnectionsPerIp (closed at accept). */
  HttpConnectionsPerIp: 'http_connections_per_ip',
  /** An HTTP connection with more than httpServer.maxPipelined requests unanswered (closed). */
  HttpPipelined: 'http_pipelined',
  /** HTTP API requests not received in full within httpServer.headersTimeout / requestTimeout. */
  HttpRequestTimeout: 'http_request_timeout',
  /** Keyless HTTP API requests refused for a cross-site Origin or an unknown Host. */
  HttpOrigin: 'http_origin',
  /** Broadcasts sent unthrottled because push.maxThrottled throttled walks were running. */
  ThrottledBroadcasts: 'throttled_broadcasts',
  /** Push calls carrying a push bigger than protocol.sendQueueBytes (dropped). */
  PushTooLarge: 'push_too_large',
  /** Live room bytes held for a joining connection while its history is read, past the bound (replay given up). */
  ReplayHold: 'replay_hold',
  /** An op-12 JSON body that is not a valid room and history request (refused, connection kept). */
  HistoryRequest: 'history_request',
  /** A handshake finding limits.connectQueue handshakes already waiting for a call to logic (connection closed). */
  ConnectQueue: 'connect_queue',
  /** An op 24 (inbox ack) or 26 (inbox fetch) refused: malformed, above what was delivered, another user's, busy, storage down (connection kept). */
  InboxRefused: 'inbox_refused',
  /** A Disconnect call finding limits.disconnectQueue calls already waiting (not made: the routing lapses with redis.expire). */
  DisconnectQueue: 'disconnect_queue',
} as const;
export type LimitName = (typeof Limit)[keyof typeof Limit];

const LOG_EVERY_MS = 10_000;

/** Counts each hit and writes one warning per limit per 10 s with the hits since the last. */
export class LimitLog {
  private readonly unlogged = new Map<string, number>();
  private readonly lastLog = new Map<string, number>();

  constructor(
    private readonly hits: LimitHits | undefined,
    private readonly log: Logger,
    /** Who reports, as the log line's prefix. */
    private readonly role = 'comet',
    private readonly clock: Clock = systemClock,
  ) {}

  hit(limit: LimitName, detail: Record<string, unknown>): void {
    this.hits?.hit(limit);
    const n = (this.unlogged.get(limit) ?? 0) + 1;
    const t = this.clock.now();
    if (t - (this.lastLog.get(limit) ?? -Infinity) < LOG_EVERY_MS) {
      this.unlogged.set(limit, n);
      return;
    }
    this.lastLog.set(limit, t);
    this.unlogged.set(limit, 0);
    this.log.warn({ limit, hits: n, ...detail }, `${this.role}: limit ${limit} reached`);
  }
}
