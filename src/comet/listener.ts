// Binding a node server to a goim-style listen address, with errors that say which.
import type { AddressInfo, Server } from 'node:net';
import { parseListen } from '../config/listen.js';

export function listen(server: Server, bind: string, what: string): Promise<AddressInfo> {
  const { host, port } = parseListen(bind);
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`comet: cannot listen for ${what} on ${bind}: ${err.message}`));
    server.once('error', onError);
    server.listen({ host, port }, () => {
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
