// A real Roost broker in the test process (load still runs in the bench's worker processes),
// and options for short, bounded runs.
import { createBroker, defaultLimits, type Broker, type Logger } from '@roost/broker';
import { parseOptions, type BenchOptions } from '../src/options.ts';

const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

export interface TestBroker {
  broker: Broker;
  url: string;
  stop(): Promise<void>;
}

export async function startBroker(): Promise<TestBroker> {
  const broker = createBroker({ nodeId: 'bench-test', version: '0.0.0-test', logger: silentLogger, limits: { ...defaultLimits }, sysInterval: 0 });
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' });
  return { broker, url: `mqtt://127.0.0.1:${port}`, stop: () => broker.stop() };
}

/** Options as the CLI would parse them, against `url`, bounded to a couple of seconds. */
export function benchOptions(url: string, args: string[]): BenchOptions {
  return parseOptions(['--url', url, '--duration', '2', '--timeout', '10', ...args]);
}
