// Noticing that the process has no file descriptor left (docs/operations.md#file-descriptors).
//
// When accept() fails with EMFILE, libuv closes a spare descriptor it keeps for this,
// accepts the waiting connections and closes them at once, and reports nothing to Node:
// clients are dropped and no listener emits an error. The only trace is that the process
// cannot open anything else either, which this probe checks every second.
import { Limit, LimitLog } from './comet/limit-log.js';
import { fdAvailable, fdLimit } from './file-descriptors.js';
import type { Logger } from './log.js';
import type { LimitHits } from './metrics/limit-hits.js';

const PROBE_EVERY_MS = 1000;

interface Probe {
  users: number;
  timer: NodeJS.Timeout;
}

/** One probe per counter set (one per process outside tests): the comet and the HTTP API share it. */
const probes = new Map<object, Probe>();
const UNCOUNTED = {};

/**
 * Checks every second that a descriptor can be opened; each failed check is a hit of limit
 * `file_descriptors` (tsim_limit_hits_total), logged at most every 10 s. Returns the
 * release function; the probe stops when its last user releases it.
 */
export function watchFds(hits: LimitHits | undefined, log: Logger): () => void {
  const key = hits ?? UNCOUNTED;
  let probe = probes.get(key);
  if (probe === undefined) {
    const limits = new LimitLog(hits, log, 'process');
    const limit = fdLimit();
    const timer = setInterval(() => {
      if (!fdAvailable()) {
        limits.hit(Limit.FileDescriptors, { fdLimit: limit, effect: 'no free file descriptor: new connections are closed unanswered' });
      }
    }, PROBE_EVERY_MS);
    timer.unref();
    probe = { users: 0, timer };
    probes.set(key, probe);
  }
  probe.users++;
  const p = probe;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--p.users === 0) {
      clearInterval(p.timer);
      probes.delete(key);
    }
  };
}
