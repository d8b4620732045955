// Latency histograms (HDR): recorded in microseconds by each load worker, sent to the
// parent as compressed base64, merged there.
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

export type { Histogram };

/** 2 minutes in µs; the histogram resizes itself beyond that. */
const HIGHEST_US = 120_000_000;

export function newHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 });
}

/** Records a latency given in ms (negative values, from clock skew between reads, count as 0). */
export function recordMs(h: Histogram, ms: number): void {
  if (!(ms >= 0)) ms = 0;
  h.recordValue(Math.round(ms * 1000));
}

export function encodeHistogram(h: Histogram): string {
  return encodeIntoCompressedBase64(h);
}

/** One histogram holding every recorded value of the encoded ones. */
export function mergeHistograms(encoded: readonly string[]): Histogram {
  const merged = newHistogram();
  for (const e of encoded) {
    if (e === '') continue;
    merged.add(decodeFromCompressedBase64(e));
  }
  return merged;
}

export interface LatencySummary {
  /** Values recorded. */
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, p999Ms: Number.NaN, maxMs: Number.NaN };
  const ms = (us: number) => us / 1000;
  return {
    count: h.totalCount,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
  };
}
