// Cluster mode's adapters: one ioredis client for the stores, registry, directory and
// routes, and the gRPC transport. run.ts owns their order of start and stop.
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { BrokerCluster, BrokerStores, Distribution, Logger } from '@roost/broker';
import { GrpcClusterTransport } from '@roost/cluster-grpc';
import {
  RedisNodeRegistry,
  RedisRetainedStore,
  RedisRouteStore,
  RedisSessionDirectory,
  RedisSessionStore,
  RedisSharedOwners,
  RedisWillStore,
} from '@roost/store-redis';
import type { Config } from './config.ts';
import { timeRedisCommands } from './redis-latency.ts';
import { coalesceRedisWrites } from './redis-writes.ts';

export interface ClusterParts {
  redis: Redis;
  stores: BrokerStores;
  cluster: BrokerCluster;
  transport: GrpcClusterTransport;
  /** Resolves once Redis answers, retrying with backoff; rejects only when `signal` aborts. */
  waitForRedis(signal?: AbortSignal): Promise<void>;
  /** Times the Redis connection was lost after it had been up. */
  readonly redisStats: { connectionLosses: number };
  /** Seconds each Redis command took, for /metrics. */
  readonly redisLatency: Distribution;
  /** Nodes alive in the registry now, this one included (one Redis read). */
  nodesAlive(): Promise<number>;
  /** Set once the broker exists: what to do when this node's heartbeat lapsed. */
  onLapse: (() => void) | undefined;
  close(): Promise<void>;
}

/** Longest wait between two attempts to reach Redis at start. */
const MAX_BACKOFF_MS = 5000;

export function createClusterParts(config: Config, log: Logger): ClusterParts {
  const redis = new Redis(config.redisUrl!, {
    // Fail commands quickly while Redis is away instead of queueing them without bound:
    // the broker counts the failure and carries on serving local clients.
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 6), MAX_BACKOFF_MS),
    lazyConnect: true,
  });
  const redisStats = { connectionLosses: 0 };
  watchConnection(redis, log, redisStats);
  const redisLatency = timeRedisCommands(redis);
  coalesceRedisWrites(redis);
  const prefix = config.redisPrefix;
  const onError = (error: Error) => log.warn({ err: error }, 'cluster state in Redis unavailable');
  const heartbeatMs = Math.max(100, Math.floor(config.nodeTimeout / 3));
  const transport = new GrpcClusterTransport({
    nodeId: config.nodeId,
    host: config.host,
    port: config.clusterPort,
    advertise: config.clusterAdvertise ?? advertised(config),
    log,
  });
  const registry = new RedisNodeRegistry(redis, prefix, {
    heartbeatMs,
    ttlMs: config.nodeTimeout,
    onError,
    onLapse: () => {
      log.error({}, 'heartbeat lapsed: peers may have reaped this node; rejoining');
      parts.onLapse?.();
    },
  });
  const parts: ClusterParts = {
    redis,
    redisStats,
    redisLatency,
    nodesAlive: async () => (await registry.alive()).length,
    transport,
    onLapse: undefined,
    stores: { sessions: new RedisSessionStore(redis, prefix), retained: new RedisRetainedStore(redis, prefix) },
    cluster: {
      transport,
      routes: new RedisRouteStore(redis, prefix, { watcherName: `roost-routes-${config.nodeId}`, onError }),
      registry,
      directory: new RedisSessionDirectory(redis, prefix),
      wills: new RedisWillStore(redis, prefix),
      sharedOwners: new RedisSharedOwners(redis, prefix),
      sharedStrategy: config.sharedStrategy,
      sharedGroupStrategies: config.sharedGroupStrategies,
      // A peer that has not applied a new route by then is about to be declared dead.
      routeSyncTimeoutMs: config.nodeTimeout,
    },
    async waitForRedis(signal) {
      for (let attempt = 0; ; attempt++) {
        try {
          if (redis.status === 'wait') await redis.connect();
          await redis.ping();
          if (attempt > 0) log.info({}, 'redis reachable');
          return;
        } catch (error) {
          const retryMs = Math.min(200 * 2 ** attempt, MAX_BACKOFF_MS);
          log.error({ err: error, redis: redactUrl(config.redisUrl!), retryMs }, 'redis unreachable; not ready, retrying');
          await delay(retryMs, undefined, { signal });
        }
      }
    },
    async close() {
      redis.removeAllListeners('close'); // leaving is not losing the connection
      redis.disconnect();
    },
  };
  return parts;
}

/** Peers reach this node on ROOST_HOST, or on the hostname when it binds every interface. */
function advertised(config: Config): string | undefined {
  if (config.clusterPort === 0) return undefined; // the transport reports the bound port itself
  const host = config.host === '0.0.0.0' || config.host === '::' ? hostname() : config.host;
  return `${host}:${config.clusterPort}`;
}

/** One log line per change of state, not one per reconnection attempt. */
function watchConnection(redis: Redis, log: Logger, stats: { connectionLosses: number }): void {
  let ready = false;
  let lost = false;
  redis.on('error', () => {}); // reported by the state changes below and by failing commands
  redis.on('close', () => {
    if (!ready || lost) return; // before the first connection, waitForRedis reports
    lost = true;
    stats.connectionLosses++;
    log.warn({}, 'redis connection lost; serving local clients, reconnecting');
  });
  redis.on('ready', () => {
    ready = true;
    if (!lost) return;
    lost = false;
    log.info({}, 'redis connection restored');
  });
}

function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
