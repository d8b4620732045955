import type { ClientTarget, Transport } from './server.js';

/** The room every benchmark client joins and every push targets. */
export const BENCH_ROOM = { type: 'bench', id: '1', key: 'bench://1' };
/** Operation of the pushed messages; clients list it in their accepts. */
export const BENCH_OP = 1000;

/** What tsim's load clients connect to: goim auth into BENCH_ROOM on the TCP or WebSocket port. */
export function tsimClientTarget(transport: Transport, ports: { tcp: number; ws: number }): ClientTarget {
  return {
    kind: transport,
    host: '127.0.0.1',
    port: transport === 'tcp' ? ports.tcp : ports.ws,
    path: '/sub',
    auth: true,
    room: BENCH_ROOM.key,
  };
}
