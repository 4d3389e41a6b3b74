// A load-generating child process (forked by the coordinator): takes one task over IPC,
// runs it through its role, reports ticks and a final result, and exits.
import { FloodRole } from './flood.ts';
import { IdleRole } from './idle.ts';
import type { FromWorker, Task, ToWorker } from './messages.ts';
import type { Role } from './role.ts';
import { RetainedRole, SessionRole } from './sequences.ts';

const TICK_MS = 1_000;

function send(message: FromWorker): void {
  process.send?.(message);
}

/** Sends, then resolves once the message left (so a disconnect right after cannot lose it). */
function sendFlushed(message: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}

function roleFor(task: Task): Role {
  switch (task.kind) {
    case 'flood':
      return new FloodRole(task, send);
    case 'idle':
      return new IdleRole(task, send);
    case 'retained':
      return new RetainedRole(task, send);
    case 'session':
      return new SessionRole(task, send);
    default: {
      const never: never = task;
      throw new Error(`unknown task ${JSON.stringify(never)}`);
    }
  }
}

let role: Role | undefined;
let ticker: NodeJS.Timeout | undefined;

function fatal(error: unknown): void {
  void sendFlushed({ type: 'fatal', message: error instanceof Error ? error.message : String(error) }).then(() => process.disconnect?.());
}

process.on('message', (message: ToWorker) => {
  if (message.type === 'setup') {
    role = roleFor(message.task);
    role.setup().then(() => {
      ticker = setInterval(() => send({ type: 'tick', stats: role!.snapshot() }), TICK_MS);
      send({ type: 'ready' });
    }, fatal);
  } else if (message.type === 'finish') {
    clearInterval(ticker);
    const current = role;
    if (!current) return process.disconnect?.();
    // The snapshot precedes the close, so errors from our own disconnects are not counted.
    const stats = current.snapshot();
    current.finish().then(
      () => sendFlushed({ type: 'result', stats }).then(() => process.disconnect?.()),
      fatal,
    );
  } else {
    role?.handle(message);
  }
});
// The coordinator went away: nothing left to report to.
process.on('disconnect', () => {
  clearInterval(ticker);
  setTimeout(() => process.exit(0), 100).unref();
});
