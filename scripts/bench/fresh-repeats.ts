// Fresh-process rows measured more than once. One fresh broker's memory growth and connect
// time move by 10-20% from process to process on this shared machine (the idle row's bytes
// per connection ranged 4,510-5,361 for one build within an hour), more than the margin of
// some #13 targets; so such a row runs on `repeats` processes started one after another, and
// its line is the sample of median memory growth with the median connect time beside it,
// every sample's figures kept (`*_samples`) so the spread is shown, not hidden.
import type { Sample } from './pairs.ts';
import type { RunResult } from './report.ts';
import { figure } from './targets.ts';

/** The keys whose per-sample values are kept and whose median is reported. */
const MEDIAN_KEYS = ['bytes_per_connection', 'connect_ms'] as const;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/**
 * One result line from the samples of repeated fresh runs: the sample whose memory growth is
 * the median (its ps, smaps and heap figures with it), `connect_ms` the median over all
 * samples, and each key's samples in run order. Failed samples are left out; none measured
 * gives the last failure.
 */
export function medianOfFresh(samples: Sample[]): Sample {
  const measured = samples.filter((s) => !('failed' in s)) as RunResult[];
  if (measured.length === 0) return samples[samples.length - 1] ?? { failed: 'no sample' };
  const key = (s: RunResult) => figure(s, 'bytes_per_connection') ?? figure(s, 'connect_ms') ?? 0;
  const middle = median(measured.map(key));
  const chosen = measured.find((s) => key(s) === middle)!;
  const line: RunResult = { ...chosen, fresh_samples: measured.length };
  for (const name of MEDIAN_KEYS) {
    const values = measured.map((s) => figure(s, name)).filter((v): v is number => v !== undefined);
    if (values.length === 0) continue;
    line[`${name}_samples`] = values;
    line[name] = median(values);
  }
  return line as Sample;
}
