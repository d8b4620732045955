// Go-style duration strings ("500ms", "1s", "4m", "1h30m"), as goim's TOML files use.

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;

/** Parses a Go duration into milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') throw new Error('empty duration');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const at = PART.lastIndex;
    const m = PART.exec(s);
    if (!m) throw new Error(`invalid duration "${text}" at "${s.slice(at)}" (use e.g. "500ms", "5s", "4m")`);
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return total;
}
