// The parts of prom-client the node uses, each required from its own file. prom-client's index
// also requires its push gateway (node:https, so node:tls, and node:zlib), its cluster
// aggregator and Summary (tdigest, bintrees): 2.3-2.5 MiB of RSS on a node at rest (74.2-74.3
// -> 71.6-71.9 MiB, medians of 5-7), for modules no node calls. The types are the index's.
import { createRequire } from 'node:module';
import type * as Prom from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof Prom.Registry;
export const Counter = require('prom-client/lib/counter') as typeof Prom.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge;
export const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram;

export type Registry = Prom.Registry;
export type Histogram = Prom.Histogram;

/*
 * prom-client's default metrics (lib/defaultMetrics.js) but its process CPU counters, whose
 * module requires @opentelemetry/api for exemplars Roost does not use: 0.9 MiB of RSS at rest
 * (69.5-69.6 -> 68.7 MiB, medians of 7). metrics.ts counts the CPU under the same names.
 */
const DEFAULT_METRICS = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
];

type DefaultMetric = (registry: Registry, config: Prom.DefaultMetricsCollectorConfiguration<Prom.RegistryContentType>) => void;

export function collectDefaultMetrics(registry: Registry, prefix: string): void {
  // prom-client's own default precision (ms) for the event loop lag histogram.
  const config = { register: registry, prefix, eventLoopMonitoringPrecision: 10 };
  for (const name of DEFAULT_METRICS) (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(registry, config);
}
