// A broker with listeners of every kind on ephemeral loopback ports, and a logger whose
// lines a test can await (a reload, a handshake failure) instead of sleeping.
import { createBroker, defaultLimits, type Broker, type BrokerLimits, type ListenerSpec, type Logger } from '@roost/broker';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string | undefined;
  fields: Record<string, unknown>;
}

/** Keeps every line; `next` resolves on the first line (past or future) that matches. */
export class RecordingLogger implements Logger {
  readonly lines: LogLine[] = [];
  private readonly waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];

  debug(fields: object, msg?: string): void {
    this.record('debug', fields, msg);
  }
  info(fields: object, msg?: string): void {
    this.record('info', fields, msg);
  }
  warn(fields: object, msg?: string): void {
    this.record('warn', fields, msg);
  }
  error(fields: object, msg?: string): void {
    this.record('error', fields, msg);
  }
  child(): Logger {
    return this;
  }

  /** The first line from index `since` on that matches, now or when it comes. */
  next(match: (line: LogLine) => boolean, since = 0, timeoutMs = 10_000): Promise<LogLine> {
    const found = this.lines.slice(since).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line in ${timeoutMs} ms; last: ${JSON.stringify(this.lines.slice(-5))}`)), timeoutMs);
      this.waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  }

  private record(level: LogLine['level'], fields: object, msg: string | undefined): void {
    const line = { level, msg, fields: fields as Record<string, unknown> };
    this.lines.push(line);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.match(line)) this.waiters.splice(i, 1)[0]!.resolve(line);
    }
  }
}

export interface ListeningBroker {
  broker: Broker;
  /** Bound port by listener name. */
  ports: Record<string, number>;
  stop(): Promise<void>;
}

/** A broker with the given listeners; `port` 0 and host 127.0.0.1 unless a spec says otherwise. */
export async function startListening(
  specs: (Partial<ListenerSpec> & Pick<ListenerSpec, 'name' | 'kind'>)[],
  options: { logger: Logger; limits?: Partial<BrokerLimits>; maxConnections?: number },
): Promise<ListeningBroker> {
  const broker = createBroker({
    nodeId: 'test',
    version: '0.0.0-test',
    logger: options.logger,
    limits: { ...defaultLimits, ...options.limits },
    sysInterval: 0,
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
  });
  const bound = await broker.listen(specs.map((spec) => ({ host: '127.0.0.1', port: 0, proxyProtocol: false, ...spec })));
  return { broker, ports: Object.fromEntries(bound.map((b) => [b.name, b.port])), stop: () => broker.stop() };
}
