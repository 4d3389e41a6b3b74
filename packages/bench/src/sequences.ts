// Worker roles that run one timed sequence instead of a flood: retained lookup (wildcard
// subscribe over N retained topics) and session resume (reconnect and drain N messages
// queued while offline). Each publishes its N messages at QoS 1 within a window first, so
// the broker has stored them all before the clock starts.
import { BenchConnection } from './client.ts';
import type { FromWorker, SequenceTask, ToWorker, WorkerStats } from './messages.ts';
import { publishTemplate, type PublishTemplate } from './packets.ts';
import { clockMs, emptyPayload } from './payload.ts';
import { Publisher } from './publisher.ts';
import { Subscriber } from './subscriber.ts';
import { StatsRecorder } from './worker-stats.ts';
import type { Role } from './role.ts';

/** Publishes `templates` once each at QoS 1, at most `window` unacknowledged; resolves when all are acked. */
async function publishAcked(task: SequenceTask, clientId: string, templates: readonly PublishTemplate[], stats: StatsRecorder): Promise<void> {
  const { conn } = await BenchConnection.open(task.pubAddress, clientId);
  conn.onClose = (error) => error && stats.error(error);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`publishing ${templates.length} messages took over ${task.timeoutMs} ms`)), task.timeoutMs);
    let scheduled = false;
    const pump = () => {
      scheduled = false;
      while (publisher.writable && publisher.published < templates.length) {
        const allowance = Math.min(task.window - publisher.outstanding, templates.length - publisher.published);
        if (allowance <= 0 || publisher.publish(allowance, task.worker) === 0) break;
      }
      if (publisher.published === templates.length && publisher.outstanding === 0) {
        clearTimeout(timer);
        resolve();
      }
    };
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(pump);
    };
    const publisher = new Publisher(conn, templates, 1, schedule, (error) => stats.error(error));
    schedule();
  });
  stats.published += templates.length;
  await conn.close();
}

/**
 * Opens a subscriber connection that resolves `drained` once `count` messages arrived (or
 * the timeout passed: then with what arrived).
 */
function countingSubscriber(conn: BenchConnection, count: number, timeoutMs: number, stats: StatsRecorder): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    new Subscriber(conn, {
      delivered(_source, _sentMs, nowMs) {
        stats.delivered++;
        stats.lastRecvMs = nowMs;
        if (stats.delivered >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
      probeSeen() {},
      error: (error) => stats.error(error),
      readDone() {},
    });
  });
}

abstract class SequenceRole implements Role {
  protected readonly task: SequenceTask;
  protected readonly stats = new StatsRecorder();
  private readonly send: (message: FromWorker) => void;

  constructor(task: SequenceTask, send: (message: FromWorker) => void) {
    this.task = task;
    this.send = send;
  }

  async setup(): Promise<void> {}

  handle(message: ToWorker): void {
    if (message.type !== 'start') return;
    this.run().then(
      () => this.send({ type: 'done', stats: this.snapshot() }),
      (error: unknown) => {
        this.stats.error(error);
        this.send({ type: 'done', stats: this.snapshot() });
      },
    );
  }

  snapshot(): WorkerStats {
    return this.stats.snapshot();
  }

  async finish(): Promise<void> {}

  protected abstract run(): Promise<void>;

  protected clientId(name: string): string {
    return `bench-${this.task.runId}-w${this.task.worker}-${name}`;
  }

  protected topic(name: string): string {
    return `roost-bench/${this.task.runId}/${name}`;
  }
}

export class RetainedRole extends SequenceRole {
  protected async run(): Promise<void> {
    const { task, stats } = this;
    const payload = emptyPayload(task.payloadBytes);
    const topics = Array.from({ length: task.count }, (_, i) => this.topic(`r/${i}`));
    await publishAcked(task, this.clientId('retain'), topics.map((topic) => publishTemplate(topic, payload, 1, true)), stats);

    const { conn } = await BenchConnection.open(task.subAddress, this.clientId('lookup'));
    conn.onClose = (error) => error && stats.error(error);
    const drained = countingSubscriber(conn, task.count, task.timeoutMs, stats);
    const started = clockMs();
    stats.firstSendMs = started;
    // QoS 0: the lookup measures the broker's match and write path, not an in-flight window.
    await conn.subscribe(1, this.topic('r/#'), 0, task.timeoutMs);
    await drained;
    stats.extra.lookup_ms = stats.lastRecvMs > 0 ? stats.lastRecvMs - started : Number.NaN;
    await conn.close();

    // Clear what this run retained, so runs do not pile up in the broker: an empty retained
    // payload deletes [MQTT-3.3.1-10].
    const clears = topics.map((topic) => publishTemplate(topic, Buffer.alloc(0), 1, true));
    const published = stats.published;
    await publishAcked(task, this.clientId('clear'), clears, stats);
    stats.published = published;
  }
}

export class SessionRole extends SequenceRole {
  protected async run(): Promise<void> {
    const { task, stats } = this;
    const clientId = this.clientId('session');
    const topic = this.topic('s');
    const first = await BenchConnection.open(task.subAddress, clientId, { clean: false });
    await first.conn.subscribe(1, topic, 1, task.timeoutMs);
    await first.conn.close();

    const template = publishTemplate(topic, emptyPayload(task.payloadBytes), 1);
    await publishAcked(task, this.clientId('queue'), Array.from({ length: task.count }, () => template), stats);

    const started = clockMs();
    stats.firstSendMs = started;
    const { conn, sessionPresent } = await BenchConnection.open(task.subAddress, clientId, { clean: false, timeoutMs: task.timeoutMs });
    if (!sessionPresent) stats.error(new Error('reconnect found no session (session present 0)'));
    conn.onClose = (error) => error && stats.error(error);
    await countingSubscriber(conn, task.count, task.timeoutMs, stats);
    stats.extra.drain_ms = stats.lastRecvMs > 0 ? stats.lastRecvMs - started : Number.NaN;
    await conn.close();
    // A clean connect discards the session and anything still queued for it.
    const cleanup = await BenchConnection.open(task.subAddress, clientId, { clean: true });
    await cleanup.conn.close();
  }
}
