// The IPC protocol between the coordinator (cli) and its worker processes.
import type { BrokerAddress } from './client.ts';
import type { LatencySummary } from './latency.ts';
import type { QoS } from './packets.ts';

/** Publishers and subscribers of a throughput or latency scenario, as one worker holds them. */
export interface FloodTask {
  kind: 'flood';
  runId: string;
  /** This worker's index: the source id in every payload it publishes. */
  worker: number;
  pubAddress: BrokerAddress;
  subAddress: BrokerAddress;
  /** Global indexes of the publishers (and subscribers) this worker holds. */
  publishers: number[];
  subscribers: number[];
  /** Each publisher on a topic of its own under a `#` filter (fan-in), or all on one topic. */
  topics: 'per-publisher' | 'shared';
  qos: QoS;
  payloadBytes: number;
  /** Bound on deliveries of this worker's messages not yet made (and on un-acked publishes per publisher). */
  window: number;
  /** Messages per second for this worker; 0 floods (window-bound only). */
  ratePerSecond: number;
  /** Messages per publisher; 0 means until the duration ends. */
  countPerPublisher: number;
  durationMs: number;
  /** How many subscribers receive each message (fan-out: all of them). */
  deliveriesPerMessage: number;
}

export interface IdleTask {
  kind: 'idle';
  runId: string;
  worker: number;
  address: BrokerAddress;
  connections: number;
  /** Connects in flight at once. */
  concurrency: number;
  /** Source addresses, taken in turn (empty: the system's choice). */
  sourceAddresses: string[];
  keepAliveS: number;
}

/** Retained lookup and session resume: one sequence in one worker. */
export interface SequenceTask {
  kind: 'retained' | 'session';
  runId: string;
  worker: number;
  pubAddress: BrokerAddress;
  subAddress: BrokerAddress;
  count: number;
  payloadBytes: number;
  window: number;
  timeoutMs: number;
}

export type Task = FloodTask | IdleTask | SequenceTask;

export type ToWorker =
  | { type: 'setup'; task: Task }
  | { type: 'probe' }
  | { type: 'start'; startMs: number }
  | { type: 'credit'; delivered: number }
  | { type: 'finish' };

export interface WorkerStats {
  published: number;
  /** Deliveries received by this worker's subscribers (probes excluded). */
  delivered: number;
  errors: number;
  errorSamples: string[];
  latency: LatencySummary;
  /** Wall-clock ms (shared epoch) of the first publish and the last delivery; 0 if none. */
  firstSendMs: number;
  lastRecvMs: number;
  /** Scenario-specific figures (connect time, lookup time, ...). */
  extra: Record<string, number>;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'probe-seen'; subscribers: number }
  /** Deliveries received here, by source worker: credit for that worker's window. */
  | { type: 'delivered'; bySource: Record<number, number> }
  | { type: 'tick'; stats: WorkerStats }
  /** This worker's publishing is over (its last QoS>0 publish acked), or its sequence ran. */
  | { type: 'done'; stats: WorkerStats }
  | { type: 'result'; stats: WorkerStats }
  | { type: 'fatal'; message: string };
