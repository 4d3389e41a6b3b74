// The worker side of the idle-connections scenario: opens its share of connections, at most
// `concurrency` connects in flight, timing each from socket open to CONNACK; holds them
// until told to finish.
import { BenchConnection } from './client.ts';
import { recordMs } from './latency.ts';
import type { FromWorker, IdleTask, ToWorker, WorkerStats } from './messages.ts';
import { clockMs } from './payload.ts';
import { StatsRecorder } from './worker-stats.ts';
import type { Role } from './role.ts';

export class IdleRole implements Role {
  private readonly task: IdleTask;
  private readonly send: (message: FromWorker) => void;
  private readonly stats = new StatsRecorder();
  private readonly connections: BenchConnection[] = [];

  constructor(task: IdleTask, send: (message: FromWorker) => void) {
    this.task = task;
    this.send = send;
  }

  async setup(): Promise<void> {}

  handle(message: ToWorker): void {
    if (message.type === 'start') {
      this.connectAll().then(
        () => this.send({ type: 'done', stats: this.snapshot() }),
        (error: unknown) => this.send({ type: 'fatal', message: String(error) }),
      );
    }
  }

  snapshot(): WorkerStats {
    return this.stats.snapshot();
  }

  async finish(): Promise<void> {
    await Promise.all(this.connections.map((conn) => conn.close()));
  }

  private async connectAll(): Promise<void> {
    const { task } = this;
    const started = clockMs();
    this.stats.firstSendMs = started;
    let next = 0;
    const lane = async () => {
      while (next < task.connections) {
        const index = next++;
        const opened = clockMs();
        try {
          const sources = task.sourceAddresses;
          const { conn } = await BenchConnection.open(task.address, `bench-${task.runId}-w${task.worker}-i${index}`, {
            keepAliveS: task.keepAliveS,
            localAddress: sources.length > 0 ? sources[index % sources.length] : undefined,
          });
          conn.onClose = (error) => error && this.stats.error(error);
          this.connections.push(conn);
          recordMs(this.stats.latency, clockMs() - opened);
          this.stats.extra.connected = this.connections.length;
        } catch (error) {
          this.stats.error(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(task.concurrency, task.connections) }, lane));
    this.stats.lastRecvMs = clockMs();
    this.stats.extra.connect_ms = this.stats.lastRecvMs - started;
  }
}
