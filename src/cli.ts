// `tsim` command line: embedded mode (`start`) and, in distributed mode, one role per process.
import { Command, Option } from 'commander';
import { ConfigError, loadConfig } from './config/load.js';
import { formatListen } from './config/listen.js';
import type { Config } from './config/schema.js';
import { startEmbedded } from './embedded.js';
import { createLogger, type Logger } from './log.js';
import { exitOnSignal } from './shutdown.js';

interface CommonOptions {
  config?: string;
  logLevel?: string;
}

const configOption = () => new Option('-c, --config <file>', 'TOML configuration file (docs/configuration.md)');
const logLevelOption = () =>
  new Option('--log-level <level>', 'override log.level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

async function prepare(opts: CommonOptions): Promise<{ config: Config; log: Logger }> {
  const config = await loadConfig(opts.config);
  if (opts.logLevel) config.log.level = opts.logLevel as Config['log']['level'];
  return { config, log: createLogger(config.log.level) };
}

function fail(err: unknown): never {
  if (err instanceof ConfigError) console.error(`tsim: ${err.message}`);
  else console.error('tsim: failed to start:', err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
}

const program = new Command()
  .name('tsim')
  .description('goim-compatible push and chat server: comet (client connections), logic (HTTP API), job (fan-out)')
  .showHelpAfterError();

program
  .command('start', { isDefault: true })
  .description('run comet, logic and job in one process on in-memory adapters (no outside services)')
  .addOption(configOption())
  .addOption(logLevelOption())
  .action(async (opts: CommonOptions) => {
    try {
      const { config, log } = await prepare(opts);
      const tsim = await startEmbedded(config, log);
      const a = tsim.addresses();
      const show = (x: { address: string; port: number }) => formatListen({ host: x.address === '::' ? undefined : x.address, port: x.port });
      log.info(
        {
          tcp: a.tcp.map(show),
          websocket: a.ws.map((x) => `${show(x)}/sub`),
          http: show(a.http),
        },
        'tsim started (embedded mode)',
      );
      exitOnSignal(log, () => tsim.stop());
    } catch (err) {
      fail(err);
    }
  });

await program.parseAsync(process.argv);
