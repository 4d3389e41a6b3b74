// The worker side of throughput and latency scenarios: this worker's publishers and
// subscribers, and the pump that keeps the publishers at most `window` messages ahead of
// the deliveries (flood) or on a fixed rate.
import { BenchConnection } from './client.ts';
import { recordMs } from './latency.ts';
import type { FloodTask, FromWorker, ToWorker, WorkerStats } from './messages.ts';
import { publishTemplate } from './packets.ts';
import { clockMs, emptyPayload, PROBE_SOURCE } from './payload.ts';
import { Publisher } from './publisher.ts';
import { Subscriber, type DeliverySink } from './subscriber.ts';
import { StatsRecorder } from './worker-stats.ts';
import type { Role } from './role.ts';

const REPORT_INTERVAL_MS = 2;
const RATE_TICK_MS = 1;
/** Pump rounds per event-loop turn before yielding to I/O. */
const ROUNDS_PER_TURN = 8;

export function topicFor(task: Pick<FloodTask, 'runId' | 'topics'>, publisher: number): string {
  return task.topics === 'shared' ? `roost-bench/${task.runId}/all` : `roost-bench/${task.runId}/p${publisher}`;
}

export function filterFor(task: Pick<FloodTask, 'runId' | 'topics'>): string {
  return task.topics === 'shared' ? `roost-bench/${task.runId}/all` : `roost-bench/${task.runId}/#`;
}

export class FloodRole implements Role, DeliverySink {
  private readonly task: FloodTask;
  private readonly send: (message: FromWorker) => void;
  private readonly stats = new StatsRecorder();
  private publishers: Publisher[] = [];
  private subscribers: Subscriber[] = [];
  /** Deliveries of this worker's own messages: seen here, or credited by the coordinator for other workers' subscribers. */
  private ownDelivered = 0;
  private readonly pendingReports = new Map<number, number>();
  private reportTimer: NodeJS.Timeout | undefined;
  private probesSeen = 0;
  private startMs = 0;
  private deadline = 0;
  private publishing = false;
  private doneSent = false;
  private pumpScheduled = false;
  private rateTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private next = 0;
  private publishedTotal = 0;

  constructor(task: FloodTask, send: (message: FromWorker) => void) {
    this.task = task;
    this.send = send;
  }

  async setup(): Promise<void> {
    const { task } = this;
    const prefix = `bench-${task.runId}-w${task.worker}`;
    this.subscribers = await Promise.all(
      task.subscribers.map(async (index) => {
        const { conn } = await BenchConnection.open(task.subAddress, `${prefix}-s${index}`);
        this.watch(conn);
        const subscriber = new Subscriber(conn, this);
        await conn.subscribe(1, filterFor(task), task.qos);
        return subscriber;
      }),
    );
    const payload = emptyPayload(task.payloadBytes);
    this.publishers = await Promise.all(
      task.publishers.map(async (index) => {
        const { conn } = await BenchConnection.open(task.pubAddress, `${prefix}-p${index}`);
        this.watch(conn);
        const template = publishTemplate(topicFor(task, index), payload, task.qos);
        return new Publisher(conn, [template], task.qos, () => this.schedulePump(), (error) => this.error(error));
      }),
    );
  }

  handle(message: ToWorker): void {
    switch (message.type) {
      case 'probe':
        this.publishers[0]?.publish(1, PROBE_SOURCE, false);
        return;
      case 'start':
        this.start(message.startMs);
        return;
      case 'credit':
        this.ownDelivered += message.delivered;
        this.schedulePump();
        return;
      default:
        return;
    }
  }

  snapshot(): WorkerStats {
    this.stats.published = this.publishers.reduce((sum, p) => sum + p.published, 0);
    return this.stats.snapshot();
  }

  async finish(): Promise<void> {
    this.publishing = false;
    clearTimeout(this.rateTimer);
    clearTimeout(this.durationTimer);
    this.flushReports();
    await Promise.all([...this.publishers, ...this.subscribers].map((role) => role.conn.close()));
  }

  // DeliverySink
  delivered(source: number, sentMs: number, nowMs: number): void {
    this.stats.delivered++;
    this.stats.lastRecvMs = nowMs;
    recordMs(this.stats.latency, nowMs - sentMs);
    // Own deliveries credit the window at once; every delivery is reported for the totals.
    if (source === this.task.worker) this.ownDelivered++;
    this.pendingReports.set(source, (this.pendingReports.get(source) ?? 0) + 1);
  }

