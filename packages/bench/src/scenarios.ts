// Each scenario as a plan for the coordinator (which worker holds which connections) and the
// shape of its result line.
import { parseBrokerUrl } from './client.ts';
import { runWorkers, type Progress, type RunOutcome } from './coordinator.ts';
import { mergedPercentiles } from './latency.ts';
import { heapSplit, residentBytes, rssCheck, type HeapSplit, type RssCheck } from './memory.ts';
import type { FloodTask, IdleTask, SequenceTask, WorkerStats } from './messages.ts';
import type { BenchOptions } from './options.ts';
import type { QoS } from './packets.ts';
import type { ScenarioName } from './scenario-names.ts';
import { runSubscribeLatency } from './subscribe-latency.ts';

export type BenchResult = Record<string, unknown> & { scenario: ScenarioName; broker: string; errors: number };

export interface RunHooks {
  onProgress?: (scenario: ScenarioName, progress: Progress) => void;
}

const DEFAULT_WINDOW = 1000;
const DEFAULT_CONNECT_CONCURRENCY = 100;
const DEFAULT_SEQUENCE_COUNT = 1000;
const IDLE_SETTLE_MS = 1_000;
/** Idle clients as devices connect: keep alive 60 s (the scenario ends before 1.5x of it passes). */
const IDLE_KEEP_ALIVE_S = 60;

interface FloodShape {
  publishers: number;
  subscribers: number;
  qos: QoS;
  topics: FloodTask['topics'];
  workers: number;
  rate: number;
}

const FLOOD_DEFAULTS: Partial<Record<ScenarioName, FloodShape>> = {
  'fan-in': { publishers: 10, subscribers: 1, qos: 0, topics: 'per-publisher', workers: 2, rate: 0 },
  'fan-out': { publishers: 1, subscribers: 100, qos: 0, topics: 'shared', workers: 2, rate: 0 },
  qos1: { publishers: 1, subscribers: 1, qos: 1, topics: 'shared', workers: 2, rate: 0 },
  qos2: { publishers: 1, subscribers: 1, qos: 2, topics: 'shared', workers: 2, rate: 0 },
  latency: { publishers: 1, subscribers: 1, qos: 0, topics: 'shared', workers: 1, rate: 1000 },
  'cross-node': { publishers: 10, subscribers: 1, qos: 0, topics: 'per-publisher', workers: 2, rate: 0 },
};

export async function runScenario(name: ScenarioName, options: BenchOptions, hooks: RunHooks = {}): Promise<BenchResult> {
  const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const onProgress = hooks.onProgress && ((progress: Progress) => hooks.onProgress!(name, progress));
  const shape = FLOOD_DEFAULTS[name];
  if (shape) return runFlood(name, runId, options, shape, onProgress);
  if (name === 'idle') return runIdle(runId, options, onProgress);
  if (name === 'retained' || name === 'session') return runSequence(name, runId, options);
  if (name === 'subscribe') return { ...(await runSubscribeLatency(runId, options)) };
  throw new Error(`scenario ${name} has no plan`);
}

function spread(total: number, workers: number, worker: number): number[] {
  return Array.from({ length: total }, (_, i) => i).filter((i) => i % workers === worker);
}

async function runFlood(name: ScenarioName, runId: string, o: BenchOptions, shape: FloodShape, onProgress?: (p: Progress) => void): Promise<BenchResult> {
  const publishers = o.publishers ?? shape.publishers;
  const subscribers = o.subscribers ?? shape.subscribers;
  const qos = name === 'qos1' ? 1 : name === 'qos2' ? 2 : (o.qos ?? shape.qos);
  // Latency keeps publisher and subscriber in one process: one clock, no IPC in the path.
  const workers = name === 'latency' ? 1 : Math.min(o.workers ?? shape.workers, Math.max(publishers, subscribers));
  const rate = o.rate ?? shape.rate;
  const window = o.window ?? DEFAULT_WINDOW;
  const tasks: FloodTask[] = Array.from({ length: workers }, (_, worker) => {
    const held = spread(publishers, workers, worker);
    return {
      kind: 'flood',
      runId,
      worker,
      pubAddress: parseBrokerUrl(o.pubUrl, o.transport),
      subAddress: parseBrokerUrl(o.subUrl, o.transport),
      publishers: held,
      subscribers: spread(subscribers, workers, worker),
      topics: shape.topics,
      qos,
      payloadBytes: o.payload,
      window,
      ratePerSecond: (rate * held.length) / publishers,
      countPerPublisher: o.count ?? 0,
      durationMs: o.durationS * 1000,
      deliveriesPerMessage: subscribers,
    };
  });
  const outcome = await runWorkers({
    tasks,
    probe: true,
    totalSubscribers: subscribers,
    deliveriesPerMessage: subscribers,
    timeoutMs: o.timeoutS * 1000,
    onProgress,
  });
  const published = sum(outcome.stats, (s) => s.published);
  const delivered = sum(outcome.stats, (s) => s.delivered);
  const seconds = elapsedSeconds(outcome);
  return {
    scenario: name,
    broker: o.label,
    messages: delivered,
    rate: seconds > 0 ? Math.round(delivered / seconds) : 0,
    ...latencyFields(outcome.stats),
    errors: sum(outcome.stats, (s) => s.errors),
    published,
    expected: published * subscribers,
    lost: Math.max(0, published * subscribers - delivered),
    // Delivered over expected, so a loss shows however small (1.000 means none).
    delivery_ratio: published > 0 ? Math.floor((delivered / (published * subscribers)) * 10_000) / 10_000 : null,
    seconds: round3(seconds),
    publishers,
    subscribers,
    qos,
    payload: o.payload,
    window,
    workers,
    ...(rate > 0 ? { target_rate: rate } : {}),
    ...errorSamples(outcome.stats),
  };
}

