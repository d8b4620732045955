import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { ZodError } from 'zod';
import { pushLimitIssues } from './push-limits.js';
import { configSchema, type Config, type ConfigInput } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * goim settings tsim does not take, and what a goim configuration should do with them; any
 * other unknown key is just "unknown key" (docs/configuration.md, goim keys tsim does not take).
 */
const GOIM_ONLY: Readonly<Record<string, string>> = {
  regions:
    "goim's province → region table is not used: goim's IP-to-province lookup is a stub, so no " +
    'client has a region there either; delete the [regions] table (nothing changes)',
};

function describe(err: ZodError, source: string): string {
  const lines = err.issues.map((i) => {
    const key = i.path.join('.') || '(top level)';
    if (i.code === 'unrecognized_keys') {
      const at = i.path.length ? `${i.path.join('.')}.` : '';
      const known = i.keys.filter((k) => GOIM_ONLY[at + k] !== undefined).map((k) => `  ${at + k}: ${GOIM_ONLY[at + k]}`);
      const unknown = i.keys.filter((k) => GOIM_ONLY[at + k] === undefined);
      return [...known, ...(unknown.length > 0 ? [`  ${unknown.map((k) => at + k).join(', ')}: unknown key`] : [])].join('\n');
    }
    return `  ${key}: ${i.message}`;
  });
  return `invalid configuration in ${source}:\n${lines.join('\n')}`;
}

/**
 * Without a file (a first `npm start`): the `live` room type takes danmaku and keeps history,
 * so the demo works as it is. A configuration file starts from goim's behaviour instead.
 */
const FIRST_TRY: ConfigInput = { roomTypes: { live: { send: true, history: true } } };

/** Validates a config object, filling defaults; throws ConfigError naming each bad key. */
export function buildConfig(input: ConfigInput | Record<string, unknown> = {}, source = 'config'): Config {
  const r = configSchema.safeParse(input);
  if (!r.success) throw new ConfigError(describe(r.error, source));
  // Settings that are valid one by one but contradict each other.
  const issues = pushLimitIssues(r.data);
  if (issues.length > 0) {
    throw new ConfigError(`invalid configuration in ${source}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  }
  return r.data;
}

/** Reads a TOML file (or the defaults when no path is given). */
export async function loadConfig(path?: string): Promise<Config> {
  if (!path) return buildConfig(FIRST_TRY, 'defaults');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${path}: ${(e as Error).message}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text);
  } catch (e) {
    throw new ConfigError(`cannot parse ${path}: ${(e as Error).message}`);
  }
  return buildConfig(raw, path);
}
