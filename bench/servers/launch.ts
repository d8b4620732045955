import { launchBaseline } from './baseline.js';
import type { RunningServer, ServerKind, ServerOptions } from './server.js';
import { launchTsim } from './tsim.js';

/** Starts the server of `kind` in a child process and waits until it accepts clients. */
export function launchServer(kind: ServerKind, opts: ServerOptions): Promise<RunningServer> {
  return kind === 'tsim' ? launchTsim(opts) : launchBaseline(kind, opts);
}
