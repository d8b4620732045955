// A plain TCP socket to a listener under test, and waiting for the server to close it.
import { connect, type Socket } from 'node:net';

/** A connected socket to 127.0.0.1:`port`, from `localAddress` when given. */
export function rawSocket(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Resolves when the server closed `s`. With `waitMs`, rejects (naming `what`) if it is still
 * open that long after the call: for deadlines, where "never closed" is the failure.
 */
export function closedByServer(s: Socket, what = 'socket', waitMs?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    s.on('error', () => {});
    if (s.destroyed) return resolve();
    const t = waitMs === undefined ? undefined : setTimeout(() => reject(new Error(`${what}: still open ${waitMs} ms after connecting`)), waitMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
