// Preloaded (--import) into a tsim server started by the benchmark. It adds nothing to
// the server's work: it answers a "gc" request over the IPC channel (for idle-memory
// figures after a full collection) and ends the server if the benchmark process dies.
//
// The collection is V8's "last resort" one: a plain gc() frees the garbage but keeps the
// pages it lived on mapped for reuse, so RSS stays where the peak left it; the last-resort
// collection also gives those pages back to the system, leaving what the live objects use.
//
// node:cluster workers (a comet with comet.workers > 1) inherit the primary's execArgv, so
// they load this module too: the primary passes a "gc" request on to every worker over the
// cluster channel and answers once they all did (or after WORKER_WAIT_MS).
import cluster, { type Worker } from 'node:cluster';

type GcOptions = { type: 'major'; execution: 'sync'; flavor: 'last-resort' };
const gc = (globalThis as { gc?: (o?: GcOptions) => void }).gc;
const WORKER_WAIT_MS = 5000;

interface GcMessage {
  t?: string;
}

function collect(): void {
  gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/** Asks one worker to collect; resolves with whether it answered in time. */
function workerGc(w: Worker): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('exit', onExit);
      resolve(ok);
    };
    const onMessage = (m: GcMessage) => {
      if (m?.t === 'gc') done(true);
    };
    const onExit = () => done(false);
    const timer = setTimeout(() => done(false), WORKER_WAIT_MS);
    w.on('message', onMessage);
    w.once('exit', onExit);
    try {
      w.send({ t: 'gc' });
    } catch {
      done(false);
    }
  });
}

if (process.send !== undefined && cluster.isPrimary) {
  process.on('message', (m: GcMessage) => {
    if (m?.t !== 'gc') return;
    collect();
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    void Promise.all(workers.map(workerGc)).then((answers) => {
      process.send?.({ t: 'gc', workers: answers.length, collected: answers.filter(Boolean).length });
    });
  });
  process.on('disconnect', () => process.exit(1));
} else if (cluster.isWorker) {
  process.on('message', (m: GcMessage) => {
    if (m?.t !== 'gc') return;
    collect();
    process.send?.({ t: 'gc' });
  });
}
