// Interleaved pairs for the rows whose ratio is against another Roost row (the ACL, TLS and
// WebSocket rows against Roost's plain fan-in and fan-out). On this shared 2-core machine one
// sample of each side leaves such a ratio to luck: the fan-out rate alone falls in two modes
// ~30% apart from run to run, with or without the ACL. So each such row runs as PAIRS pairs,
// each side of a pair on a broker process started for that sample (a process's own luck then
// counts once), the side going first alternating from pair to pair (a drift in the machine's
// load then favours neither side), and the figure is the median of the per-pair ratios.
// Beside the rate, each sample carries the broker's CPU time per delivery: other processes on
// the machine take cores from the broker and the bench alike and move the rate by 2x, but
// they move what each delivery costs the broker much less, so its ratio shows what the ACL,
// TLS or WebSocket adds even when the rates are noise.
import { readFileSync } from 'node:fs';
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

const CLOCK_TICKS_PER_SECOND = 100;

/** User and system CPU seconds of a process so far, from /proc/<pid>/stat (utime, stime). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the parenthesised command name, which may itself hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** Broker CPU per delivery (ns) over a sample, set-up included (101 CONNECTs: a few ms of ~5 s). */
export function withBrokerCpu(sample: Sample, cpuS: number): Sample {
  const deliveries = 'failed' in sample ? 0 : Number((sample as RunResult).messages);
  return deliveries > 0 ? { ...sample, broker_cpu_ns_per_delivery: Math.round((cpuS * 1e9) / deliveries) } : sample;
}

export interface PairSample {
  /** Which side ran first in this pair. */
  first: 'variant' | 'baseline';
  value: number | undefined;
  baseline: number | undefined;
  ratio: number | undefined;
  /** Broker CPU per delivery, the variant's over the baseline's. */
  cpu_ratio: number | undefined;
  /** Why a side has no figure: such a pair does not count. */
  failed?: string;
}

/**
 * Runs `pairs` pairs of (variant, baseline) samples, alternating which goes first, and returns
 * the variant's result line of the median pair with what the pairs gave beside it:
 * ratio_median (the row's figure), pair_ratio_min/max, pairs (pairs with both sides measured),
 * baseline_value (the baseline side of the median pair, so value / baseline_value is the
 * median), cpu_ratio_median/min/max (broker CPU per delivery), pair_samples (every pair, in order) and pairs_s (the seconds all pairs took).
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
    const cpu = (side: Sample) => figure(side as RunResult, 'broker_cpu_ns_per_delivery');
    const cpuRatio = cpu(v) !== undefined && cpu(base) ? cpu(v)! / cpu(base)! : undefined;
    const failed = [v, base].flatMap((side) => ('failed' in side && typeof side.failed === 'string' ? [side.failed] : [])).join('; ');
    samples.push({ first, value, baseline: baselineValue, ratio, cpu_ratio: cpuRatio, ...(failed ? { failed } : {}) });
    variants.push(v);
    process.stderr.write(`${run.id} pair ${i + 1}/${pairs} (${first} first): ${value} vs ${baselineValue} = ${ratio?.toFixed(3)}, broker CPU per delivery ${cpuRatio?.toFixed(3)}x\n`);
  }
  const measured = samples.flatMap((s, i) => (s.ratio === undefined ? [] : [{ ...s, index: i }])).sort((x, y) => x.ratio! - y.ratio!);
  if (measured.length === 0) return { ...(variants[0] as RunResult), pair_samples: samples };
  // With an even count the lower of the two middle pairs: a bound is not met by averaging.
  const median = measured[Math.floor((measured.length - 1) / 2)]!;
  const cpuRatios = samples.flatMap((s) => (s.cpu_ratio === undefined ? [] : [s.cpu_ratio])).sort((x, y) => x - y);
  // Higher is worse here: the upper of the two middle ones.
  const cpu = cpuRatios.length === 0 ? {} : { cpu_ratio_median: cpuRatios[Math.floor(cpuRatios.length / 2)], cpu_ratio_min: cpuRatios[0], cpu_ratio_max: cpuRatios.at(-1) };
  return {
    ...(variants[median.index] as RunResult),
    ratio_median: median.ratio,
    pair_ratio_min: measured[0]!.ratio,
    pair_ratio_max: measured.at(-1)!.ratio,
    pairs: measured.length,
    baseline_value: median.baseline,
    ...cpu,
    pair_samples: samples,
    pairs_s: Math.round((Date.now() - startedMs) / 1000),
  };
}
