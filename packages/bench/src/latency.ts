// Latency with Node's HDR histogram (perf_hooks.createHistogram), in microseconds. Workers
// send a summary over IPC (count, extremes and the histogram's percentile points); the
// coordinator merges summaries as weighted CDFs, which is exact for one worker and within the
// HDR precision for several.
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** Values above this (60 s) are clamped: a bench message that late is a failure anyway. */
const HIGHEST_US = 60_000_000;

export interface LatencySummary {
  count: number;
  minUs: number;
  maxUs: number;
  /** [percentile 0..100, value in µs], ascending. */
  points: Array<[number, number]>;
}

export function newHistogram(): RecordableHistogram {
  return createHistogram({ lowest: 1, highest: HIGHEST_US, figures: 3 });
}

export function recordMs(histogram: RecordableHistogram, ms: number): void {
  const us = Math.round(ms * 1000);
  histogram.record(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us);
}

export function summarize(histogram: RecordableHistogram): LatencySummary {
  const count = histogram.count;
  if (count === 0) return { count: 0, minUs: 0, maxUs: 0, points: [] };
  return { count, minUs: histogram.min, maxUs: histogram.max, points: GRID.map((p) => [p, histogram.percentile(p)]) };
}

// The histogram's own percentile iteration is too coarse to merge (about a dozen points), so
// workers send it sampled on this grid: every percent, then finer into the tail.
const GRID: number[] = [
  ...Array.from({ length: 99 }, (_, i) => i + 1),
  ...Array.from({ length: 9 }, (_, i) => 99 + (i + 1) / 10),
  ...Array.from({ length: 9 }, (_, i) => 99.9 + (i + 1) / 100),
  99.999,
  100,
];

export interface Percentiles {
  count: number;
  p50_ms: number | null;
  p99_ms: number | null;
  p999_ms: number | null;
  max_ms: number | null;
}

/** Percentiles (in ms, 3 decimals) of the union of the summarised samples. */
export function mergedPercentiles(summaries: readonly LatencySummary[]): Percentiles {
  const weighted: Array<[value: number, weight: number]> = [];
  let count = 0;
  let max = 0;
  for (const summary of summaries) {
    if (summary.count === 0) continue;
    count += summary.count;
    max = Math.max(max, summary.maxUs);
    let previous = 0;
    for (const [percentile, value] of summary.points) {
      weighted.push([value, ((percentile - previous) / 100) * summary.count]);
      previous = percentile;
    }
  }
  if (count === 0) return { count: 0, p50_ms: null, p99_ms: null, p999_ms: null, max_ms: null };
  weighted.sort((a, b) => a[0] - b[0]);
  const quantile = (q: number): number => {
    const target = q * count;
    let cumulative = 0;
    for (const [value, weight] of weighted) {
      cumulative += weight;
      if (cumulative >= target - 1e-9) return value;
    }
    return max;
  };
  const ms = (us: number) => Math.round(us) / 1000;
  return { count, p50_ms: ms(quantile(0.5)), p99_ms: ms(quantile(0.99)), p999_ms: ms(quantile(0.999)), max_ms: ms(max) };
}
