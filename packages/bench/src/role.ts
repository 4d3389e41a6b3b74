import type { ToWorker, WorkerStats } from './messages.ts';

/** What a worker does with its task: set up connections, react to messages, report, close. */
export interface Role {
  setup(): Promise<void>;
  handle(message: ToWorker): void;
  snapshot(): WorkerStats;
  finish(): Promise<void>;
}
