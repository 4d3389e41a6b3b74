// Options for short, bounded runs; the broker under load is the project's test broker
// (test/helpers/broker.ts), real and in this process, while the load runs in worker processes.
import { parseOptions, type BenchOptions } from '../src/options.ts';

export { startBroker, type TestBroker } from '../../../test/helpers/broker.ts';

/** Options as the CLI would parse them, against `url`, bounded to a couple of seconds. */
export function benchOptions(url: string, args: string[]): BenchOptions {
  return parseOptions(['--url', url, '--duration', '2', '--timeout', '10', ...args]);
}
