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
  /** Connections refused at CONNECT because the node was at its connection limit. */
  connectionsOverLimit = 0;
  /** Sockets closed because their PROXY header, TLS handshake or WebSocket upgrade took longer than the CONNECT timeout. */
  setupTimeouts = 0;
  /** Failed TLS handshakes by reason (a few fixed labels, see listeners/tls.ts). */
  readonly tlsHandshakeFailures = new Map<string, number>();
  /** Connections closed for a missing, malformed or late PROXY header, by reason. */
  readonly proxyHeaderFailures = new Map<string, number>();
  /** Copies of a QoS 2 message, routed again after a failure, that a session already had. */
  duplicatesSkipped = 0;
  /** Deliveries routed here for a client with no session here (handed over or ended meanwhile): another node's route covers it. */
  deliveriesWithoutSession = 0;
  /** Flushes of changed sessions the store refused (in cluster mode: Redis unreachable). */
  sessionWriteFailures = 0;
  /** Shared-subscription messages an offline member handed to another member. */
  sharedHandedBack = 0;

  /** CONNECT decisions by provider and result (`accepted`, `bad-credentials`, `not-authorized`, …), keyed `provider/result`. */
  readonly authOutcomes = new Map<string, number>();
  /** PUBLISHes, SUBSCRIBE filters, deliveries and wills the client's rules refused, by access. */
  readonly authzDenials = new Map<string, number>();

  countAuthOutcome(provider: string, result: string): void {
    const key = `${provider}/${result}`;
    this.authOutcomes.set(key, (this.authOutcomes.get(key) ?? 0) + 1);
  }

  countAuthzDenial(access: string): void {
    this.authzDenials.set(access, (this.authzDenials.get(access) ?? 0) + 1);
  }

  countTlsHandshakeFailure(reason: string): void {
    this.tlsHandshakeFailures.set(reason, (this.tlsHandshakeFailures.get(reason) ?? 0) + 1);
  }

  countProxyHeaderFailure(reason: string): void {
    this.proxyHeaderFailures.set(reason, (this.proxyHeaderFailures.get(reason) ?? 0) + 1);
  }
}
