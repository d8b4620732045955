// What every tsim command shares: the --config / --log-level options, loading the config,
// and how a failed start is reported.
import { Option, type Command } from 'commander';
import { ConfigError, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { createLogger, type Logger } from './log.js';

export interface CommonOptions {
  config?: string;
  logLevel?: string;
}

/** Adds --config and --log-level to a command. */
export function withConfigOptions(cmd: Command, configHelp = 'TOML configuration file (docs/configuration.md)'): Command {
  return cmd
    .addOption(new Option('-c, --config <file>', configHelp))
    .addOption(new Option('--log-level <level>', 'override log.level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']));
}

export async function prepare(opts: CommonOptions): Promise<{ config: Config; log: Logger }> {
  const config = await loadConfig(opts.config);
  if (opts.logLevel) config.log.level = opts.logLevel as Config['log']['level'];
  return { config, log: createLogger(config.log.level) };
}

/** Prints why a command could not start (one line for config errors) and exits 1. */
export function fail(command: string, err: unknown): never {
  if (err instanceof ConfigError) console.error(`${command}: ${err.message}`);
  else console.error(`${command}: failed to start:`, err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
}
