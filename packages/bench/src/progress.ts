// The live progress line on stderr: delivery rate over the last second, latency so far,
// errors. Rewritten in place on a TTY, one line per second otherwise.
import type { Progress } from './coordinator.ts';
import { mergedPercentiles } from './latency.ts';
import type { BenchResult } from './scenarios.ts';

export class ProgressLine {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private last = { elapsedS: 0, delivered: 0 };

  constructor(stream: NodeJS.WriteStream) {
    this.stream = stream;
    this.tty = stream.isTTY === true;
  }

  update(scenario: string, progress: Progress): void {
    const dt = progress.elapsedS - this.last.elapsedS;
    const rate = dt > 0 ? (progress.delivered - this.last.delivered) / dt : 0;
    this.last = { elapsedS: progress.elapsedS, delivered: progress.delivered };
    const latency = mergedPercentiles(progress.workers.map((w) => w.latency));
    const line =
      `${scenario} ${progress.elapsedS.toFixed(0)}s  ${Math.round(rate).toLocaleString('en-US')} msg/s  ` +
      `p50 ${fmt(latency.p50_ms)} ms  p99 ${fmt(latency.p99_ms)} ms  errors ${progress.errors}`;
    this.stream.write(this.tty ? `\r\x1b[K${line}` : `${line}\n`);
  }

  end(): void {
    if (this.tty) this.stream.write('\r\x1b[K');
    this.last = { elapsedS: 0, delivered: 0 };
  }
}

function fmt(ms: number | null): string {
  return ms === null ? '-' : ms.toFixed(ms < 10 ? 3 : 1);
}

/** The human-readable summary of a result (without --json). */
export function summaryLine(result: BenchResult): string {
  const parts = [`${result.scenario} @ ${result.broker}:`, `${String(result.messages)} messages`, `${Number(result.rate).toLocaleString('en-US')} /s`];
  if (result.p50_ms !== undefined) parts.push(`p50 ${fmt(result.p50_ms as number | null)} ms`, `p99 ${fmt(result.p99_ms as number | null)} ms`, `p99.9 ${fmt(result.p999_ms as number | null)} ms`);
  for (const key of ['lost', 'connect_ms', 'bytes_per_connection', 'lookup_ms', 'drain_ms']) {
    if (result[key] !== undefined && result[key] !== null) parts.push(`${key} ${String(result[key])}`);
  }
  parts.push(`errors ${result.errors}`);
  return parts.join('  ');
}
