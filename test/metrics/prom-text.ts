// Reads the Prometheus text format back, for tests: every sample by name and labels.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromText {
  samples: PromSample[];
  /** `# TYPE` of each metric family. */
  types: Map<string, string>;
  /** The value of the sample with exactly these labels (undefined when absent). */
  get(name: string, labels?: Record<string, string>): number | undefined;
  /** Sum over every sample of `name` whose labels include `match`. */
  sum(name: string, match?: Record<string, string>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePromText(text: string): PromText {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name, type);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1], labels, value });
  }
  const includes = (have: Record<string, string>, want: Record<string, string>): boolean => Object.entries(want).every(([k, v]) => have[k] === v);
  return {
    samples,
    types,
    get(name, labels = {}) {
      const n = Object.keys(labels).length;
      return samples.find((s) => s.name === name && Object.keys(s.labels).length === n && includes(s.labels, labels))?.value;
    },
    sum(name, match = {}) {
      let total = 0;
      for (const s of samples) if (s.name === name && includes(s.labels, match)) total += s.value;
      return total;
    },
  };
}

/** GET <base>/metrics, checked and parsed. */
export async function scrape(url: string): Promise<PromText> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain; version=0.0.4')) throw new Error(`GET ${url}: content-type ${type}`);
  return parsePromText(await res.text());
}
