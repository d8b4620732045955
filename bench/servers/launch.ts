import { launchBaseline } from './baseline.js';
import type { RunningServer, ServerKind, ServerOptions } from './server.js';
import { launchTsimCluster } from './tsim-cluster.js';
import { launchTsim } from './tsim.js';

/** Starts the server of `kind` in child processes and waits until it accepts clients. */
export function launchServer(kind: ServerKind, opts: ServerOptions): Promise<RunningServer> {
  switch (kind) {
    case 'tsim':
      return launchTsim(opts);
    case 'tsim-cluster':
      return launchTsimCluster(opts);
    default:
      return launchBaseline(kind, opts);
  }
}
