import type { AddressInfo } from 'node:net';

// Listen addresses in goim's style: ":3101" (all interfaces), "127.0.0.1:3101", "[::1]:3101".

export interface ListenAddress {
  /** undefined = all interfaces (IPv4 and IPv6). */
  host: string | undefined;
  port: number;
}

export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new Error(`invalid listen address "${text}" (use ":3101", "127.0.0.1:3101" or "[::1]:3101")`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port in "${text}"`);
  const host = m[1] ?? m[2];
  return { host: host === '' ? undefined : host, port };
}

export function formatListen(a: ListenAddress): string {
  if (a.host === undefined) return `:${a.port}`;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A bound address as goim writes it: "127.0.0.1:3101", ":3101" for every interface, "[::1]:3101". */
export function showAddress(a: AddressInfo): string {
  const any = a.address === '::' || a.address === '0.0.0.0';
  return formatListen({ host: any ? undefined : a.address, port: a.port });
}
