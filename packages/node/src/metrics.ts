// Prometheus metrics for /metrics. Every value is read from the broker's and transport's
// own counters when scraped, so the message path never touches prom-client.
import { Counter, Gauge, Registry, collectDefaultMetrics } from './prom-client.ts';
import { DROP_REASONS, LIMIT_NAMES, type Broker, type Distribution } from '@roost/broker';
import type { TransportStats } from '@roost/cluster-grpc';
import { distributionHistogram } from './distribution-metric.ts';

export interface MetricSources {
  broker: Broker;
  /** Cluster mode only. */
  transport?: TransportStats;
  /** Cluster mode only: whether the Redis connection is up. */
  redisUp?: () => boolean;
  /** Cluster mode only. */
  redisStats?: { connectionLosses: number };
  /** Cluster mode only: seconds per Redis command. */
  redisLatency?: Distribution;
  /** Cluster mode only: nodes alive in the registry, this one included. */
  nodesAlive?: () => Promise<number>;
  ready: () => boolean;
}

/**
 * prom-client's default metrics include three gauges named `_total` (the sums of
 * roost_nodejs_active_{handles,requests,resources} over their `type` label), which
 * `promtool check metrics` rejects: a `_total` suffix promises a counter. The sums are
 * `sum(...)` of the labelled gauges, so nothing is lost.
 */
const GAUGES_NAMED_LIKE_COUNTERS = ['roost_nodejs_active_handles_total', 'roost_nodejs_active_requests_total', 'roost_nodejs_active_resources_total'];

