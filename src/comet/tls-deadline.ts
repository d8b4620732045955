// The TLS handshake of every admitted socket on a TLS listener (tcp.tlsBind, wss) must end
// within protocol.handshakeTimeout, counted from accept, whatever the client sends. Node's
// own `handshakeTimeout` does not do it: it is an idle timer that every byte restarts, and
// when it fires it only emits 'tlsClientError'; a listener on that event (which we need for
// logging) keeps Node from destroying the socket. See docs/security.md#tls.
import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';

export interface TlsHandshakeCounters {
  /** Admitted sockets whose TLS handshake has not finished yet (all TLS listeners). */
  tlsHandshakes?: number;
}

interface Pending {
  raw: Socket;
  timer: NodeJS.Timeout;
  onClose: () => void;
}

/**
 * The raw socket of 'connection' and the TLSSocket of 'secureConnection' are distinct
 * objects with no public link; both report the same endpoints, which identify one TCP
 * connection on one listener.
 */
function endpoints(s: Socket): string | undefined {
  const { remoteAddress, remotePort, localAddress } = s;
  if (remoteAddress === undefined || remotePort === undefined) return undefined;
  return `${remoteAddress} ${remotePort} ${localAddress ?? ''}`;
}

export class TlsHandshakes {
  private readonly pending = new Map<string, Pending>();

  constructor(
    server: TlsServer,
    private readonly timeoutMs: number,
    private readonly counters: TlsHandshakeCounters,
    /** A socket cut at the deadline, or by Node's idle timer first (counted and logged by the caller). */
    private readonly timedOut: (socket: Socket) => void,
    log: Logger,
    bind: string,
  ) {
    // A failed handshake (or Node's idle timeout) ends the socket: nothing else would.
    // First, before https's own listener destroys the socket (its address is then unknown).
    server.prependListener('tlsClientError', (err, socket) => {
      const idle = (err as NodeJS.ErrnoException).code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
      if (!idle) log.debug({ err: err.message, remote: socket.remoteAddress, bind }, 'comet: tls handshake failed');
      if (idle) this.expire(socket); // before destroy(): the address is still known
      socket.destroy();
    });
  }

  /** Starts the deadline of an admitted socket (the server's 'connection' event). */
  start(raw: Socket): void {
    const key = endpoints(raw);
    if (key === undefined) {
      raw.destroy(); // already reset by the peer
      return;
    }
    const entry: Pending = {
      raw,
      timer: setTimeout(() => {
        this.finish(key, entry);
        this.timedOut(raw);
        raw.destroy();
      }, this.timeoutMs),
      onClose: () => this.finish(key, entry),
    };
    this.pending.set(key, entry);
    this.counters.tlsHandshakes = (this.counters.tlsHandshakes ?? 0) + 1;
    raw.on('close', entry.onClose);
  }

  /** The handshake of `socket` finished ('secureConnection'): its deadline is lifted. */
  done(socket: TLSSocket): void {
    const key = endpoints(socket);
    const entry = key === undefined ? undefined : this.pending.get(key);
    if (entry !== undefined) this.finish(key!, entry);
  }

  /** Node's idle timer fired first: the same cut, counted once. */
  private expire(socket: Socket): void {
    const key = endpoints(socket);
    const entry = key === undefined ? undefined : this.pending.get(key);
    if (entry === undefined) return;
    this.finish(key!, entry);
    this.timedOut(socket);
  }

  private finish(key: string, entry: Pending): void {
    if (this.pending.get(key) !== entry) return;
    this.pending.delete(key);
    clearTimeout(entry.timer);
    entry.raw.removeListener('close', entry.onClose);
    this.counters.tlsHandshakes = (this.counters.tlsHandshakes ?? 1) - 1;
  }
}
