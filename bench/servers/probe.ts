// Preloaded (--import) into a tsim server started by the benchmark. It adds nothing to
// the server's work: it answers a "gc" request over the IPC channel (for idle-memory
// figures after a full collection) and ends the server if the benchmark process dies.
import cluster from 'node:cluster';

const gc = (globalThis as { gc?: () => void }).gc;

if (process.send !== undefined && cluster.isPrimary) {
  process.on('message', (m: { t?: string }) => {
    if (m?.t !== 'gc') return;
    gc?.();
    gc?.();
    process.send!({ t: 'gc' });
  });
  process.on('disconnect', () => process.exit(1));
}
