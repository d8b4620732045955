import { launchBaseline } from './baseline.js';
import type { PushMode, RunningServer, ServerKind, ServerOptions } from './server.js';
import { launchTsimCluster } from './tsim-cluster.js';
import { launchTsim } from './tsim.js';

/**
 * Why `kind` cannot push the way `push` asks, or null when it can. Only tsim-cluster has a
 * queue and comets outside the server's processes: embedded tsim's are in its own process,
 * and the baselines push from inside themselves (neither HTTP, a queue nor gRPC).
 */
export function pushModeProblem(kind: ServerKind, push: PushMode | undefined): string | null {
  // The baselines write batches from inside themselves, stamped at the write, whatever the
  // mode: a fair reference for calls into the comet, which are stamped at the call too.
  if ((push ?? 'http') === 'http' || kind === 'tsim-cluster' || (push === 'comet' && kind !== 'tsim')) return null;
  return kind === 'tsim'
    ? `--push ${push} needs --server tsim-cluster: ${push === 'queue' ? "embedded tsim's queue is in memory inside its process" : 'embedded tsim serves no comet gRPC'}`
    : `--push ${push} is for --server tsim-cluster only: the ${kind} baseline has no queue (add --baseline none)`;
}

/** Starts the server of `kind` in child processes and waits until it accepts clients. */
export function launchServer(kind: ServerKind, opts: ServerOptions): Promise<RunningServer> {
  const problem = pushModeProblem(kind, opts.push);
  if (problem) return Promise.reject(new Error(problem));
  switch (kind) {
    case 'tsim':
      return launchTsim(opts);
    case 'tsim-cluster':
      return launchTsimCluster(opts);
    default:
      return launchBaseline(kind, opts);
  }
}
