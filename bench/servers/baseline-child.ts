// The IPC side shared by the baseline servers (raw-net, socket.io), which run in a child
// process of their own: report the port, count clients, collect garbage, and write
// stamped messages at a fixed rate when told to.
import { exitWithParent } from '../run/children.js';
import { every } from '../run/schedule.js';

export type BaselineCommand = { t: 'run'; ticksPerSec: number; durationMs: number; batch: number; bodySize: number } | { t: 'gc' } | { t: 'count' };

export type BaselineReply = { t: 'ready'; port: number } | { t: 'ran'; ticks: number } | { t: 'gc' } | { t: 'count'; n: number };

export interface BaselineServer {
  /** Clients held now. */
  count(): number;
  /** One write of `batch` messages stamped now to every client (socket.io: `batch` emits). */
  tick(batch: number, bodySize: number): void;
}

const gc = (globalThis as { gc?: () => void }).gc;

export function serveBaseline(port: number, server: BaselineServer): void {
  const send = (m: BaselineReply) => process.send!(m);
  process.on('message', (m: BaselineCommand) => {
    switch (m.t) {
      case 'run': {
        const s = every(m.ticksPerSec, m.durationMs, () => server.tick(m.batch, m.bodySize));
        void s.done.then((ticks) => send({ t: 'ran', ticks })); // done only resolves
        break;
      }
      case 'gc':
        gc?.();
        gc?.();
        send({ t: 'gc' });
        break;
      case 'count':
        send({ t: 'count', n: server.count() });
        break;
    }
  });
  process.on('SIGTERM', () => process.exit(0));
  exitWithParent();
  send({ t: 'ready', port });
}
