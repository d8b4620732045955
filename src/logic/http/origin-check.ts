// The check a keyless API makes instead of a key (docs/security.md#without-keys): without
// keys, a browser on this machine is the way in. Any page can send a "simple" cross-site POST
// to 127.0.0.1, and a page whose host name is re-pointed at 127.0.0.1 (DNS rebinding) can even
// read the answers. So requests from another origin and for a host name the API does not know
// are refused.
import { isIP } from 'node:net';
import { ConfigError } from '../../config/load.js';

/**
 * Host header syntax: a name or IPv4 address, or a bracketed IPv6 address, and an optional
 * port. Nothing else, so that URL parsing cannot read another host out of it (userinfo in
 * `evil.example@127.0.0.1`, a path, query or fragment).
 */
const HOST_SYNTAX = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?$/;

/** A Host header's name, lower case, without port, brackets or a trailing dot; undefined if not a host. */
function hostName(host: string): string | undefined {
  if (!HOST_SYNTAX.test(host)) return undefined;
  try {
    return new URL(`http://${host}`).hostname
      .replace(/^\[|\]$/g, '')
      .replace(/\.$/, '')
      .toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Why a keyless request must be refused for its Host, or undefined when it may pass: an IP
 * address (DNS rebinding needs a name the attacker controls), a loopback name, or one of
 * httpServer.allowedHosts. Checked on every route, so a rebinding page reads nothing.
 */
export function hostRefusal(host: string | undefined, allowedHosts: ReadonlySet<string>): string | undefined {
  if (host === undefined) return undefined;
  const name = hostName(host);
  const known = name !== undefined && (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || allowedHosts.has(name));
  return known
    ? undefined
    : `Host ${JSON.stringify(host)} is not a loopback name or an IP address: add it to httpServer.allowedHosts, or use api.keys`;
}

/**
 * Why a keyless request must be refused, or undefined when it may pass: its Host
 * (hostRefusal), then its Origin (sent by browsers, not by curl or servers): the API's own
 * (the demo page it serves) or one of httpServer.allowedOrigins; `Sec-Fetch-Site:
 * cross-site` covers requests a browser sends without an Origin.
 */
export function crossSiteRefusal(
  headers: { host?: string; origin?: string; 'sec-fetch-site'?: string | string[] },
  allowedHosts: ReadonlySet<string>,
  allowedOrigins: ReadonlySet<string>,
): string | undefined {
  const host = headers.host;
  const badHost = hostRefusal(host, allowedHosts);
  if (badHost !== undefined) return badHost;
  const origin = headers.origin;
  if (origin !== undefined) {
    if (!ownOrAllowedOrigin(origin, host, allowedOrigins)) {
      return `cross-site request from origin ${JSON.stringify(origin)} refused: add it to httpServer.allowedOrigins, or use api.keys`;
    }
  } else if (headers['sec-fetch-site'] === 'cross-site') {
    return 'cross-site request refused (Sec-Fetch-Site: cross-site): use api.keys';
  }
  return undefined;
}

/**
 * Whether `origin` is the server's own (the one `host` names, default ports folded) or one of
 * httpServer.allowedOrigins. "null" (sandboxed pages, files) and garbage are neither.
 */
export function ownOrAllowedOrigin(origin: string, host: string | undefined, allowedOrigins: ReadonlySet<string>): boolean {
  try {
    const o = new URL(origin);
    return (host !== undefined && new URL(`${o.protocol}//${host}`).host === o.host) || allowedOrigins.has(o.origin);
  } catch {
    return false;
  }
}

/** Normalized httpServer.allowedOrigins; throws on a value that is not an origin URL. */
export function originSet(list: readonly string[]): Set<string> {
  return new Set(
    list.map((o, i) => {
      let u: URL;
      try {
        u = new URL(o);
      } catch {
        throw new ConfigError(`httpServer.allowedOrigins[${i}]: not a URL (expected e.g. "https://admin.example.com")`);
      }
      return u.origin;
    }),
  );
}

/** Normalized httpServer.allowedHosts. */
export function hostSet(list: readonly string[]): Set<string> {
  return new Set(list.map((h) => hostName(h) ?? h.toLowerCase()));
}
