import type { AuthOptions } from './authenticator.ts';

/** The pino-compatible subset of a logger the broker uses; the node package supplies pino. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: object): Logger;
}

export type QueueOverflowPolicy = 'drop-oldest' | 'drop-newest';

/** What a PUBLISH the ACL refuses gets: `ignore` acknowledges (v5: with 0x87) and drops it; `disconnect` closes. */
export type AclDenyAction = 'ignore' | 'disconnect';

export interface BrokerLimits {
  /** Messages queued per offline or window-blocked session before the overflow policy applies. */
  maxQueuedMessages: number;
  queueOverflow: QueueOverflowPolicy;
  /** Outbound QoS 1/2 window for v3 clients; v5 clients use min(this, their Receive Maximum). */
  maxInflight: number;
  /** Inbound QoS 1/2 window advertised to v5 clients as Receive Maximum. */
  receiveMaximum: number;
  /** Largest packet accepted from a client, in bytes (advertised to v5 clients). */
  maxPacketSize: number;
  /** Topic aliases a v5 client may use towards the broker. */
  topicAliasMaximum: number;
  /** When set, overrides the client's keep alive (v5 Server Keep Alive); 0 disables. */
  serverKeepAlive?: number;
  /** Upper bound on a session expiry interval, seconds. */
  maxSessionExpiry: number;
  /** Seconds a new connection has to send CONNECT. */
  connectTimeout: number;
  /** Largest keep alive a client may use, seconds (0, none, counts as larger); undefined: any. */
  maxKeepAlive?: number;
  /** Subscriptions one session may hold; undefined: no limit. */
  maxSubscriptions?: number;
  /** Longest topic name or filter, UTF-8 bytes; undefined: the protocol's 65535. */
  maxTopicLength?: number;
  /** Most levels in a topic name or filter; undefined: no limit. */
  maxTopicLevels?: number;
  /** PUBLISHes per second per client before its reading is paused; undefined: no limit. */
  maxPublishRate?: number;
  /** PUBLISH bytes per second per client before its reading is paused; undefined: no limit. */
  maxPublishBytesRate?: number;
  /** Seconds of either rate a client may send at once (the token buckets' size); default 1. */
  publishBurstSeconds?: number;
  /** Seconds a client may stay over its rate (paused) before it is disconnected; 0 or undefined: never. */
  publishThrottleSeconds?: number;
  aclDenyAction?: AclDenyAction;
}

/** Repeated authentication failures from one address: slowed down, then refused for a while. */
export interface AuthBanPolicy {
  /** Failures within `seconds` that ban the address. */
  after: number;
  /** The window the failures are counted in, and how long a ban lasts. */
  seconds: number;
}

export interface BrokerOptions {
  nodeId: string;
  version: string;
  logger: Logger;
  limits: BrokerLimits;
  /** Seconds between $SYS publications; 0 turns them off. */
  sysInterval: number;
  /** Open connections this node takes, over every listener; more are refused at CONNECT. Undefined: no limit. */
  maxConnections?: number;
  /** Who may connect and what each client may touch; undefined: anyone, anything (but `$` publishes). */
  auth?: AuthOptions;
  /** New connections per second from one address (IPv6: one /64); more get CONNACK 0x9F. Undefined: no limit. */
  maxConnectRate?: number;
  /** Undefined: failures are only counted. */
  authBan?: AuthBanPolicy;
  /** Cluster mode: CONNECTs resolving their sessions at once; default DEFAULT_CONNECT_CONCURRENCY. */
  connectConcurrency?: number;
}

/**
 * CONNECTs a cluster node resolves at once: Redis answers 32 in a millisecond or two, so more
 * in flight only wait longer each, and what they hold while waiting outlives scavenges (10k
 * idle connects with 500 in flight: 5.1-7.9 KB resident per connection unbounded or at 128,
 * 3.7-4.0 or 5.0-7.4 KB at 64 from run to run, 4.0-5.0 KB at 32; docs/benchmarks.md, Cluster node).
 */
export const DEFAULT_CONNECT_CONCURRENCY = 32;

export const defaultLimits: BrokerLimits = {
  maxQueuedMessages: 1000,
  queueOverflow: 'drop-oldest',
  maxInflight: 32,
  receiveMaximum: 1024,
  maxPacketSize: 1024 * 1024,
  topicAliasMaximum: 64,
  maxSessionExpiry: 0xffffffff,
  connectTimeout: 10,
  // Bounds on what one client can make the node hold or walk, far above what clients use.
  maxSubscriptions: 10_000,
  maxTopicLength: 65_535,
  maxTopicLevels: 128,
  publishBurstSeconds: 1,
  publishThrottleSeconds: 10,
  aclDenyAction: 'ignore',
};

export interface ListenOptions {
  port: number;
  host: string;
}
