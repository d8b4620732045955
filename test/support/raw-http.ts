// Raw TCP clients of an HTTP server, for tests that must send what no HTTP client sends:
// pipelined requests in one write, headers that never end, sockets that never read.
import { connect, type Socket } from 'node:net';

export interface RawHttp {
  socket: Socket;
  /** What the server sent so far (latin1). */
  received(): string;
  /** Resolves once the server closed the socket; rejects if it is still open `ms` after the call. */
  closed(what: string, ms?: number): Promise<void>;
}

/** Connects to 127.0.0.1:`port`, from `localAddress` when given (any 127.x.y.z works on Linux). */
export function rawHttp(port: number, localAddress?: string): Promise<RawHttp> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const done = new Promise<void>((r) => socket.once('close', () => r()));
    const closed = (what: string, ms = 15_000): Promise<void> =>
      new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`${what}: still open after ${ms} ms (received ${text.length} bytes)`)), ms);
        void done.then(() => {
          clearTimeout(t);
          res();
        });
      });
    socket.once('connect', () => {
      socket.on('error', () => {});
      resolve({ socket, received: () => text, closed });
    });
    socket.once('error', reject);
  });
}

/** `n` copies of a bodiless request, as one pipelined chunk. */
export function pipelined(n: number, path: string, headers = 'Host: 127.0.0.1\r\n'): string {
  return `GET ${path} HTTP/1.1\r\n${headers}\r\n`.repeat(n);
}

/** A socket that never reads: it stops taking bytes once its receive buffer is full. */
export function neverRead(c: RawHttp): void {
  c.socket.pause();
}
