import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBroker, type BoundListener, type Broker, type ClientAdmin, type Logger } from '@roost/broker';
import { createAuth, type NodeAuth } from './auth.ts';
import type { Config } from './config.ts';
import type { ClusterParts } from './cluster.ts';
import { createAdminApi } from './admin-api.ts';
import { createHttpServer } from './http-server.ts';
import { listenerSpecs } from './listeners.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import type { Registry } from './prom-client.ts';

export interface RunningNode {
  mqttPort: number;
  /** Bound port of each listener by name (`mqtt`, `tls`, `ws`, `wss`). */
  ports: Record<string, number>;
  /** 0 when the HTTP server is off. */
  httpPort: number;
  /** Drains (ROOST_DRAIN_*), leaves the cluster and closes everything; once, however often called. */
  stop(): Promise<void>;
  /** During a drain: the rest of the delay is skipped and every client left goes at once. */
  hurry(): void;
}

const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * Starts one node. The HTTP probes come first, so /healthz answers while a cluster node
 * waits for Redis; /readyz turns 200 only once MQTT is served (after joining the cluster).
 * Stops when `signal` aborts; aborting while waiting for Redis rejects with an AbortError.
 */
export async function run(config: Config, options: { signal?: AbortSignal } = {}): Promise<RunningNode> {
  const logger = createLogger(config.logLevel, config.nodeId);
  for (const warning of config.warnings) logger.warn({}, warning);
  const mode = config.redisUrl === undefined ? 'embedded' : 'cluster';
  let ready = false;
  let metrics: Registry | undefined;
  let admin: ClientAdmin | undefined;
  const http =
    config.httpPort > 0
      ? createHttpServer({
          ready: () => ready,
          metrics: () => metrics && metrics.metrics().then((body) => ({ contentType: metrics!.contentType, body })),
        }, config.adminToken === undefined ? undefined : createAdminApi({ token: config.adminToken, admin: () => admin, log: logger }))
      : undefined;
  const httpPort = http ? await listenHttp(http, config) : 0;

  let parts: ClusterParts | undefined;
  let broker: Broker | undefined;
  let bound: BoundListener[] | undefined;
  let auth: NodeAuth | undefined;
  try {
    auth = await createAuth(config, logger);
    // Loaded only in cluster mode: ioredis, gRPC and the proto cost an embedded node ~17 MiB at rest.
    parts = mode === 'cluster' ? (await import('./cluster.ts')).createClusterParts(config, logger) : undefined;
    const created = createBroker(
      { nodeId: config.nodeId, version, logger, limits: config.limits, sysInterval: config.sysInterval, maxConnections: config.maxConnections, auth: auth.options, maxConnectRate: config.maxConnectRate, authBan: config.authBan, connectConcurrency: config.connectConcurrency },
      parts?.stores,
      parts?.cluster,
    );
    broker = created;
    admin = created.admin;
    const redis = parts?.redis;
    metrics = createMetrics({ broker: created, transport: parts?.transport.stats, redisUp: redis && (() => redis.status === 'ready'), redisStats: parts?.redisStats, redisLatency: parts?.redisLatency, nodesAlive: parts?.nodesAlive, ready: () => ready });
    if (parts) {
      parts.onLapse = () => void rejoin(created, logger);
      await parts.waitForRedis(options.signal);
      await created.start();
    }
    await auth.start();
    bound = await created.listen(listenerSpecs(config));
  } catch (error) {
    // Nothing of a failed start may keep the process up: it exits with the cause.
    if (bound === undefined) await broker?.stop().catch(() => undefined);
    await parts?.close();
    auth?.close();
    if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
    throw error;
  }
  const node = broker;
  const ports = Object.fromEntries(bound.map((listener) => [listener.name, listener.port]));
  const mqttPort = ports.mqtt!;
  ready = true;
  logger.info({ mqttPort, ports, httpPort, mode, version }, 'roost listening');

  let stopping: Promise<void> | undefined;
  const hurry = new AbortController();
  const stop = () => {
    stopping ??= (async () => {
      ready = false;
      await drain(node, config.drain, hurry.signal, logger);
      await node.stop();
      await parts?.close();
      auth?.close();
      // The HTTP server goes last: /readyz answers 503 (not a refused connection) to the end.
      if (http) await new Promise<void>((resolve) => http.close(() => resolve()));
      logger.info({}, 'stopped');
    })();
    return stopping;
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  return {
    mqttPort,
    ports,
    httpPort,
    stop,
    hurry: () => {
      if (stopping && !hurry.signal.aborted) logger.info({ clients: node.clientCount }, 'drain hurried: the rest of the delay skipped, every client left disconnected at once');
      hurry.abort();
    },
  };
}

/**
 * The drain before the leave: not ready for `delaySeconds` while still serving (load balancers
 * see /readyz turn 503 and stop sending), then the clients let go at `ratePerSecond`; each
 * one's session is written as it leaves, as on any disconnection. `hurry` cuts both short.
 */
async function drain(broker: Broker, settings: Config['drain'], hurry: AbortSignal, logger: Logger): Promise<void> {
  const { delaySeconds, ratePerSecond, serverReference } = settings;
  logger.info({ delaySeconds, ratePerSecond, clients: broker.clientCount }, 'draining: not ready, still serving');
  if (delaySeconds > 0 && !hurry.aborted) await sleep(delaySeconds * 1000, undefined, { signal: hurry }).catch(() => undefined);
  logger.info({ ratePerSecond, clients: broker.clientCount }, 'draining: no new connections, disconnecting clients');
  await broker.drain({ ratePerSecond, serverReference, hurry });
  logger.info({}, 'drained: every client disconnected');
}

async function rejoin(broker: Broker, logger: Logger): Promise<void> {
  try {
    await broker.rejoin();
    logger.info({}, 'rejoined the cluster');
  } catch (error) {
    logger.error({ err: error }, 'rejoining the cluster failed; retried at the next lapse');
  }
}

async function listenHttp(http: ReturnType<typeof createHttpServer>, config: Config): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.httpPort, config.host, () => resolve());
  });
  return (http.address() as AddressInfo).port;
}
