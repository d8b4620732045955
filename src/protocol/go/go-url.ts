// Go's net/url as goim relies on it: url.Parse's host of a room key (what /goim/online/top
// reports, docs/http-api.md) and url.ParseQuery for the API's parameters. Where Go refuses
// a text, these refuse it too, so the validation follows net/url's rules.

type Mode = 'host' | 'zone' | 'path' | 'userinfo' | 'fragment';

const HOST_EXTRA = new Set('!$&\'()*+,;=:[]<>"'.split(''));
const UNRESERVED_MARK = new Set(['-', '_', '.', '~']);

function isAlnum(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function unhex(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** net/url shouldEscape, for the host and zone modes (the only ones that reject characters). */
function hostShouldEscape(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (isAlnum(c)) return false;
  if (HOST_EXTRA.has(ch)) return false;
  return !UNRESERVED_MARK.has(ch);
}

const decoder = new TextDecoder();

/** net/url unescape: %XX checks for every mode, character checks for host and zone. */
function unescape(s: string, mode: Mode): string | undefined {
  let hasPct = false;
  for (let i = 0; i < s.length;) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      hasPct = true;
      if (i + 2 >= s.length || !isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return undefined;
      const v = (unhex(s.charCodeAt(i + 1)) << 4) | unhex(s.charCodeAt(i + 2));
      const isPct25 = s.slice(i, i + 3) === '%25';
      if (mode === 'host' && unhex(s.charCodeAt(i + 1)) < 8 && !isPct25) return undefined;
      if (mode === 'zone' && !isPct25 && v !== 0x20 && hostShouldEscape(String.fromCharCode(v))) return undefined;
      i += 3;
    } else {
      if ((mode === 'host' || mode === 'zone') && c < 0x80 && hostShouldEscape(s[i])) return undefined;
      i++;
    }
  }
  if (!hasPct) return s;
  // Percent-decode to bytes, then read them as UTF-8.
  const bytes: number[] = [];
  for (let i = 0; i < s.length;) {
    if (s.charCodeAt(i) === 0x25) {
      bytes.push((unhex(s.charCodeAt(i + 1)) << 4) | unhex(s.charCodeAt(i + 2)));
      i += 3;
    } else {
      const cp = s.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      i += ch.length;
    }
  }
  return decoder.decode(new Uint8Array(bytes));
}

function validOptionalPort(port: string): boolean {
  if (port === '') return true;
  if (port[0] !== ':') return false;
  for (let i = 1; i < port.length; i++) {
    const c = port.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function parseHost(host: string): string | undefined {
  if (host.startsWith('[')) {
    const i = host.lastIndexOf(']');
    if (i < 0) return undefined;
    if (!validOptionalPort(host.slice(i + 1))) return undefined;
    const zone = host.slice(0, i).indexOf('%25');
    if (zone >= 0) {
      const h1 = unescape(host.slice(0, zone), 'host');
      const h2 = unescape(host.slice(zone, i), 'zone');
      const h3 = unescape(host.slice(i), 'host');
      return h1 === undefined || h2 === undefined || h3 === undefined ? undefined : h1 + h2 + h3;
    }
  } else {
    const i = host.lastIndexOf(':');
    if (i >= 0 && !validOptionalPort(host.slice(i))) return undefined;
  }
  return unescape(host, 'host');
}

function validUserinfo(s: string): boolean {
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (isAlnum(c) && ch.length === 1) continue;
    if ("-._:~!$&'()*+,;=%@".includes(ch)) continue;
    return false;
  }
  return true;
}

function parseAuthority(authority: string): string | undefined {
  const at = authority.lastIndexOf('@');
  const host = parseHost(at < 0 ? authority : authority.slice(at + 1));
  if (host === undefined || at < 0) return host;
  const userinfo = authority.slice(0, at);
  if (!validUserinfo(userinfo)) return undefined;
  const colon = userinfo.indexOf(':');
  const parts = colon < 0 ? [userinfo] : [userinfo.slice(0, colon), userinfo.slice(colon + 1)];
  for (const p of parts) if (unescape(p, 'userinfo') === undefined) return undefined;
  return host;
}

/** net/url getScheme: [scheme, rest], or undefined for "missing protocol scheme". */
function splitScheme(raw: string): [string, string] | undefined {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) continue;
    if ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) {
      if (i === 0) return ['', raw];
      continue;
    }
    if (c === 0x3a) return i === 0 ? undefined : [raw.slice(0, i), raw.slice(i + 1)];
    return ['', raw];
  }
  return ['', raw];
}

/** `url.Parse(text).Host` (`live://1000` → `1000`); undefined when Go's parser rejects the text. */
export function goUrlHost(text: string): string | undefined {
  const hash = text.indexOf('#');
  const raw = hash < 0 ? text : text.slice(0, hash);
  if (hash >= 0 && unescape(text.slice(hash + 1), 'fragment') === undefined) return undefined;
  if (/[\x00-\x1f\x7f]/.test(raw)) return undefined;
  if (raw === '*') return '';
  const split = splitScheme(raw);
  if (split === undefined) return undefined;
  const scheme = split[0];
  let rest = split[1];
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  if (!rest.startsWith('/')) {
    if (scheme !== '') return ''; // opaque URL: no host
    const slash = rest.indexOf('/');
    if ((slash < 0 ? rest : rest.slice(0, slash)).includes(':')) return undefined;
  }
  if ((scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    let path = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      path = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    const host = parseAuthority(authority);
    if (host === undefined || unescape(path, 'path') === undefined) return undefined;
    return host;
  }
  return unescape(rest, 'path') === undefined ? undefined : '';
}

/** url.ParseQuery: `&`-separated pairs; pairs with `;` or bad escapes are dropped. */
export function parseGoQuery(rawQuery: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  if (rawQuery === '') return values;
  for (const pair of rawQuery.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const key = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
    const value = queryUnescape(eq < 0 ? '' : pair.slice(eq + 1));
    if (key === undefined || value === undefined) continue;
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  }
  return values;
}

/**
 * url.QueryUnescape: `+` is a space, `%XX` a byte; undefined on a malformed escape. Unlike
 * `unescape` above, `s` holds bytes, one char each: Node hands the request target over as latin1.
 */
function queryUnescape(s: string): string | undefined {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 || c === 0x2b || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= s.length || !isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return undefined;
      bytes.push((unhex(s.charCodeAt(i + 1)) << 4) | unhex(s.charCodeAt(i + 2)));
      i += 2;
    } else if (c === 0x2b) bytes.push(0x20);
    else if (c <= 0xff) bytes.push(c);
    else for (const b of Buffer.from(s[i], 'utf8')) bytes.push(b);
  }
  return decoder.decode(new Uint8Array(bytes));
}
