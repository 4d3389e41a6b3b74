// A Prometheus histogram whose buckets live in a plain Distribution (see @roost/broker): what
// measures it never calls prom-client, and the scrape reads the counts as they are. prom-client
// has no way to set a histogram's buckets, so this one answers its registry's reads itself.
import { Histogram, type Registry } from './prom-client.ts';
import type { Distribution } from '@roost/broker';

type Snapshot = Awaited<ReturnType<Histogram['get']>>;
/** prom-client's types declare `type` a numeric enum it does not export; at run time (and in the text format) it is this string. */
const HISTOGRAM = 'histogram' as unknown as Snapshot['type'];

/** The snapshot is already current: there is nothing to collect before reading it. */
function noCollect(): void {}

class DistributionHistogram extends Histogram {
  private readonly metricName: string;
  private readonly metricHelp: string;
  private readonly read: () => Distribution;
  private readonly before: (() => void) | undefined;

  constructor(name: string, help: string, registry: Registry, read: () => Distribution, before?: () => void) {
    super({ name, help, buckets: [...read().bounds], registers: [registry] });
    this.metricName = name;
    this.metricHelp = help;
    this.read = read;
    this.before = before;
  }

  override async get(): Promise<Snapshot> {
    return this.snapshot();
  }

  /** What the registry calls, when it exists, to write the text format. */
  async getForPromString(): Promise<Snapshot> {
    return this.snapshot();
  }

  private snapshot(): Snapshot {
    this.before?.();
    const distribution = this.read();
    const cumulative = distribution.cumulative();
    const bucket = `${this.metricName}_bucket`;
    const values: Snapshot['values'] = distribution.bounds.map((le, i) => ({ labels: { le }, value: cumulative[i]!, metricName: bucket }));
    values.push(
      { labels: { le: '+Inf' }, value: distribution.count, metricName: bucket },
      { labels: {}, value: distribution.sum, metricName: `${this.metricName}_sum` },
      { labels: {}, value: distribution.count, metricName: `${this.metricName}_count` },
    );
    return { name: this.metricName, help: this.metricHelp, type: HISTOGRAM, values, aggregator: 'sum', collect: noCollect };
  }
}

/** Registers a histogram read from `read()` at each scrape; `before` runs first (to take a sample, say). */
export function distributionHistogram(registry: Registry, name: string, help: string, read: () => Distribution, before?: () => void): void {
  new DistributionHistogram(name, help, registry, read, before);
}
