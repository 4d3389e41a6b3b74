// SUBSCRIBE latency: how long a SUBACK takes for a filter new to the broker (on a Roost
// cluster, every live node applies the route first: SUBACK means routed) and for a filter the
// node already routes (a second subscriber of it). One connection subscribes `count` times
// each way, one SUBSCRIBE at a time, so the figure is the round trip a client waits.
import { BenchConnection, parseBrokerUrl } from './client.ts';
import { mergedPercentiles, newHistogram, recordMs, summarize } from './latency.ts';
import type { BenchOptions } from './options.ts';

export interface SubscribeResult {
  scenario: 'subscribe';
  broker: string;
  errors: number;
  count: number;
  new_p50_ms: number | null;
  new_p99_ms: number | null;
  existing_p50_ms: number | null;
  existing_p99_ms: number | null;
}

const DEFAULT_COUNT = 500;

export async function runSubscribeLatency(runId: string, o: BenchOptions): Promise<SubscribeResult> {
  const address = parseBrokerUrl(o.url, o.transport);
  const count = o.count ?? DEFAULT_COUNT;
  const timeoutMs = o.timeoutS * 1000;
  const existing = `bench/${runId}/existing`;
  const { conn: holder } = await BenchConnection.open(address, `bench-${runId}-holder`, { timeoutMs });
  const { conn: subscriber } = await BenchConnection.open(address, `bench-${runId}-sub`, { timeoutMs });
  let errors = 0;
  const time = async (filter: string, messageId: number, histogram: ReturnType<typeof newHistogram>) => {
    const started = performance.now();
    try {
      await subscriber.subscribe(messageId, filter, 1, timeoutMs);
      recordMs(histogram, performance.now() - started);
    } catch {
      errors++;
    }
  };
  try {
    await holder.subscribe(1, existing, 1, timeoutMs);
    const fresh = newHistogram();
    const known = newHistogram();
    for (let i = 0; i < count; i++) await time(`bench/${runId}/new/${i}`, (i % 0xfffe) + 1, fresh);
    for (let i = 0; i < count; i++) await time(existing, (i % 0xfffe) + 1, known);
    const newFilter = mergedPercentiles([summarize(fresh)]);
    const existingFilter = mergedPercentiles([summarize(known)]);
    return {
      scenario: 'subscribe',
      broker: o.label,
      errors,
      count,
      new_p50_ms: newFilter.p50_ms,
      new_p99_ms: newFilter.p99_ms,
      existing_p50_ms: existingFilter.p50_ms,
      existing_p99_ms: existingFilter.p99_ms,
    };
  } finally {
    await Promise.all([holder.close(), subscriber.close()]);
  }
}
