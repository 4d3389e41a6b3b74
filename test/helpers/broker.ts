import { createBroker, defaultLimits, type Broker, type BrokerLimits, type BrokerOptions, type Logger } from '@roost/broker';

/** A logger that drops everything; tests assert on the wire, not on logs. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** A logger that writes errors only, as JSON lines on stderr: a broker bug shows, chatter does not. */
export const errorsToStderr: Logger = {
  ...silentLogger,
  error(fields: object, message?: string) {
    process.stderr.write(`${JSON.stringify({ level: 'error', msg: message, ...fields }, (_k, v: unknown) => (v instanceof Error ? v.stack : v))}\n`);
  },
  child() {
    return errorsToStderr;
  },
};

export interface TestBroker {
  broker: Broker;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** A real broker on an ephemeral loopback port; `options` for the rest (auth, connect rate, bans). */
export async function startBroker(
  limits: Partial<BrokerLimits> = {},
  sysInterval = 0,
  logger: Logger = silentLogger,
  options: Partial<BrokerOptions> = {},
): Promise<TestBroker> {
  const broker = createBroker({
    nodeId: 'test',
    version: '0.0.0-test',
    logger,
    limits: { ...defaultLimits, ...limits },
    sysInterval,
    ...options,
  });
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' });
  return { broker, port, url: `mqtt://127.0.0.1:${port}`, stop: () => broker.stop() };
}
