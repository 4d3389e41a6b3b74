/** Broker-wide counters, read by $SYS and Prometheus (/metrics). */
export class BrokerStats {
  readonly startedAt = Date.now();
  messagesReceived = 0;
  messagesSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  /** Deliveries the queue overflow policy dropped. */
  messagesDropped = 0;
  /** Connections closed for a protocol violation or malformed packet. */
  protocolErrors = 0;
  connectionsAccepted = 0;
  /** Copies of a QoS 2 message, routed again after a failure, that a session already had. */
  duplicatesSkipped = 0;
  /** Flushes of changed sessions the store refused (in cluster mode: Redis unreachable). */
  sessionWriteFailures = 0;
  /** Shared-subscription messages an offline member handed to another member. */
  sharedHandedBack = 0;
}