export function createMetrics(sources: MetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics(registry, 'roost_');
  for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(name);
  const { broker } = sources;
  const stats = broker.stats;

  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  // A counter whose total lives elsewhere: set it to that total on each scrape.
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });

  // Counts kept in a map by a low-cardinality label (a reason), set to their totals on each scrape.
  const labelledCounter = (name: string, help: string, label: string, counts: ReadonlyMap<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, count] of counts) this.inc({ [label]: value }, count);
      },
    });

  // The process CPU counters prom-client's default metrics would have (prom-client.ts).
  counter('roost_process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', () => process.cpuUsage().user / 1e6);
  counter('roost_process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', () => process.cpuUsage().system / 1e6);
  counter('roost_process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  });
  gauge('roost_ready', '1 once the node serves MQTT (and has joined the cluster)', () => (sources.ready() ? 1 : 0));
  gauge('roost_clients_connected', 'clients connected to this node', () => broker.clientCount);
  gauge('roost_subscriptions', 'subscriptions of sessions held by this node', () => broker.router.subscriptionCount);
  counter('roost_connections_accepted_total', 'TCP connections accepted, on every listener', () => stats.connectionsAccepted);
  counter('roost_messages_received_total', 'PUBLISH packets received from clients', () => stats.messagesReceived);
  counter('roost_messages_sent_total', 'PUBLISH packets sent to clients', () => stats.messagesSent);
  counter('roost_bytes_received_total', 'MQTT bytes received', () => stats.bytesReceived);
  counter('roost_bytes_sent_total', 'MQTT bytes sent', () => stats.bytesSent);
  new Counter({
    name: 'roost_messages_dropped_total',
    help: 'messages and deliveries that went nowhere, by reason: ' + DROP_REASONS.join(', '),
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      // Every reason from the start (at 0), so rate() sees a drop's first increment.
      this.reset();
      for (const reason of DROP_REASONS) this.inc({ reason }, stats.drops[reason]);
    },
  });
  new Counter({
    name: 'roost_disconnects_total',
    help: 'closes of connections that sent CONNECT, by who closed them (client, server) and reason (the MQTT reason code name; ConnectionLost without one)',
    labelNames: ['by', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, count] of stats.disconnects) {
        const slash = key.indexOf('/');
        this.inc({ by: key.slice(0, slash), reason: key.slice(slash + 1) }, count);
      }
    },
  });
  const { census } = broker;
  new Gauge({
    name: 'roost_sessions',
    help: 'sessions held by this node, by state: connected, offline (persistent, awaiting their client)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { connected, offline } = census.sessions();
      this.set({ state: 'connected' }, connected);
      this.set({ state: 'offline' }, offline);
    },
  });
  new Gauge({
    name: 'roost_retained_messages',
    help: 'retained messages in the store (cluster-wide in cluster mode), $SYS aside; absent while the store does not answer',
    registers: [registry],
    async collect() {
      this.reset();
      const count = await census.retained().catch(() => undefined);
      if (count !== undefined) this.set(count);
    },
  });
  const sample = () => census.sample();
  distributionHistogram(registry, 'roost_session_queued_messages', 'messages queued per session held here, sampled over every session at a scrape, at most once a second', () => census.queued, sample);
  distributionHistogram(registry, 'roost_session_inflight_messages', 'QoS 1/2 messages in flight per session held here, sampled with the queue lengths', () => census.inflight, sample);
  counter('roost_protocol_errors_total', 'connections closed for malformed or protocol-violating input', () => stats.protocolErrors);
  counter('roost_deliveries_without_session_total', 'deliveries routed here for a client whose session is no longer (or not yet) here', () => stats.deliveriesWithoutSession);
  counter('roost_qos2_duplicates_skipped_total', 'copies of a QoS 2 message routed again after a failure that a session already had', () => stats.duplicatesSkipped);
  counter('roost_session_write_failures_total', 'session flushes the store refused (Redis unreachable); their acks were withheld', () => stats.sessionWriteFailures);
  counter('roost_shared_handed_back_total', 'shared-subscription messages an offline member handed to another member', () => stats.sharedHandedBack);
  new Counter({
    name: 'roost_proxy_header_failures_total',
    help: 'connections to a PROXY protocol listener closed before MQTT, by reason (not-proxy, malformed, unsupported, too-long, truncated, timeout)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of stats.proxyHeaderFailures) this.inc({ reason }, count);
    },
  });

  new Gauge({
    name: 'roost_connections',
    help: 'open connections (CONNECTed or not) by listener',
    labelNames: ['listener'],
    registers: [registry],
    collect() {
      for (const [listener, count] of broker.connectionsByListener) this.set({ listener }, count);
    },
  });
  counter('roost_connections_over_limit_total', 'connections refused at CONNECT because the node was at ROOST_MAX_CONNECTIONS', () => stats.connectionsOverLimit);
  counter('roost_connection_setup_timeouts_total', 'sockets closed because their PROXY header, TLS handshake or WebSocket upgrade took longer than the CONNECT timeout', () => stats.setupTimeouts);
  labelledCounter('roost_tls_handshake_failures_total', 'failed TLS handshakes by reason', 'reason', stats.tlsHandshakeFailures);
  new Counter({
    name: 'roost_auth_total',
    help: 'CONNECT decisions by provider (password-file, anonymous, none) and result (accepted, bad-credentials, not-authorized, error)',
    labelNames: ['provider', 'result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, count] of stats.authOutcomes) {
        const slash = key.indexOf('/');
        this.inc({ provider: key.slice(0, slash), result: key.slice(slash + 1) }, count);
      }
    },
  });
  new Counter({
    name: 'roost_limit_hits_total',
    help: 'limits clients reached, by limit: ' + LIMIT_NAMES.join(', '),
    labelNames: ['limit'],
    registers: [registry],
    collect() {
      this.reset();
      for (const limit of LIMIT_NAMES) this.inc({ limit }, stats.limitHits[limit]);
    },
  });
  counter('roost_auth_bans_total', 'addresses banned for repeated authentication failures (ROOST_AUTH_BAN_AFTER)', () => stats.authBans);
  labelledCounter('roost_authz_denials_total', 'what the ACL refused, by access: publish, subscribe (per filter), receive (per delivery), will', 'access', stats.authzDenials);

  const transport = sources.transport;
  if (transport) {
    counter('roost_cluster_forwarded_messages_total', 'messages peers acknowledged', () => transport.forwardedMessages);
    counter('roost_cluster_forward_dropped_total', 'forwards failed here: peer buffer full, retry budget spent, peer dead', () => transport.droppedMessages);
    counter('roost_cluster_forward_rejected_total', 'forwards a peer could not take', () => transport.rejectedMessages);
    counter('roost_cluster_stream_retries_total', 'forward streams reopened after a loss', () => transport.retries);
    distributionHistogram(registry, 'roost_cluster_forward_latency_seconds', 'seconds from writing a batch of forwarded messages to a peer until its ack', () => transport.forwardLatency);
    distributionHistogram(registry, 'roost_cluster_forward_batch_messages', 'messages per batch forwarded to a peer', () => transport.batchSize);
  }
  const nodesAlive = sources.nodesAlive;
  if (nodesAlive) {
    new Gauge({
      name: 'roost_cluster_nodes',
      help: 'nodes alive in the registry as this node reads it, itself included; absent while Redis does not answer',
      registers: [registry],
      async collect() {
        this.reset();
        const count = await nodesAlive().catch(() => undefined);
        if (count !== undefined) this.set(count);
      },
    });
  }
  const redisLatency = sources.redisLatency;
  if (redisLatency) distributionHistogram(registry, 'roost_redis_command_duration_seconds', 'seconds from sending a Redis command until its reply or error', () => redisLatency);
  const redisUp = sources.redisUp;
  if (redisUp) gauge('roost_redis_up', '1 while the Redis connection is ready', () => (redisUp() ? 1 : 0));
  const redisStats = sources.redisStats;
  if (redisStats) counter('roost_redis_connection_losses_total', 'times the Redis connection was lost after being up', () => redisStats.connectionLosses);
  return registry;
}
