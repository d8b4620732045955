// One value from a Prometheus text page (tsim's /metrics): a sample without labels, or the
// sum of a metric's labelled samples. undefined when the page or the metric is missing.

export async function scrapeMetric(url: string, name: string): Promise<number | undefined> {
  try {
    const res = await fetch(url);
    if (!res.ok) return undefined;
    return metricValue(await res.text(), name);
  } catch {
    return undefined;
  }
}

/** The value of `name` in a Prometheus text page, labelled samples summed. */
export function metricValue(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue; // a longer name sharing the prefix
    const v = Number(rest.slice(rest.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}
