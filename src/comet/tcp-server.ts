// Raw TCP listener (spec §2.2): a byte stream of goim frames per connection.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../log.js';
import { FrameError, FrameReader, type Frame } from '../protocol/frame.js';
import type { Connection } from './connection.js';
import { closeServer, listen } from './listener.js';

export interface TransportHooks {
  /** Creates and tracks the connection for a new socket; null when the socket is unusable. */
  accept(socket: Socket, isWs: boolean): Connection | null;
  /** A decoded client frame. */
  onFrame(c: Connection, f: Frame): void;
  log: Logger;
  maxBody: number;
}

export class TcpServer {
  private readonly server: Server;
  private bound: AddressInfo | undefined;

  constructor(
    private readonly bind: string,
    private readonly hooks: TransportHooks,
  ) {
    this.server = createServer((socket) => this.onConnection(socket));
    this.server.on('error', (err) => hooks.log.error({ err: err.message, bind }, 'comet: tcp listener error'));
  }

  async listen(): Promise<void> {
    this.bound = await listen(this.server, this.bind, 'tcp');
  }

  address(): AddressInfo | undefined {
    return this.bound;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private onConnection(socket: Socket): void {
    const { hooks } = this;
    const c = hooks.accept(socket, false);
    if (c === null) return;
    const reader = new FrameReader(hooks.maxBody);
    const onFrame = (f: Frame): void => {
      if (c.open) hooks.onFrame(c, f);
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk, onFrame);
      } catch (err) {
        if (err instanceof FrameError) {
          c.close(`bad frame: ${err.message}`, 'info');
        } else {
          hooks.log.error({ err, remote: c.remote, key: c.key }, 'comet: frame handling failed');
          c.close('internal error', 'warn');
        }
      }
    });
  }
}
