// The check a keyless API makes instead of a key (docs/security.md#without-keys): without
// keys, a browser on this machine is the way in. Any page can send a "simple" cross-site POST
// to 127.0.0.1, and a page whose host name is re-pointed at 127.0.0.1 (DNS rebinding) can even
// read the answers. So requests from another origin and for a host name the API does not know
// are refused.
import { isIP } from 'node:net';
import { ConfigError } from '../../config/load.js';

/** A Host header's name, lower case, without port, brackets or a trailing dot; undefined if unparsable. */
function hostName(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Why a keyless request must be refused, or undefined when it may pass. Host: an IP address
 * (DNS rebinding needs a name the attacker controls), a loopback name, or one of
 * httpServer.allowedHosts. Origin (sent by browsers, not by curl or servers): the API's own
 * (the demo page it serves) or one of httpServer.allowedOrigins; `Sec-Fetch-Site:
 * cross-site` covers requests a browser sends without an Origin.
 */
export function crossSiteRefusal(
  headers: { host?: string; origin?: string; 'sec-fetch-site'?: string | string[] },
  allowedHosts: ReadonlySet<string>,
  allowedOrigins: ReadonlySet<string>,
): string | undefined {
  const host = headers.host;
  if (host !== undefined) {
    const name = hostName(host);
    const known = name !== undefined && (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || allowedHosts.has(name));
    if (!known) return `Host ${JSON.stringify(host)} is not a loopback name or an IP address: add it to httpServer.allowedHosts, or use api.keys`;
  }
  const origin = headers.origin;
  if (origin !== undefined) {
    let own = false;
    let normalized = origin;
    try {
      const o = new URL(origin);
      normalized = o.origin;
      own = host !== undefined && new URL(`${o.protocol}//${host}`).host === o.host;
    } catch {
      // "null" (sandboxed pages, files) and garbage: not this API's origin.
    }
    if (!own && !allowedOrigins.has(normalized)) {
      return `cross-site request from origin ${JSON.stringify(origin)} refused: add it to httpServer.allowedOrigins, or use api.keys`;
    }
  } else if (headers['sec-fetch-site'] === 'cross-site') {
    return 'cross-site request refused (Sec-Fetch-Site: cross-site): use api.keys';
  }
  return undefined;
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
