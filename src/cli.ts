// `tsim` command line: embedded mode (`start`) and, in distributed mode, one role per process.
// What a command runs is imported when it runs (see distributed/commands.ts).
import { Command } from 'commander';
import { registerRoleCommands } from './distributed/commands.js';
import { fail, prepare, withConfigOptions, type CommonOptions } from './cli-common.js';
import { showAddress } from './config/listen.js';
import { exitOnSignal } from './shutdown.js';

const program = new Command()
  .name('tsim')
  .description('goim-compatible push and chat server: comet (client connections), logic (HTTP API), job (fan-out)')
  .showHelpAfterError();

withConfigOptions(
  program.command('start', { isDefault: true }).description('run comet, logic and job in one process on in-memory adapters (no outside services)'),
).action(async (opts: CommonOptions) => {
  try {
    const { config, log } = await prepare(opts);
    const { startEmbedded } = await import('./embedded.js');
    const tsim = await startEmbedded(config, log);
    const a = tsim.addresses();
    log.info(
      {
        tcp: a.tcp.map(showAddress),
        websocket: a.ws.map((x) => `${showAddress(x)}/sub`),
        http: showAddress(a.http),
      },
      'tsim started (embedded mode)',
    );
    exitOnSignal(log, () => tsim.stop());
  } catch (err) {
    fail('tsim', err);
  }
});

registerRoleCommands(program);

program
  .command('status')
  .description("print the cluster's nodes and totals, from a logic's operations console (docs/operations.md#tsim-status)")
  .option('--url <url>', "logic's HTTP address", 'http://127.0.0.1:3111')
  .option('--key <key>', 'an admin key (admin.keys); default: the TSIM_ADMIN_KEY environment variable')
  .option('--timeout <ms>', 'give up after this long', (v) => Number(v), 5000)
  .option('--json', 'print the overview as JSON')
  .action(async (opts: { url: string; key?: string; timeout: number; json?: boolean }) => {
    const { fetchOverview, formatStatus, StatusError } = await import('./status.js');
    try {
      const timeoutMs = Number.isFinite(opts.timeout) && opts.timeout > 0 ? Math.min(opts.timeout, 600_000) : 5000;
      const key = opts.key ?? (process.env.TSIM_ADMIN_KEY?.trim() || undefined);
      const o = await fetchOverview({ url: opts.url, key, timeoutMs });
      process.stdout.write(opts.json ? `${JSON.stringify(o, null, 2)}\n` : formatStatus(o, opts.url));
    } catch (err) {
      if (!(err instanceof StatusError)) throw err;
      console.error(`tsim status: ${err.message}`);
      process.exitCode = 1;
    }
  });

await program.parseAsync(process.argv);
