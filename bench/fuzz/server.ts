// The server under fuzz: tsim embedded in its own process (the fuzzer must not share its
// heap or event loop). Config as JSON in argv[2]. IPC: → {ready, tcp, ws, http} once
// listening; "measure" → process.memoryUsage() (heap after a full GC when --expose-gc).
// Stops gracefully on SIGTERM (exit code 0), as `tsim start` does.
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded } from '../../src/embedded.js';
import { createLogger } from '../../src/log.js';
import { exitOnSignal } from '../../src/shutdown.js';

const config = buildConfig(JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>);
const log = createLogger(config.log.level);
const tsim = await startEmbedded(config, log);
exitOnSignal(log, () => tsim.stop());

process.on('message', (m: unknown) => {
  if (m !== 'measure') return;
  const rss = process.memoryUsage.rss();
  (globalThis as { gc?: () => void }).gc?.();
  const u = process.memoryUsage();
  process.send?.({ rss, heapUsed: u.heapUsed, external: u.external });
});
// The fuzzer went away without stopping us: do not outlive it.
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));

const a = tsim.addresses();
process.send?.({ ready: true, tcp: a.tcp[0].port, ws: a.ws[0].port, http: a.http.port });
