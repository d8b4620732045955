// Limits every HTTP listener of tsim applies on top of Node's (logic's API and the metrics
// listener of a distributed comet or job; docs/security.md#http-api): requests in flight per
// connection, and connections per client IP.
//
// Node parses every request of a chunk it read and emits each at once, even while the
// answers to the earlier ones cannot be written (a client that pipelines and never reads):
// 64 KB of `GET /metrics` is 1,800 requests, each answered into memory. Node stops reading a
// socket whose writes back up only once the chunk in hand is parsed, so a cap on the
// requests a connection has unanswered is what bounds it: past it the connection is cut,
// and what is left of the chunk is not parsed.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { clientIp } from './comet/connection.js';
import { Limit, type LimitLog } from './comet/limit-log.js';

export interface HttpLimitSettings {
  /** Requests one connection may have received and not yet answered (flushed); 0 = unlimited. */
  maxPipelined: number;
  /** Connections one client IP may hold at once; 0 = unlimited. */
  maxConnectionsPerIp: number;
}

/**
 * Node's request timers for a server. Node refuses a header timeout longer than the request
 * timeout, and finds an expired one only at its next connection check: checking four times
 * per shortest timeout answers a late request 408 well before the socket's idle timer
 * (requestTimeout) would drop it unanswered.
 */
export function requestTimers(
  headersTimeoutMs: number,
  requestTimeoutMs: number,
): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
} {
  const headersTimeout = requestTimeoutMs > 0 ? Math.min(headersTimeoutMs, requestTimeoutMs) : headersTimeoutMs;
  const shortest = Math.min(...[headersTimeout, requestTimeoutMs].filter((t) => t > 0), 4000);
  return { headersTimeout, requestTimeout: requestTimeoutMs, connectionsCheckingInterval: Math.max(10, Math.floor(shortest / 4)) };
}

/** Requests received on a socket whose answer is not written out yet. */
const IN_FLIGHT = Symbol('tsim.requestsInFlight');
type CountedSocket = Socket & { [IN_FLIGHT]?: number };

/** llhttp's HPE_PAUSED: returned from a parser callback, it stops the parse of the buffer. */
const HPE_PAUSED = 21;

/**
 * Node offers no way to stop parsing a chunk it has read. Its HTTP parser asks the socket's
 * `parser.onIncoming` what to do with each request (Node internals, not API); answering
 * HPE_PAUSED once the connection is cut stops it, where otherwise the rest of a 64 KB chunk
 * still becomes 1,800 requests and aborts (about 100 ms of the event loop). Where the
 * internal is missing this does nothing: the cap still holds, the chunk is parsed in full.
 */
function stopParsingWhenCut(socket: Socket): void {
  const parser = (socket as Socket & { parser?: { onIncoming?: unknown } }).parser;
  const onIncoming = parser?.onIncoming;
  if (parser === undefined || typeof onIncoming !== 'function') return;
  parser.onIncoming = function (this: unknown, ...args: unknown[]): unknown {
    return socket.destroyed ? HPE_PAUSED : (onIncoming as (...a: unknown[]) => unknown).apply(this, args);
  };
}

/**
 * Applies `settings` to `server`: wraps its 'request' listeners (so call it once they are
 * registered) and watches its connections. Refusals are counted and logged by `limits`
 * (limits `http_pipelined`, `http_connections_per_ip`).
 */
export function applyHttpLimits(server: Server, settings: HttpLimitSettings, limits: LimitLog): void {
  const { maxPipelined, maxConnectionsPerIp } = settings;
  if (maxPipelined > 0) {
    const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const socket = req.socket as CountedSocket;
      // The rest of a chunk parsed after its connection was cut: nobody will read an answer.
      if (socket.destroyed) return;
      const n = (socket[IN_FLIGHT] ?? 0) + 1;
      if (n > maxPipelined) {
        limits.hit(Limit.HttpPipelined, { remote: socket.remoteAddress, maxPipelined });
        socket.destroy();
        return;
      }
      socket[IN_FLIGHT] = n;
      // 'close' follows 'finish' (the answer handed to the kernel) or the connection's end.
      res.once('close', () => {
        socket[IN_FLIGHT]! -= 1;
      });
      for (const handler of handlers) handler.call(server, req, res);
    });
    // After Node's own listener, which gives the socket its parser (a TLS server's: once the
    // handshake is done).
    server.on('connection', stopParsingWhenCut);
    server.on('secureConnection', stopParsingWhenCut);
  }
  if (maxConnectionsPerIp > 0) {
    const perIp = new Map<string, number>();
    server.on('connection', (socket: Socket) => {
      const ip = clientIp(socket.remoteAddress ?? '');
      const n = (perIp.get(ip) ?? 0) + 1;
      if (n > maxConnectionsPerIp) {
        limits.hit(Limit.HttpConnectionsPerIp, { ip, maxConnectionsPerIp });
        socket.destroy();
        return;
      }
      perIp.set(ip, n);
      socket.once('close', () => {
        const left = (perIp.get(ip) ?? 1) - 1;
        if (left > 0) perIp.set(ip, left);
        else perIp.delete(ip);
      });
    });
  }
}
