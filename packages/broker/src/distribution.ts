/**
 * A histogram kept as plain numbers: a count per bucket, a sum and a count. Whoever measures
 * (the broker's census, the cluster transport, the Redis client) observes into one, and
 * /metrics reads it at scrape time, so nothing on the message path touches prom-client.
 * `observe` is a short loop over a handful of bounds, cheap enough for once per batch or command.
 */
export class Distribution {
  /** Upper bounds, ascending; a last bucket (+Inf) takes what is above the highest. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); one more entry than `bounds`. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError(`bucket bounds must ascend: ${bounds.join(', ')}`);
    }
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }

  /** Cumulative counts per bound, the last for +Inf: what a Prometheus histogram's `_bucket` series show. */
  cumulative(): number[] {
    let running = 0;
    return this.counts.map((n) => (running += n));
  }
}
