// Interleaved pairs for the rows whose ratio is against another Roost row (the ACL, TLS and
// WebSocket rows against Roost's plain fan-in and fan-out). On this shared 2-core machine one
// sample of each side leaves such a ratio to luck: the fan-out rate alone falls in two modes
// ~30% apart from run to run, with or without the ACL. So each such row runs as PAIRS pairs,
// each side of a pair on a broker process started for that sample (a process's own luck then
// counts once), the side going first alternating from pair to pair (a drift in the machine's
// load then favours neither side), and the figure is the median of the per-pair ratios.
import type { BenchResult } from '../../packages/bench/src/index.ts';
import type { PlannedRun } from './plan.ts';
import type { RunResult } from './report.ts';
import { figure } from './targets.ts';

export const PAIRS = 5;

/** Rows compared with a row of Roost's own: its ratio is then taken over pairs, not one run each. */
export function isPaired(run: PlannedRun): boolean {
  return run.baseline !== undefined && run.baselineBroker === 'roost';
}

export type Sample = BenchResult | { failed: string };

export interface PairSample {
  /** Which side ran first in this pair. */
  first: 'variant' | 'baseline';
  value: number | undefined;
  baseline: number | undefined;
  ratio: number | undefined;
  /** Why a side has no figure: such a pair does not count. */
  failed?: string;
}

/**
 * Runs `pairs` pairs of (variant, baseline) samples, alternating which goes first, and returns
 * the variant's result line of the median pair with what the pairs gave beside it:
 * ratio_median (the row's figure), pair_ratio_min/max, pairs (pairs with both sides measured),
 * baseline_value (the baseline side of the median pair, so value / baseline_value is the
 * median), pair_samples (every pair, in order) and pairs_s (the seconds all pairs took).
 */
export async function interleavedPairs(run: PlannedRun, variant: () => Promise<Sample>, baseline: () => Promise<Sample>, pairs = PAIRS): Promise<RunResult> {
  const startedMs = Date.now();
  const samples: PairSample[] = [];
  const variants: Sample[] = [];
  for (let i = 0; i < pairs; i++) {
    const first = i % 2 === 0 ? 'variant' : 'baseline';
    const a = await (first === 'variant' ? variant : baseline)();
    const b = await (first === 'variant' ? baseline : variant)();
    const [v, base] = first === 'variant' ? [a, b] : [b, a];
    const value = figure(v as RunResult, run.metric);
    const baselineValue = figure(base as RunResult, run.metric);
    const ratio = value !== undefined && baselineValue ? value / baselineValue : undefined;
    const failed = [v, base].flatMap((side) => ('failed' in side && typeof side.failed === 'string' ? [side.failed] : [])).join('; ');
    samples.push({ first, value, baseline: baselineValue, ratio, ...(failed ? { failed } : {}) });
    variants.push(v);
    process.stderr.write(`${run.id} pair ${i + 1}/${pairs} (${first} first): ${value} vs ${baselineValue} = ${ratio?.toFixed(3)}\n`);
  }
  const measured = samples.flatMap((s, i) => (s.ratio === undefined ? [] : [{ ...s, index: i }])).sort((x, y) => x.ratio! - y.ratio!);
  if (measured.length === 0) return { ...(variants[0] as RunResult), pair_samples: samples };
  // With an even count the lower of the two middle pairs: a bound is not met by averaging.
  const median = measured[Math.floor((measured.length - 1) / 2)]!;
  return {
    ...(variants[median.index] as RunResult),
    ratio_median: median.ratio,
    pair_ratio_min: measured[0]!.ratio,
    pair_ratio_max: measured.at(-1)!.ratio,
    pairs: measured.length,
    baseline_value: median.baseline,
    pair_samples: samples,
    pairs_s: Math.round((Date.now() - startedMs) / 1000),
  };
}
