// gRPC addresses in the registry: the "host:port" to dial for a registered instance, and the
// one to register for a listener (docs/internal-protocol.md, "Registry entries").
import { networkInterfaces } from 'node:os';

/**
 * The "host:port" of an instance's `grpc://` address (goim registers exactly one), or
 * undefined. A bare "host:port" is taken as it is.
 */
export function grpcTarget(addrs: readonly string[]): string | undefined {
  for (const a of addrs) {
    if (a.startsWith('grpc://')) return a.slice('grpc://'.length).replace(/\/+$/, '');
  }
  for (const a of addrs) {
    if (!a.includes('://') && a.includes(':')) return a;
  }
  return undefined;
}

/**
 * The address others should dial for a server listening on `host:port`: the host when the
 * listener is bound to one, else the first IPv4 of an up, non-loopback interface whose name
 * does not start with "lo" (goim's rule), else 127.0.0.1.
 */
export function advertisedAddr(host: string | undefined, port: number): string {
  if (host !== undefined && host !== '0.0.0.0' && host !== '::') {
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name.startsWith('lo')) continue;
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return `${a.address}:${port}`;
  }
  return `127.0.0.1:${port}`;
}
