import { setTimeout as sleep } from 'node:timers/promises';

/** How a leaving node lets its clients go (ROOST_DRAIN_RATE, ROOST_DRAIN_SERVER_REFERENCE). */
export interface DrainOptions {
  /** Clients disconnected per second; 0: all at once. */
  ratePerSecond: number;
  /** Given to v5 clients with DISCONNECT 0x9C Use another server; undefined: 0x8B Server shutting down. */
  serverReference?: string | undefined;
  /** Once aborted, whoever is left goes at once (a second SIGTERM). */
  hurry?: AbortSignal | undefined;
}

/**
 * How many clients are due to be gone `elapsedMs` into a drain: the first at once, then one
 * every 1/rate seconds, so n clients take (n - 1) / rate seconds. Rate 0: all at once.
 */
export function dueBy(elapsedMs: number, ratePerSecond: number): number {
  if (ratePerSecond <= 0) return Infinity;
  return 1 + Math.floor((elapsedMs * ratePerSecond) / 1000);
}

/**
 * Calls `release(n)` with how many more are due (it returns how many it let go) until `left()`
 * is 0. Batches every 100 ms at most (a timer per client would cost more than the
 * disconnections at 500/s), more often for rates above 10 a second.
 */
export async function pace(release: (count: number) => number, left: () => number, options: DrainOptions, clock: () => number = Date.now): Promise<void> {
  const { ratePerSecond, hurry } = options;
  const started = clock();
  const pauseMs = ratePerSecond > 0 ? Math.max(10, Math.min(100, 1000 / ratePerSecond)) : 10;
  let released = 0;
  for (;;) {
    const due = hurry?.aborted ? Infinity : dueBy(clock() - started, ratePerSecond);
    const count = Math.min(due - released, left());
    if (count > 0) released += release(count);
    if (left() === 0) return;
    try {
      await sleep(pauseMs, undefined, hurry ? { signal: hurry } : undefined);
    } catch {
      // hurried: the next round lets everyone left go
    }
  }
}