  probeSeen(): void {
    this.probesSeen++;
    this.send({ type: 'probe-seen', subscribers: this.probesSeen });
  }

  error(error: Error): void {
    this.stats.error(error);
  }

  readDone(): void {
    if (this.pendingReports.size > 0 && this.reportTimer === undefined) {
      this.reportTimer = setTimeout(() => this.flushReports(), REPORT_INTERVAL_MS);
    }
    this.schedulePump();
  }

  private watch(conn: BenchConnection): void {
    conn.onClose = (error) => {
      if (error) this.stats.error(error);
    };
  }

  private flushReports(): void {
    clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
    if (this.pendingReports.size === 0) return;
    this.send({ type: 'delivered', bySource: Object.fromEntries(this.pendingReports) });
    this.pendingReports.clear();
  }

  private start(startMs: number): void {
    this.startMs = startMs;
    this.deadline = startMs + this.task.durationMs;
    this.stats.firstSendMs = clockMs();
    this.publishing = this.publishers.length > 0;
    if (!this.publishing) return this.checkDone();
    this.durationTimer = setTimeout(() => this.stopPublishing(), Math.max(0, this.deadline - clockMs()));
    this.schedulePump();
  }

  private stopPublishing(): void {
    this.publishing = false;
    this.checkDone();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    if (!this.publishing) {
      this.checkDone();
      return;
    }
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  private pump(): void {
    this.pumpScheduled = false;
    if (!this.publishing) return this.checkDone();
    const { task } = this;
    let sentAny = false;
    for (let round = 0; round < ROUNDS_PER_TURN; round++) {
      let sentThisRound = false;
      for (let i = 0; i < this.publishers.length; i++) {
        const publisher = this.publishers[(this.next + i) % this.publishers.length]!;
        const allowance = this.allowance(publisher);
        if (allowance <= 0) continue;
        const sent = publisher.publish(allowance, task.worker);
        this.publishedTotal += sent;
        if (sent > 0) sentThisRound = true;
      }
      this.next = (this.next + 1) % this.publishers.length;
      if (!sentThisRound) break;
      sentAny = true;
    }
    if (this.countReached()) return this.stopPublishing();
    if (task.ratePerSecond > 0) {
      if (this.rateTimer === undefined) {
        this.rateTimer = setTimeout(() => {
          this.rateTimer = undefined;
          this.schedulePump();
        }, RATE_TICK_MS);
      }
    } else if (sentAny) {
      this.schedulePump();
    }
    // Otherwise blocked on the window, acks or the socket: acks, credits and drains reschedule.
  }

  /** How many more messages `publisher` may send now. */
  private allowance(publisher: Publisher): number {
    const { task } = this;
    if (!publisher.writable) return 0;
    const published = this.publishedTotal;
    // The window counts deliveries (fan-out: a message is `deliveriesPerMessage` of them), and
    // always lets one message through when nothing is in flight.
    const inFlight = published * task.deliveriesPerMessage - this.ownDelivered;
    let allowance = inFlight <= 0 ? Math.max(1, Math.floor(task.window / task.deliveriesPerMessage)) : Math.floor((task.window - inFlight) / task.deliveriesPerMessage);
    if (task.qos > 0) allowance = Math.min(allowance, task.window - publisher.outstanding);
    if (task.countPerPublisher > 0) allowance = Math.min(allowance, task.countPerPublisher - publisher.published);
    if (task.ratePerSecond > 0) {
      const due = Math.floor(((clockMs() - this.startMs) * task.ratePerSecond) / 1000) - published;
      allowance = Math.min(allowance, due);
    }
    return allowance;
  }

  private countReached(): boolean {
    const cap = this.task.countPerPublisher;
    return cap > 0 && this.publishers.every((p) => p.published >= cap);
  }

  /** Publishing over and every QoS>0 publish completed: tell the coordinator (once). */
  private checkDone(): void {
    if (this.publishing || this.doneSent || this.startMs === 0) return;
    if (this.publishers.some((p) => p.outstanding > 0)) return;
    this.doneSent = true;
    this.flushReports();
    this.send({ type: 'done', stats: this.snapshot() });
  }
}
