// Counters one worker keeps and reports: deliveries, errors (with a few samples), latency.
import type { RecordableHistogram } from 'node:perf_hooks';
import { newHistogram, summarize } from './latency.ts';
import type { WorkerStats } from './messages.ts';

const ERROR_SAMPLES = 5;

export class StatsRecorder {
  published = 0;
  delivered = 0;
  errors = 0;
  firstSendMs = 0;
  lastRecvMs = 0;
  readonly latency: RecordableHistogram = newHistogram();
  readonly extra: Record<string, number> = {};
  private readonly samples: string[] = [];

  error(error: unknown): void {
    this.errors++;
    if (this.samples.length < ERROR_SAMPLES) this.samples.push(error instanceof Error ? error.message : String(error));
  }

  snapshot(): WorkerStats {
    return {
      published: this.published,
      delivered: this.delivered,
      errors: this.errors,
      errorSamples: [...this.samples],
      latency: summarize(this.latency),
      firstSendMs: this.firstSendMs,
      lastRecvMs: this.lastRecvMs,
      extra: { ...this.extra },
    };
  }
}
