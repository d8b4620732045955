// Binding a node server to a goim-style listen address, with errors that say which.
import type { AddressInfo, Server } from 'node:net';
import { parseListen } from '../config/listen.js';
import type { Logger } from '../log.js';
import { Limit, type LimitLog } from './limit-log.js';

/**
 * Binds `server`. `backlog`: connections the kernel completes before they are accepted (it caps
 * it at net.core.somaxconn); node's default of 511 drops the SYNs of a reconnect storm, which
 * clients then retry after 1, 3, 7 s.
 */
export function listen(server: Server, bind: string, what: string, backlog: number): Promise<AddressInfo> {
  const { host, port } = parseListen(bind);
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`comet: cannot listen for ${what} on ${bind}: ${err.message}`));
    server.once('error', onError);
    server.listen({ host, port, backlog }, () => {
      server.removeListener('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting; resolves once every connection the server accepted has closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/** Accept errors that mean the process (EMFILE) or the system (ENFILE) has no descriptor left. */
export function isFdExhaustion(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * A listener's 'error' after it is bound: an accept that failed. Running out of file
 * descriptors is counted and logged at most every 10 s (limit `file_descriptors`); libuv
 * usually hides it by closing the connection with a spare descriptor, which the probe in
 * process-fds.ts catches instead (docs/operations.md#file-descriptors).
 */
export function onListenerError(err: Error, bind: string, what: string, to: { limits: LimitLog; log: Logger }): void {
  if (isFdExhaustion(err)) to.limits.hit(Limit.FileDescriptors, { code: (err as NodeJS.ErrnoException).code, listener: `${what} ${bind}` });
  else to.log.error({ err: err.message, bind }, `comet: ${what} listener error`);
}
