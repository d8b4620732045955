// Values of the auth and api sections that need more than the schema checks: "@file"
// indirection for secrets and keys, URLs of outside services, loopback addresses.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../config/load.js';
import type { Logger } from '../../log.js';

/** "@/path" → the file's text; anything else is the value itself. */
export function configText(value: string, key: string): string {
  if (!value.startsWith('@')) return value;
  const path = value.slice(1);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** True for names that can only reach this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./i.test(h);
}

/** An http(s) URL from the config; plain http to another host is allowed but warned about. */
export function httpUrl(value: string, key: string, log: Logger): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${key}: not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`${key}: must be an http or https URL`);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    log.warn(`${key} uses plain http to ${url.host}: anyone on the path can forge its answers; prefer https`);
  }
  return url;
}
