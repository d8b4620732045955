// The top-level members of a JSON object as written: each key with the source text of its
// value. JSON.parse keeps the last of duplicate keys and rewrites numbers; a danmaku's `data`
// is passed on as sent (docs/history.md#sending) and a duplicate key is refused, so both need
// the text itself. Only called on text JSON.parse accepted as an object: no error paths.

const WS = new Set([' ', '\t', '\n', '\r']);

function skipWs(s: string, i: number): number {
  while (i < s.length && WS.has(s[i])) i++;
  return i;
}

/** `i` at an opening quote: the index after the closing one. */
function skipString(s: string, i: number): number {
  i++;
  while (s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
  return i + 1;
}

/** `i` at the first character of a value: the index after it. */
function skipValue(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return skipString(s, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (;;) {
      const d = s[i];
      if (d === '"') {
        i = skipString(s, i);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
  }
  while (i < s.length && !WS.has(s[i]) && s[i] !== ',' && s[i] !== '}' && s[i] !== ']') i++;
  return i;
}

/** Key → the source text of its value; undefined when a key appears twice. */
export function objectMembers(json: string): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let i = skipWs(json, 0) + 1;
  i = skipWs(json, i);
  if (json[i] === '}') return out;
  for (;;) {
    const keyEnd = skipString(json, i);
    const key = JSON.parse(json.slice(i, keyEnd)) as string;
    if (out.has(key)) return undefined;
    i = skipWs(json, skipWs(json, keyEnd) + 1);
    const end = skipValue(json, i);
    out.set(key, json.slice(i, end));
    i = skipWs(json, end);
    if (json[i] !== ',') return out;
    i = skipWs(json, i + 1);
  }
}
