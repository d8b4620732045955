// A tsim embedded server in a child process, for tests that measure its memory without
// the test's own clients in the same heap. The config comes as JSON in argv[2]. Messages:
// parent → child: "measure" (answers {rss, heapUsed, external, arrayBuffers} after a full
// GC when --expose-gc is on), "stop"; child → parent: {ready, tcp, ws, http} once listening.
import { buildConfig } from '../../src/config/load.js';
import { startEmbedded } from '../../src/embedded.js';
import { silentLogger } from '../../src/log.js';

const config = buildConfig(JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>);
const tsim = await startEmbedded(config, silentLogger);
const a = tsim.addresses();
const send = (m: unknown): void => {
  process.send?.(m);
};

process.on('message', (m: unknown) => {
  if (m === 'measure') {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const u = process.memoryUsage();
    send({ rss: u.rss, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers });
  } else if (m === 'stop') {
    void tsim.stop().then(() => process.exit(0));
  }
});
// The parent went away: do not outlive it.
process.on('disconnect', () => void tsim.stop().then(() => process.exit(0)));

send({ ready: true, tcp: a.tcp[0].port, ws: a.ws[0].port, http: a.http.port });
