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
}

export const defaultLimits: BrokerLimits = {
  maxQueuedMessages: 1000,
  queueOverflow: 'drop-oldest',
  maxInflight: 32,
  receiveMaximum: 1024,
  maxPacketSize: 1024 * 1024,
  topicAliasMaximum: 64,
  maxSessionExpiry: 0xffffffff,
  connectTimeout: 10,
};

export interface ListenOptions {
  port: number;
  host: string;
}
