// The coordinator: forks the worker processes, hands out tasks, warms routes up with probes,
// starts them together, relays window credit between workers, waits for the drain, and
// gathers every worker's final stats. It generates no load itself.
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { BenchError } from './client.ts';
import type { FromWorker, Task, ToWorker, WorkerStats } from './messages.ts';
import { clockMs } from './payload.ts';

const WORKER_MAIN = fileURLToPath(new URL('./worker.ts', import.meta.url));
const PROBE_INTERVAL_MS = 100;
/** The drain ends early when deliveries stop arriving for this long. */
const DRAIN_IDLE_MS = 2_000;
const FINISH_TIMEOUT_MS = 15_000;

export interface Progress {
  /** Seconds since start. */
  elapsedS: number;
  delivered: number;
  errors: number;
  /** Latest stats of each worker (ticks come once a second). */
  workers: WorkerStats[];
}

export interface RunPlan {
  tasks: Task[];
  /** Send probes until every subscriber has seen one (routes ready, also across nodes). */
  probe: boolean;
  totalSubscribers: number;
  /** Deliveries each published message should produce. */
  deliveriesPerMessage: number;
  timeoutMs: number;
  /** Runs after every worker is done, before they close (idle measures memory here). */
  beforeFinish?: () => Promise<void>;
  onProgress?: (progress: Progress) => void;
}

export interface RunOutcome {
  startMs: number;
  stats: WorkerStats[];
}

class WorkerHandle {
  readonly child: ChildProcess;
  ready = false;
  probeSeen = 0;
  done: WorkerStats | undefined;
  result: WorkerStats | undefined;
  latest: WorkerStats | undefined;
  exited = false;
  readonly index: number;

  constructor(index: number) {
    this.index = index;
    // No inherited execArgv (a --test or --inspect of the parent is not for the workers).
    this.child = fork(WORKER_MAIN, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  send(message: ToWorker): void {
    if (this.child.connected) this.child.send(message);
  }
}

export async function runWorkers(plan: RunPlan): Promise<RunOutcome> {
  const events = new EventEmitter();
  let failure: Error | undefined;
  let delivered = 0;
  let lastDeliveryAt = clockMs();
  const workers = plan.tasks.map((_, index) => new WorkerHandle(index));
  const fail = (error: Error) => {
    failure ??= error;
    events.emit('change');
  };
  for (const worker of workers) {
    worker.child.on('message', (message: FromWorker) => {
      onMessage(worker, message);
      events.emit('change');
    });
    worker.child.on('error', (error) => fail(error));
    worker.child.on('exit', (code, signal) => {
      worker.exited = true;
      if (worker.result === undefined) fail(new BenchError(`worker ${worker.index} exited (${signal ?? code}) before reporting`));
      events.emit('change');
    });
  }

  function onMessage(worker: WorkerHandle, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        worker.ready = true;
        return;
      case 'probe-seen':
        worker.probeSeen = message.subscribers;
        return;
      case 'delivered':
        for (const [source, count] of Object.entries(message.bySource)) {
          delivered += count;
          const from = Number(source);
          if (from !== worker.index) workers[from]?.send({ type: 'credit', delivered: count });
        }
        lastDeliveryAt = clockMs();
        return;
      case 'tick':
        worker.latest = message.stats;
        return;
      case 'done':
        worker.done = message.stats;
        worker.latest = message.stats;
        return;
      case 'result':
        worker.result = message.stats;
        return;
      case 'fatal':
        fail(new BenchError(`worker ${worker.index}: ${message.message}`));
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown worker message ${JSON.stringify(never)}`);
      }
    }
  }

  /** Resolves when `condition` holds (checked on every worker message and every 100 ms). */
  function until(condition: () => boolean, timeoutMs: number, what: string, onTimeout: 'throw' | 'resolve' = 'throw'): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (failure) return finish(() => reject(failure));
        if (condition()) return finish(resolve);
      };
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        clearInterval(poll);
        events.off('change', check);
        settle();
      };
      const timer = setTimeout(() => finish(onTimeout === 'throw' ? () => reject(new BenchError(`${what}: not within ${timeoutMs} ms`)) : resolve), timeoutMs);
      const poll = setInterval(check, 100);
      events.on('change', check);
      check();
    });
  }

  let progressTimer: NodeJS.Timeout | undefined;
  try {
    plan.tasks.forEach((task, index) => workers[index]!.send({ type: 'setup', task }));
    await until(() => workers.every((w) => w.ready), plan.timeoutMs, 'workers connecting');

    if (plan.probe) {
      const prober = setInterval(() => workers[0]!.send({ type: 'probe' }), PROBE_INTERVAL_MS);
      workers[0]!.send({ type: 'probe' });
      try {
        await until(() => workers.reduce((sum, w) => sum + w.probeSeen, 0) >= plan.totalSubscribers, plan.timeoutMs, 'probe messages reaching every subscriber');
      } finally {
        clearInterval(prober);
      }
    }

    const startMs = clockMs();
    for (const worker of workers) worker.send({ type: 'start', startMs });
    if (plan.onProgress) {
      const report = plan.onProgress;
      progressTimer = setInterval(() => {
        const latest = workers.flatMap((w) => (w.latest ? [w.latest] : []));
        report({ elapsedS: (clockMs() - startMs) / 1000, delivered, errors: latest.reduce((sum, s) => sum + s.errors, 0), workers: latest });
      }, 1_000);
    }
    const durationMs = Math.max(...plan.tasks.map((task) => (task.kind === 'flood' ? task.durationMs : 0)));
    await until(() => workers.every((w) => w.done), durationMs + plan.timeoutMs, 'publishing');

    const expected = workers.reduce((sum, w) => sum + w.done!.published, 0) * plan.deliveriesPerMessage;
    const drainStart = clockMs();
    await until(
      () => delivered >= expected || clockMs() - Math.max(lastDeliveryAt, drainStart) > DRAIN_IDLE_MS,
      plan.timeoutMs,
      'drain',
      'resolve',
    );
    await plan.beforeFinish?.();

    for (const worker of workers) worker.send({ type: 'finish' });
    await until(() => workers.every((w) => w.result), FINISH_TIMEOUT_MS, 'workers closing');
    return { startMs, stats: workers.map((w) => w.result!) };
  } finally {
    clearInterval(progressTimer);
    for (const worker of workers) if (!worker.exited) worker.child.kill('SIGKILL');
  }
}