async function runIdle(runId: string, o: BenchOptions, onProgress?: (p: Progress) => void): Promise<BenchResult> {
  const connections = o.count ?? 1000;
  const workers = Math.min(o.workers ?? 1, connections);
  const concurrency = o.window ?? DEFAULT_CONNECT_CONCURRENCY;
  const memory = { pid: o.pid, http: o.http };
  const before = await residentBytes(memory);
  const checkBefore = await rssCheck(memory);
  const splitBefore = await heapSplit(memory);
  let after: number | undefined;
  let checkAfter: RssCheck = {};
  let splitAfter: HeapSplit = {};
  const tasks: IdleTask[] = Array.from({ length: workers }, (_, worker) => ({
    kind: 'idle',
    runId,
    worker,
    address: parseBrokerUrl(o.url, o.transport),
    connections: spread(connections, workers, worker).length,
    concurrency: Math.max(1, Math.floor(concurrency / workers)),
    sourceAddresses: o.sources,
    keepAliveS: IDLE_KEEP_ALIVE_S,
  }));
  const outcome = await runWorkers({
    tasks,
    probe: false,
    totalSubscribers: 0,
    deliveriesPerMessage: 0,
    timeoutMs: o.timeoutS * 1000,
    onProgress,
    beforeFinish: async () => {
      // Let the broker finish its per-connection setup (and a GC) before reading its memory.
      await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
      after = await residentBytes(memory);
      checkAfter = await rssCheck(memory);
      splitAfter = await heapSplit(memory);
    },
  });
  const connected = sum(outcome.stats, (s) => s.extra.connected ?? 0);
  const connectMs = Math.max(...outcome.stats.map((s) => s.extra.connect_ms ?? 0));
  const growth = (from: number | undefined, to: number | undefined) => (from !== undefined && to !== undefined && connected > 0 ? Math.round((to - from) / connected) : null);
  const perConnection = growth(before, after);
  return {
    scenario: 'idle',
    broker: o.label,
    messages: connected,
    rate: connectMs > 0 ? Math.round((connected * 1000) / connectMs) : 0,
    ...latencyFields(outcome.stats),
    errors: sum(outcome.stats, (s) => s.errors),
    connections,
    connected,
    connect_ms: round3(connectMs),
    rss_before_bytes: before ?? null,
    rss_after_bytes: after ?? null,
    bytes_per_connection: perConnection,
    // The same growth by the other two readings: a figure they do not confirm is not one.
    bytes_per_connection_ps: growth(checkBefore.ps_bytes, checkAfter.ps_bytes),
    bytes_per_connection_smaps: growth(checkBefore.smaps_bytes, checkAfter.smaps_bytes),
    ...suffixed(splitBefore, '_before'),
    ...suffixed(splitAfter, '_after'),
    concurrency,
    workers,
    keep_alive_s: IDLE_KEEP_ALIVE_S,
    ...errorSamples(outcome.stats),
  };
}

async function runSequence(name: 'retained' | 'session', runId: string, o: BenchOptions): Promise<BenchResult> {
  const count = o.count ?? DEFAULT_SEQUENCE_COUNT;
  const task: SequenceTask = {
    kind: name,
    runId,
    worker: 0,
    pubAddress: parseBrokerUrl(o.pubUrl, o.transport),
    subAddress: parseBrokerUrl(o.subUrl, o.transport),
    count,
    payloadBytes: o.payload,
    window: o.window ?? DEFAULT_WINDOW,
    timeoutMs: o.timeoutS * 1000,
  };
  // Each of the sequence's steps (publish, lookup or drain, clear) has --timeout of its own.
  const outcome = await runWorkers({ tasks: [task], probe: false, totalSubscribers: 0, deliveriesPerMessage: 0, timeoutMs: 3 * o.timeoutS * 1000 + 10_000 });
  const stats = outcome.stats[0]!;
  const key = name === 'retained' ? 'lookup_ms' : 'drain_ms';
  const ms = stats.extra[key];
  const timed = ms !== undefined && Number.isFinite(ms) ? ms : null;
  return {
    scenario: name,
    broker: o.label,
    messages: stats.delivered,
    rate: timed !== null && timed > 0 ? Math.round((stats.delivered * 1000) / timed) : 0,
    errors: stats.errors + (stats.delivered < count ? 1 : 0),
    count,
    [key]: timed === null ? null : round3(timed),
    ...(stats.delivered < count ? { missing: count - stats.delivered } : {}),
    ...errorSamples([stats]),
  };
}

function suffixed(split: HeapSplit, suffix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(split).flatMap(([key, value]) => (value === undefined ? [] : [[key.replace(/_bytes$/, `${suffix}_bytes`), value]])));
}

function latencyFields(stats: readonly WorkerStats[]) {
  const { p50_ms, p99_ms, p999_ms, max_ms } = mergedPercentiles(stats.map((s) => s.latency));
  return { p50_ms, p99_ms, p999_ms, max_ms };
}

function errorSamples(stats: readonly WorkerStats[]): { error_samples?: string[] } {
  const samples = stats.flatMap((s) => s.errorSamples).slice(0, 5);
  return samples.length > 0 ? { error_samples: samples } : {};
}

function elapsedSeconds(outcome: RunOutcome): number {
  const last = Math.max(...outcome.stats.map((s) => s.lastRecvMs));
  return last > outcome.startMs ? (last - outcome.startMs) / 1000 : 0;
}

function sum(stats: readonly WorkerStats[], pick: (s: WorkerStats) => number): number {
  return stats.reduce((total, s) => total + pick(s), 0);
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
