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

await program.parseAsync(process.argv);
