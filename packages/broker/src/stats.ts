import { ReasonCode, reasonCodeName } from '@roost/protocol';

/**
 * Why a message or a delivery went nowhere, the `reason` label of roost_messages_dropped_total:
 * a fixed set, never a topic or a client.
 */
export type DropReason =
  /** A client's PUBLISH (or a will) that no subscription anywhere matched; a retained one is kept, not dropped. */
  | 'no_subscribers'
  /** The session's queue was at ROOST_MAX_QUEUED_MESSAGES (online or offline), per ROOST_QUEUE_OVERFLOW. */
  | 'queue_full'
  /** QoS 0 to a client that does not read, beyond the socket backlog limit. */
  | 'slow_consumer'
  /** Larger than the subscriber's Maximum Packet Size [MQTT-3.1.2-25]. */
  | 'too_large'
  /** Its Message Expiry Interval passed before it could be sent [MQTT-3.3.2-5]. */
  | 'expired'
  /** Refused by the ACL: the publisher's PUBLISH or will, or a delivery to a subscriber. */
  | 'acl'
  /** A shared group no member of which could take it. */
  | 'no_shared_member';

export const DROP_REASONS: readonly DropReason[] = ['no_subscribers', 'queue_full', 'slow_consumer', 'too_large', 'expired', 'acl', 'no_shared_member'];

/**
 * A limit a client reached, the `limit` label of roost_limit_hits_total: a fixed set, never a
 * client or an address.
 */
export type LimitName =
  /** A keep alive above ROOST_MAX_KEEPALIVE (or 0): lowered on v5, refused on v3. */
  | 'max_keepalive'
  /** A SUBSCRIBE filter beyond ROOST_MAX_SUBSCRIPTIONS. */
  | 'max_subscriptions'
  /** A topic name or filter longer than ROOST_MAX_TOPIC_LENGTH. */
  | 'topic_length'
  /** A topic name or filter deeper than ROOST_MAX_TOPIC_LEVELS. */
  | 'topic_levels'
  /** A PUBLISH held back by ROOST_MAX_PUBLISH_RATE. */
  | 'publish_rate'
  /** A PUBLISH held back by ROOST_MAX_PUBLISH_BYTES_RATE. */
  | 'publish_bytes_rate'
  /** A client disconnected for staying over its rate longer than ROOST_PUBLISH_THROTTLE_SECONDS. */
  | 'publish_rate_disconnect'
  /** A connection refused by ROOST_MAX_CONNECT_RATE. */
  | 'connect_rate'
  /** A CONNECT refused because its address is banned (ROOST_AUTH_BAN_AFTER). */
  | 'auth_banned';

export const LIMIT_NAMES: readonly LimitName[] = [
  'max_keepalive',
  'max_subscriptions',
  'topic_length',
  'topic_levels',
  'publish_rate',
  'publish_bytes_rate',
  'publish_rate_disconnect',
  'connect_rate',
  'auth_banned',
];

/** Who closed an MQTT connection. */
export type ClosedBy = 'client' | 'server';

/** Broker-wide counters, read by $SYS and Prometheus (/metrics). */
export class BrokerStats {
  readonly startedAt = Date.now();
  messagesReceived = 0;
  messagesSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  /** Messages and deliveries dropped, for any reason (the sum of `drops`). */
  messagesDropped = 0;
  /** The same by reason. */
  readonly drops: Record<DropReason, number> = { no_subscribers: 0, queue_full: 0, slow_consumer: 0, too_large: 0, expired: 0, acl: 0, no_shared_member: 0 };
  /**
   * Closes of connections that sent CONNECT, keyed `by/reason`: the reason code's name, or
   * `ConnectionLost` when the socket closed without one. Bounded: a reason code is one byte.
   */
  readonly disconnects = new Map<string, number>();
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
  /** Limits reached, by limit. */
  readonly limitHits = Object.fromEntries(LIMIT_NAMES.map((limit) => [limit, 0])) as Record<LimitName, number>;
  /** Addresses banned for repeated authentication failures. */
  authBans = 0;

  countLimit(limit: LimitName): void {
    this.limitHits[limit]++;
  }

  countDrop(reason: DropReason): void {
    this.messagesDropped++;
    this.drops[reason]++;
  }

  countDisconnect(by: ClosedBy, reasonCode: ReasonCode | undefined): void {
    // 0x00 is named Success first; on a close it means a normal disconnection.
    const reason = reasonCode === undefined ? 'ConnectionLost' : reasonCode === ReasonCode.NormalDisconnection ? 'NormalDisconnection' : reasonCodeName(reasonCode);
    const key = `${by}/${reason}`;
    this.disconnects.set(key, (this.disconnects.get(key) ?? 0) + 1);
  }

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
