/** Broker-wide counters, read by $SYS and (later) Prometheus. */
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
}
